//! `paysync show PLANFILE`: a saved plan rendered as `plan` renders it (text, JSON or
//! markdown), for a reviewer or a tool that has the plan artifact but not the inputs.
//! Reads the file only: no state, no portal, no secrets.

use std::path::Path;

use super::steps::{Context, show_plan};
use crate::cli::Format;
use crate::error::{Error, exit};
use crate::plan::saved::SavedPlan;

pub fn run(path: &Path, format: Format, ctx: &Context<'_>) -> Result<i32, Error> {
    let saved = SavedPlan::read(path)?;
    show_plan(&saved.plan, format, ctx.term);
    Ok(exit::SUCCESS)
}

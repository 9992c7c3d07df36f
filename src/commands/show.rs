//! `paysync show PLANFILE`: a saved plan rendered as `plan` renders it (text, JSON or
//! markdown), for a reviewer or a tool that has the plan artifact but not the inputs.
//! Reads the file only: no state, no portal, no secrets.

use std::path::Path;

use super::steps::{Context, show_plan, write_comment_parts};
use crate::cli::Format;
use crate::error::{Error, exit};
use crate::plan::saved::SavedPlan;

pub fn run(
    path: &Path,
    format: Format,
    comment_parts: Option<&Path>,
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    let saved = SavedPlan::read(path)?;
    show_plan(&saved.plan, format, ctx.term);
    if let Some(dir) = comment_parts {
        write_comment_parts(&saved.plan, dir)?;
    }
    Ok(exit::SUCCESS)
}

/// `paysync show --rollup PLANFILE...`: one row per saved plan, then one per environment
/// whose plan failed, then one per environment still being planned.
pub fn rollup(
    paths: &[std::path::PathBuf],
    failed: &[String],
    pending: &[String],
    format: Format,
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    if paths.is_empty() && failed.is_empty() && pending.is_empty() {
        return Err(crate::error::UsageError::EmptyRollup.into());
    }
    use crate::render::rollup::{self, Row};
    let saved = paths
        .iter()
        .map(|p| SavedPlan::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows: Vec<Row<'_>> = saved
        .iter()
        .zip(paths)
        .map(|(s, path)| Row::Planned {
            plan: &s.plan,
            name: path.display().to_string(),
        })
        .collect();
    rows.extend(failed.iter().map(|name| Row::Failed { name: name.clone() }));
    rows.extend(
        pending
            .iter()
            .map(|name| Row::Pending { name: name.clone() }),
    );
    ctx.term.out(&match format {
        Format::Markdown => rollup::markdown(&rows),
        Format::Text => rollup::text(&rows),
        Format::Json => return Err(crate::error::UsageError::RollupAsJson.into()),
    });
    Ok(exit::SUCCESS)
}

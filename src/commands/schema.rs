//! `paysync schema`: the manifest JSON Schema on stdout.

use super::steps::Context;
use crate::error::{Error, exit};
use crate::manifest;

pub fn run(ctx: &Context<'_>) -> Result<i32, Error> {
    let mut schema =
        serde_json::to_string_pretty(&manifest::json_schema()).expect("schema serialises");
    schema.push('\n');
    ctx.term.out(&schema);
    Ok(exit::SUCCESS)
}

//! `paysync validate`: the manifests parsed and checked; with `--live`, also against what
//! the portal declares (reads only).

use std::collections::BTreeSet;
use std::path::Path;

use super::steps::{Context, check_live, load_manifests, runtime};
use crate::cli::ValidateSettings;
use crate::error::{Error, exit};
use crate::wording::plural;

pub fn run(settings: &ValidateSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let desired = load_manifests(&settings.paths)?;
    if settings.live {
        let client = ctx.connect(settings.rate)?;
        runtime()?.block_on(check_live(&client, &desired))?;
    }
    let codes: usize = desired.targets.values().map(|t| t.settings.len()).sum();
    let files: BTreeSet<&Path> = desired
        .targets
        .values()
        .map(|t| t.origin.file.as_path())
        .collect();
    ctx.term.out(&format!(
        "Valid: {} with {} in {}.\n",
        plural(desired.targets.len(), "target"),
        plural(codes, "setting"),
        plural(files.len(), "file"),
    ));
    Ok(exit::SUCCESS)
}

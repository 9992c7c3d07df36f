//! `paysync plan`: the manifests against the state (and, with `--refresh`, the portal),
//! shown; optionally saved for `apply --plan`. Never writes to the portal or the state.

use super::prepare::{Prepared, Purpose, prepare};
use super::steps::{Context, append_job_summary, not_interrupted, show_plan, write_comment_parts};
use crate::cli::PlanSettings;
use crate::error::{Error, exit};
use crate::files::write_atomically_with;
use crate::fingerprint::FingerprintScheme;
use crate::plan::Plan;
use crate::plan::saved::SavedPlanHead;
use crate::render::plan_markdown;

pub fn run(settings: &PlanSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let plan = plan(settings, ctx)?;
    let code = if settings.detailed_exitcode && plan.summary().has_changes() {
        exit::CHANGES_PRESENT
    } else {
        exit::SUCCESS
    };
    // The process ends right after this command: the plan (every change of every target,
    // hundreds of thousands of allocations on a large plan) is left for the OS to reclaim
    // rather than freed one allocation at a time, which was about 5% of a large offline
    // plan's CPU (issue 13). It holds plain data only (no file, lock or connection).
    std::mem::forget(plan);
    Ok(code)
}

/// Plans as `paysync plan` does (shown, saved with `--out`) and returns the plan: the
/// command path for in-process callers.
pub fn plan(settings: &PlanSettings, ctx: &Context<'_>) -> Result<Plan, Error> {
    let inputs = &settings.inputs;
    let Prepared {
        plan,
        state: last,
        had_state,
        fingerprinter,
        unreadable,
        ..
    } = prepare(
        inputs,
        Purpose::Plan {
            resolve_secrets: settings.resolve_secrets,
        },
        ctx,
    )?;
    let not_compared: Vec<String> = unreadable.keys().map(ToString::to_string).collect();
    show_plan(&plan, inputs.format, ctx.term);
    if let Some(dir) = &settings.comment_parts {
        write_comment_parts(&plan, dir)?;
    }
    append_job_summary(&format!("\n{}", plan_markdown::render(&plan)));
    // An empty secret is not hidden behind exit code 0 (or 2): the plan above shows where
    // it is used, and no saved plan is written that apply would refuse.
    not_interrupted()?;
    let empty = plan.empty_secret_refs();
    if !empty.is_empty() {
        let places = plan.secret_places();
        return Err(Error::EmptySecrets {
            references: empty
                .iter()
                .map(|r| match places.get(*r).filter(|p| !p.is_empty()) {
                    Some(at) => format!("{r} ({})", crate::secrets::shown_places(at)),
                    None => r.to_string(),
                })
                .collect(),
        });
    }
    // Targets whose live settings could not be read were not compared: the plan is
    // incomplete, whatever it shows for the others (and it is not saved).
    if !not_compared.is_empty() {
        return Err(Error::NotCompared {
            targets: not_compared,
        });
    }
    if let Some(out) = &settings.out {
        let head = SavedPlanHead {
            lineage: had_state.then(|| last.lineage.clone()),
            serial: if had_state { last.serial } else { 0 },
            portal: last.portal.clone(),
            fingerprints: FingerprintScheme {
                keyed: last.fingerprints.keyed || fingerprinter.is_keyed(),
                ..last.fingerprints.clone()
            },
        };
        // Streamed to the file: neither a copy of the plan nor the whole text is held.
        write_atomically_with(out, |w| head.write(&plan, w)).map_err(|source| Error::Write {
            path: out.clone(),
            error: source,
        })?;
        tracing::info!(path = %out.display(), "saved plan");
    }
    Ok(plan)
}

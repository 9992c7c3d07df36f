//! `paysync plan`: the manifests against the state (and, with `--refresh`, the portal),
//! shown; optionally saved for `apply --plan`. Never writes to the portal or the state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::steps::{
    Context, Prefetch, Scope, about, check_live_reading, check_portal, declared_secrets,
    declared_value, load_manifests, not_interrupted, not_returned, refresh, resolve_recorded,
    runtime, set_aside, show_plan, state_notes,
};
use crate::cli::PlanSettings;
use crate::error::{Error, exit};
use crate::files::write_atomically;
use crate::fingerprint::FingerprintScheme;
use crate::plan::saved::{SAVED_PLAN_FORMAT, SavedPlan};
use crate::plan::{self, DesiredValues, Names, Plan, SecretCheck};
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
    let mut desired = load_manifests(&inputs.paths, inputs.layered, inputs.subset.as_deref())?;
    let store = crate::state::open(&inputs.state);
    let existing = store.load()?;
    let had_state = existing.is_some();
    let mut last = existing.unwrap_or_default();
    let fingerprinter = last.fingerprinter(ctx.fingerprint_key());
    let mut warnings = state_notes(inputs);
    // References: resolved on the portal with --refresh, else as the state recorded them.
    let mut portal = last.portal.clone();
    let mut names = Names::default();
    let connected = if inputs.refresh {
        let client = ctx.connect(inputs.rate)?;
        check_portal(&*store, &last, &client.portal())?;
        portal = Some(client.portal());
        let rt = runtime()?;
        let (read, prefetched) = rt.block_on(check_live_reading(
            &client,
            &mut desired,
            &last,
            &mut warnings,
            Prefetch::Selected(&inputs.targets),
        ))?;
        names = read;
        Some((rt, client, prefetched))
    } else {
        resolve_recorded(&mut desired, &last)?;
        None
    };
    let scope = Scope::new(inputs, &desired, &last)?;
    scope.narrow(&mut desired);
    // Secrets that can be read now are compared by fingerprint; the others are "not
    // checked", and an empty one is shown as such and ends the plan with an error.
    let mut resolved = BTreeMap::new();
    let mut empty = BTreeSet::new();
    for r in declared_secrets(&desired) {
        match r.resolve() {
            Ok(value) => {
                resolved.insert(r.clone(), value);
            }
            Err(e) if e.is_empty_value() => {
                empty.insert(r.clone());
            }
            Err(_) => {}
        }
    }
    // Said when it is why secrets that could be read are not checked: a pull-request plan
    // with no secrets at all has nothing the key would change.
    if !fingerprinter.can_fingerprint() && !resolved.is_empty() {
        let warning = format!(
            "this state's secret fingerprints are keyed with {}, which is not set: secrets \
             are not checked",
            ctx.fingerprint_key_variable()
        );
        tracing::warn!("{warning}");
        warnings.push(warning);
    }
    last.carry_over(&fingerprinter, |target, code, recorded| {
        declared_value(&desired, target, code, recorded, &resolved)
    });
    let values = DesiredValues::new(desired, |r| match resolved.get(r) {
        Some(v) => fingerprinter
            .fingerprint(v)
            .map_or(SecretCheck::Unreadable, SecretCheck::Checked),
        None if empty.contains(r) => SecretCheck::Empty,
        None => SecretCheck::Unreadable,
    });
    let mut values = values;
    let mut recorded = scope.recorded(&last, &values);
    let mut not_compared = Vec::new();
    let live = match connected {
        Some((rt, client, prefetched)) => {
            let (live, unreadable) = refresh(&rt, &client, &values, prefetched, ctx.term)?;
            warnings.extend(not_returned(&values, &live));
            set_aside(&unreadable, &mut values, &mut recorded, &mut warnings);
            not_compared = unreadable.keys().map(ToString::to_string).collect();
            Some(live)
        }
        None => None,
    };
    let mut plan = plan::compute(values, &recorded, live.as_ref(), &fingerprinter);
    names.fill_from(&last.names);
    plan.about = about(portal, inputs.environment.clone());
    plan.names = names;
    plan.warnings = warnings;
    show_plan(&plan, inputs.format, ctx.term);
    append_job_summary(&plan);
    // An empty secret is not hidden behind exit code 0 (or 2): the plan above shows where
    // it is used, and no saved plan is written that apply would refuse.
    not_interrupted()?;
    let empty = plan.empty_secret_refs();
    if !empty.is_empty() {
        let places = super::steps::planned_secret_places(&plan);
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
        let saved = SavedPlan {
            format: SAVED_PLAN_FORMAT.to_owned(),
            paysync_version: env!("CARGO_PKG_VERSION").to_owned(),
            lineage: had_state.then(|| last.lineage.clone()),
            serial: if had_state { last.serial } else { 0 },
            portal: last.portal.clone(),
            fingerprints: FingerprintScheme {
                keyed: last.fingerprints.keyed || fingerprinter.is_keyed(),
                ..last.fingerprints.clone()
            },
            plan: plan.clone(),
        };
        write_atomically(out, saved.to_json().as_bytes()).map_err(|source| Error::Write {
            path: out.clone(),
            error: source,
        })?;
        tracing::info!(path = %out.display(), "saved plan");
    }
    Ok(plan)
}

/// GitHub Actions: the markdown plan also goes to the job summary, whatever `--format`.
/// A summary that cannot be written is worth a warning, not a failed plan.
fn append_job_summary(plan: &Plan) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let markdown = format!("\n{}", plan_markdown::render(plan));
    let markdown = crate::untrusted::scrub(&markdown);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    if let Err(error) = appended {
        tracing::warn!(
            path = %Path::new(&path).display(),
            %error,
            "cannot append the plan to GITHUB_STEP_SUMMARY"
        );
    }
}

//! `paysync drift`: compares live settings with the last-applied state, read-only.
//!
//! Made for schedules (cron, a CI schedule) that alert when someone changed a managed
//! setting in the portal's UI. It compares **live with last-applied only**
//! ([`crate::plan::drift`]):
//!
//! - The targets and codes compared are those recorded in the state file (`--state`).
//!   Manifests are not read and take no part: drift is what changed on the portal since
//!   paysync last wrote it, whatever the manifests now say (a code declared but never
//!   applied is a planned change, not drift; `paysync plan` shows it). So the command
//!   takes no PATH.
//! - It takes no lock and writes nothing (the state file keeps its bytes and mtime); the
//!   only requests are `sale.paysystem.settings.get` reads, batched, and, when the state
//!   records handlers or pay systems, one read of them (their fields changed by hand, or
//!   the object gone, are drift too).
//! - Values are compared with the planner's rule: a secret is compared by its keyed
//!   fingerprint (the state's key) and never shown.
//! - A recorded code the portal does not return (its handler no longer declares it)
//!   cannot be compared: it is listed as not checked, and is not drift.
//!
//! Exit codes: 0 no drift, 7 drift found ([`exit::DRIFT_FOUND`]), 8 some targets not
//! compared (their answers could not be read: [`exit::NOT_COMPARED`]), 1 error (no state
//! file, state of another portal, a target the portal refuses, ...).

use std::collections::BTreeMap;

use super::steps::{Context, runtime};
use crate::cli::{DriftFormat, DriftSettings};
use crate::error::{Error, StateNeededFor, exit};
use crate::live::read_targets;
use crate::plan::drift;
use crate::render;

pub fn run(settings: &DriftSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let store = ctx.open_state(&settings.state)?;
    let Some(state) = store.load()? else {
        return Err(Error::NoStateFile {
            state: store.location().clone(),
            needed_for: StateNeededFor::Drift,
        });
    };
    let client = ctx
        .connect(settings.rate)?
        .with_parallelism(settings.parallelism);
    state.check_portal(store.location(), &client.portal())?;
    // The recorded `env:` secrets the environment has are read only to be scrubbed from
    // whatever the portal sends (a key pasted into another setting, say).
    drop(crate::apply::ResolvedSecrets::available(
        &ctx.secret_resolver(),
        state.env_secrets(),
    ));
    // The handlers and pay systems paysync created or adopted (one more read), first: a
    // recorded pay system gone from the portal is drift, and its settings are not read
    // (the portal would refuse them).
    let live_objects = if state.objects.held().next().is_some() {
        Some(runtime()?.block_on(crate::live::read_objects(&client, false))?)
    } else {
        None
    };
    let objects = live_objects
        .as_ref()
        .map(|live| drift::objects(&state.objects, live));
    let gone: Vec<u64> = objects
        .iter()
        .flat_map(|(_, drifted)| drifted)
        .filter(|d| d.field.is_none() && d.kind == crate::model::objects::ObjectKind::PaySystem)
        .map(|d| d.id)
        .collect();
    let mut targets = drift::targets(&state);
    targets.retain(|t| !gone.contains(&t.pay_system));
    let (live, unreadable) = if targets.is_empty() {
        (BTreeMap::new(), BTreeMap::new())
    } else {
        runtime()?.block_on(read_targets(&client, &targets))?
    };
    // A target whose answer cannot be read is not compared (warned by the read).
    let fingerprinter = state.fingerprinter(ctx.fingerprint_key());
    let mut report = drift::report(
        &state,
        &live,
        unreadable,
        &fingerprinter,
        client.portal(),
        &gone,
    );
    if let Some((checked, drifted)) = objects {
        (report.objects_checked, report.objects) = (checked, drifted);
    }
    // Once per code (a code a handler no longer declares is missing from all its targets).
    let mut missing: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, code) in &report.not_returned {
        *missing.entry(code.as_str()).or_default() += 1;
    }
    for (code, targets) in missing {
        tracing::warn!(
            code,
            targets,
            "the portal did not return this recorded code; its handler may no longer declare it, so it cannot be checked"
        );
    }
    let about = crate::ci::about(Some(report.portal.clone()), settings.environment.clone());
    let text = match settings.format {
        DriftFormat::Text => render::drift::text(
            &report,
            settings.environment.as_deref(),
            ctx.term.color_stdout(),
        ),
        DriftFormat::Json => render::drift::json(&report, about),
        DriftFormat::Markdown => render::drift_markdown::render(&report, &about),
    };
    ctx.term.out(&text);
    // A target not compared is never "no drift" (nor merely "drift"): exit 8.
    if !report.not_compared.is_empty() {
        return Err(Error::NotCompared {
            targets: report
                .not_compared
                .iter()
                .map(|(target, _)| target.to_string())
                .collect(),
        });
    }
    Ok(if report.has_drift() {
        exit::DRIFT_FOUND
    } else {
        exit::SUCCESS
    })
}

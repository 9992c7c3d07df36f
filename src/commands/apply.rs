//! `paysync apply`: the plan computed (or read from `--plan FILE`), shown, approved, sent
//! through `sale.paysystem.settings.update`, and recorded target by target in the state.
//!
//! Every secret is resolved, and the state locked and checked, before the first request.

use std::path::{Path, PathBuf};

use super::prepare::{Connection, Prepared, Purpose, prepare};
use super::steps::{
    Context, Runtime, fingerprinter_for_writing, lock_request, not_interrupted, record_history,
    runtime,
};
use crate::apply::{self, ApplyReport, Applying, ResolvedSecrets};
use crate::cli::{ApplySettings, Format};
use crate::error::{Error, exit};
use crate::live::ReadError;
use crate::live::Unreadable;
use crate::model::Target;
use crate::plan::Plan;
use crate::plan::saved::{SavedPlan, Staleness};
use crate::render::apply_report;
use crate::render::progress::ApplyProgress;
use crate::state::LastApplied;
use crate::verify::{self, Mismatch};

pub fn run(settings: &ApplySettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let Applied {
        plan,
        report,
        unreadable,
        mismatches,
        objects,
    } = apply(settings, ctx)?;
    let json = settings.inputs.format == Format::Json;
    let set_aside: Vec<Target> = unreadable.keys().copied().collect();
    let code = match report {
        Some(report) => {
            if json {
                ctx.term.out(&apply_report::json(
                    &plan,
                    Some(&report),
                    &mismatches,
                    &set_aside,
                    &objects,
                ));
            }
            finish(report, &plan, &mismatches, ctx)?
        }
        None => {
            if json {
                ctx.term.out(&apply_report::json(
                    &plan,
                    None,
                    &mismatches,
                    &set_aside,
                    &objects,
                ));
            }
            exit::SUCCESS
        }
    };
    if !objects.not_kept.is_empty() {
        return Err(Error::ObjectsNotKept {
            fields: objects.not_kept.iter().map(|(_, f)| f.len()).sum(),
        });
    }
    // Targets set aside because their answer could not be read were not written: the
    // apply is not complete.
    if !unreadable.is_empty() {
        return Err(Error::NotWritten {
            targets: unreadable.keys().map(ToString::to_string).collect(),
        });
    }
    Ok(code)
}

/// What an apply did: the plan, and the report (`None` when the plan was empty).
pub struct Applied {
    pub plan: Plan,
    pub report: Option<ApplyReport>,
    /// Targets left out because the portal's answer for them could not be read.
    pub unreadable: Unreadable,
    /// `--verify`: written codes the portal does not hold as sent.
    pub mismatches: Vec<Mismatch>,
    /// What became of the handlers and pay systems.
    pub objects: apply::objects::ObjectsReport,
}

/// Applies as `paysync apply` does and returns the plan and the report, without judging
/// it: the command path for in-process callers.
pub fn apply(settings: &ApplySettings, ctx: &Context<'_>) -> Result<Applied, Error> {
    match &settings.plan {
        Some(path) => apply_saved(settings, path, ctx),
        None => apply_manifests(settings, ctx),
    }
}

/// Shows the plan before it is applied; with `--format json` the plan is part of the one
/// document printed at the end.
fn show_plan(plan: &Plan, format: Format, ctx: &Context<'_>) {
    if format != Format::Json {
        super::steps::show_plan(plan, format, ctx.term);
    }
}

fn apply_manifests(settings: &ApplySettings, ctx: &Context<'_>) -> Result<Applied, Error> {
    let inputs = &settings.inputs;
    if settings.protected {
        return Err(Error::Protected {
            env: inputs.environment.clone().unwrap_or_default(),
        });
    }
    let purpose = Purpose::Apply {
        auto_approve: settings.auto_approve,
        lock_timeout: settings.lock_timeout,
    };
    let Prepared {
        mut plan,
        mut state,
        store,
        lock: _lock,
        connection,
        secrets,
        fingerprinter,
        unreadable,
        ..
    } = prepare(inputs, purpose, ctx)?;
    // Purpose::Apply always connects (before it locks and reads the state).
    let Connection { rt, client } = connection.expect("apply is connected");
    show_plan(&plan, inputs.format, ctx);
    if plan.targets.is_empty() && plan.unresolved.is_empty() && plan.objects.is_empty() {
        return Ok(Applied {
            plan,
            report: None,
            unreadable,
            mismatches: Vec::new(),
            objects: Default::default(),
        });
    }
    if plan.summary().has_changes() && !settings.auto_approve {
        // The question names the portal's host and, under --env, the environment.
        let question = apply_report::question(
            &plan.summary(),
            &client.host(),
            plan.about.environment.as_deref(),
        );
        let approved = ctx.term.confirm(&question).map_err(|source| Error::Read {
            path: PathBuf::from("<stdin>"),
            error: source,
        })?;
        if !approved {
            // A signal at the prompt is a "no" that says so.
            not_interrupted()?;
            return Err(Error::Cancelled);
        }
    }
    let with = Applying {
        store: &*store,
        client: &client,
        parallelism: settings.parallelism,
        secrets: &secrets,
        fingerprinter: &fingerprinter,
    };
    let (report, mismatches, objects) =
        run_plan(&rt, &mut plan, None, &mut state, with, settings.verify, ctx)?;
    Ok(Applied {
        plan,
        report: Some(report),
        unreadable,
        mismatches,
        objects,
    })
}

/// What an apply of `plan` did.
type Ran = (ApplyReport, Vec<Mismatch>, apply::objects::ObjectsReport);

/// Applies `plan` (from the manifests, or saved as `plan_id`): the handlers and pay
/// systems, then the settings (verified with `verify`), then the explicit deletes.
fn run_plan(
    rt: &Runtime,
    plan: &mut Plan,
    plan_id: Option<&str>,
    state: &mut LastApplied,
    with: Applying<'_>,
    verify: bool,
    ctx: &Context<'_>,
) -> Result<Ran, Error> {
    let (client, store) = (with.client, with.store);
    let before = client.stats().requests;
    let mut objects = write_objects(rt, client, plan, state, store, ctx)?;
    let object_requests = client.stats().requests - before;
    let mut report = execute(rt, plan, plan_id, state, with, ctx)?;
    let mismatches = if verify && report.record_error.is_none() {
        verify_writes(rt, plan, &report, state, &with)?
    } else {
        Vec::new()
    };
    if report.is_complete() {
        let before = client.stats().requests;
        delete_objects(rt, client, plan, state, store, &mut objects, ctx)?;
        report.requests += client.stats().requests - before;
    }
    report.requests += object_requests;
    report.objects_written = objects.written;
    Ok((report, mismatches, objects))
}

/// The explicit deletes, once every setting is written (see [`apply::objects`]).
fn delete_objects(
    rt: &Runtime,
    client: &crate::bitrix::Client,
    plan: &Plan,
    state: &mut LastApplied,
    store: &dyn crate::state::StateBackend,
    objects: &mut apply::objects::ObjectsReport,
    ctx: &Context<'_>,
) -> Result<(), Error> {
    let mut deleted = apply::objects::ObjectsReport::default();
    let result = rt.block_on_uninterrupted(apply::objects::after_settings(
        client,
        plan,
        state,
        store,
        &mut deleted,
    ));
    show_objects(&deleted, ctx);
    stopped_by_signal()?;
    result?;
    objects.done.extend(deleted.done);
    objects.forgotten.extend(deleted.forgotten);
    objects.written += deleted.written;
    Ok(())
}

/// `Err(ApplyInterrupted)` once SIGINT/SIGTERM was received during the handlers and pay
/// systems: what was confirmed is recorded, the rest is not sent.
fn stopped_by_signal() -> Result<(), Error> {
    match crate::interrupt::received() {
        Some(signal) => Err(Error::ApplyInterrupted(signal)),
        None => Ok(()),
    }
}

/// What became of the handlers and pay systems, on stderr as it happens.
fn show_objects(objects: &apply::objects::ObjectsReport, ctx: &Context<'_>) {
    let text = apply_report::objects(objects);
    if !text.is_empty() {
        ctx.term.message("INFO", &text, serde_json::json!({}));
    }
}

/// The handlers and pay systems, before any setting: created, adopted or updated (see
/// [`apply::objects`]); then the targets of the pay systems just created are resolved
/// on the portal (every setting an `add`, as planned).
fn write_objects(
    rt: &Runtime,
    client: &crate::bitrix::Client,
    plan: &mut Plan,
    state: &mut LastApplied,
    store: &dyn crate::state::StateBackend,
    ctx: &Context<'_>,
) -> Result<apply::objects::ObjectsReport, Error> {
    let mut objects = apply::objects::ObjectsReport::default();
    // Not dropped on a signal: it stops sending itself, and what it did is said.
    let result = rt.block_on_uninterrupted(apply::objects::before_settings(
        client,
        plan,
        state,
        store,
        &mut objects,
    ));
    show_objects(&objects, ctx);
    stopped_by_signal()?;
    result?;
    if !plan.unresolved.is_empty() {
        // A signal here comes after the objects were written: the apply stopped.
        let names = rt
            .block_on(crate::live::resolve_planned(client, plan))
            .map_err(|error| match error {
                Error::Interrupted(signal) => Error::ApplyInterrupted(signal),
                other => other,
            })?;
        plan.names.fill_from(&names);
        state.names.fill_from(&names);
    }
    Ok(objects)
}

fn apply_saved(settings: &ApplySettings, path: &Path, ctx: &Context<'_>) -> Result<Applied, Error> {
    let mut saved = SavedPlan::read(path)?;
    // A plan made for another environment is refused before anything is read or sent.
    if saved.plan.about.environment != settings.inputs.environment {
        return Err(Error::OtherEnvironment {
            path: path.to_owned(),
            planned: saved.plan.about.environment.clone(),
            current: settings.inputs.environment.clone(),
        });
    }
    let stale = |reason: Staleness| Error::StalePlan {
        path: path.to_owned(),
        reason,
    };
    let client = ctx
        .connect(settings.inputs.rate)?
        .with_parallelism(settings.inputs.parallelism);
    // A plan made for another portal (its state's, or the one it read with --refresh) is
    // refused before anything is read or sent, whether or not a state says so.
    if let Some(planned) = saved.made_for_another_portal(&client.portal()) {
        return Err(Error::PlanForOtherPortal {
            path: path.to_owned(),
            planned: crate::untrusted::portal_text(planned),
            portal: client.portal(),
            variable: client.address_variable(),
        });
    }
    // The reviewed plan as it was saved names this apply in the lock and the audit trail.
    let plan_id = plan_hash(&saved.plan);
    let store = ctx.open_state(&settings.inputs.state)?;
    let _lock = store.lock(&lock_request(
        "apply",
        Some(&plan_id),
        settings.lock_timeout,
    ))?;
    store.prepare_writes()?;
    let mut state = saved.base_state(store.load()?.as_ref()).map_err(stale)?;
    state.check_portal(store.location(), &client.portal())?;
    if !state
        .fingerprints
        .same_derivation(&saved.file.state.fingerprints)
    {
        return Err(stale(Staleness::Fingerprints));
    }
    // The portal written to, for the report (a plan made offline may not have known it).
    saved.plan.about.portal = Some(client.portal());
    // Targets the plan names by a reference it could not resolve offline are resolved on
    // the portal now; one that is not there stops the run before the first write. (With
    // handlers or pay systems to write, after those: the pay system may be one of them.)
    let writes_objects = saved.plan.objects.iter().any(|o| o.action.writes());
    if !saved.plan.unresolved.is_empty() && !writes_objects {
        let names = runtime()?.block_on(crate::live::resolve_planned(&client, &mut saved.plan))?;
        saved.plan.names.fill_from(&names);
    }

    let refs = saved.plan.secret_refs();
    let resolver = ctx.secret_resolver();
    let secrets = ResolvedSecrets::resolve(&resolver, refs.iter().copied()).map_err(|errors| {
        Error::Secrets(crate::secrets::Unresolved::list(
            errors,
            &saved.plan.secret_places(),
        ))
    })?;
    // The plan's fingerprints were made keyed if its scheme says so: checking them, and
    // recording new ones, then needs the key.
    state.fingerprints.keyed |= saved.file.state.fingerprints.keyed;
    let fingerprinter = fingerprinter_for_writing(&state, !refs.is_empty(), ctx)?;
    fingerprinter.precompute(secrets.values().values());
    let changed =
        crate::plan::saved::changed_secrets(&saved.plan, secrets.values(), &fingerprinter)
            .ok_or_else(|| ctx.fingerprint_key_missing())?;
    if !changed.is_empty() {
        return Err(stale(Staleness::SecretsChanged(changed)));
    }
    show_plan(&saved.plan, settings.inputs.format, ctx);
    if saved.plan.targets.is_empty()
        && saved.plan.unresolved.is_empty()
        && saved.plan.objects.is_empty()
    {
        return Ok(Applied {
            plan: saved.plan,
            report: None,
            unreadable: Unreadable::new(),
            mismatches: Vec::new(),
            objects: Default::default(),
        });
    }
    // Recorded fingerprints of another kind, for the secrets this plan writes.
    let planned = saved.plan.written_secrets();
    let mut names = saved.plan.names.clone();
    names.fill_from(&state.names);
    state.names = names;
    let recorded_env = ResolvedSecrets::available(&resolver, state.env_secrets());
    state.carry_over(&fingerprinter, |target, code, recorded| {
        planned
            .get(&(target, code))
            .filter(|r| r.same_as_written(recorded))
            .and_then(|r| secrets.get(r))
            .or_else(|| recorded_env.get(recorded))
    });
    let rt = runtime()?;
    let with = Applying {
        store: &*store,
        client: &client,
        parallelism: settings.parallelism,
        secrets: &secrets,
        fingerprinter: &fingerprinter,
    };
    let (report, mismatches, objects) = run_plan(
        &rt,
        &mut saved.plan,
        Some(&plan_id),
        &mut state,
        with,
        settings.verify,
        ctx,
    )?;
    Ok(Applied {
        plan: saved.plan,
        report: Some(report),
        unreadable: Unreadable::new(),
        mismatches,
        objects,
    })
}

/// Applies `plan` with progress on stderr.
fn execute(
    rt: &Runtime,
    plan: &Plan,
    plan_id: Option<&str>,
    state: &mut LastApplied,
    with: Applying<'_>,
    ctx: &Context<'_>,
) -> Result<ApplyReport, Error> {
    let mut progress = ApplyProgress::new(ctx.term);
    let serial_before = state.serial;
    let store = with.store;
    let report = rt.block_on_uninterrupted(apply::execute(plan, state, with, &mut progress))?;
    // The audit trail: who wrote which codes of which targets (never a value). A failure
    // to record it is reported, and does not undo the apply.
    if !report.applied.is_empty() {
        record_history(
            store,
            "apply",
            Some(plan_id.map_or_else(|| plan_hash(plan), str::to_owned)),
            (serial_before, state.serial),
            written(plan, &report),
        );
    }
    Ok(report)
}

/// A short hash of the plan (its JSON), naming it in the lock and the audit trail.
pub(crate) fn plan_hash(plan: &Plan) -> String {
    use sha2::Digest;
    // The JSON in parts, as `plan --format json` writes it: never the whole text at once.
    let mut hash = sha2::Sha256::new();
    crate::render::plan_json::render_in_parts(plan, |part| hash.update(part.as_bytes()));
    format!("sha256:{}", &hex::encode(hash.finalize())[..16])
}

/// The targets an apply wrote, each with the codes sent (never a value).
fn written(plan: &Plan, report: &ApplyReport) -> Vec<crate::state::WrittenTarget> {
    let applied: std::collections::BTreeSet<_> = report.applied.iter().collect();
    plan.targets
        .iter()
        .filter(|tp| applied.contains(&tp.target))
        .map(|tp| crate::state::WrittenTarget {
            target: tp.target.to_string(),
            codes: tp.changes.iter().map(|c| c.code.as_str().into()).collect(),
        })
        .collect()
}

/// Shows how the apply went and turns an incomplete one into its error. The report goes
/// to stderr whatever the outcome (`Apply complete` and `Apply incomplete` on one
/// stream, so a reader of one stream sees either), coloured on a colour terminal. stdout
/// holds the plan only; with `json`, the plan and the report as one document, whatever
/// the outcome. `--verify`'s findings (`mismatches`) come first, and make an apply whose
/// every request was confirmed incomplete: one summary, which agrees with the exit code.
fn finish(
    mut report: ApplyReport,
    plan: &Plan,
    mismatches: &[Mismatch],
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    let term = ctx.term;
    // CI: the outcome in the job summary, and the failed targets annotated at their
    // manifests (GitHub Actions).
    super::steps::append_job_summary(&crate::render::apply_summary::markdown(
        plan, &report, mismatches,
    ));
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") && !term.json_messages() {
        term.err(&crate::render::apply_summary::github_annotations(
            plan, &report,
        ));
    }
    let color = term.color_stderr() && !term.json_messages();
    let render = |report: &ApplyReport| {
        let mut text = if mismatches.is_empty() {
            String::new()
        } else {
            apply_report::mismatches(mismatches)
        };
        text.push_str(&apply_report::render(
            report,
            color,
            &plan.about,
            &plan.names,
            mismatches.len(),
        ));
        text
    };
    if report.is_complete() && mismatches.is_empty() {
        term.message("INFO", &render(&report), report_fields(&report));
        Ok(exit::SUCCESS)
    } else if report.is_complete() {
        let mut fields = report_fields(&report);
        fields["not_kept"] = mismatches.len().into();
        term.message("ERROR", &render(&report), fields);
        Err(Error::NotKept {
            codes: mismatches.len(),
        })
    } else if let Some(error) = report.record_error.take() {
        term.message("ERROR", &render(&report), report_fields(&report));
        Err(Error::NotRecorded {
            error,
            not_recorded: report.not_recorded.len(),
        })
    } else if let Some(signal) = report.interrupted {
        term.message("ERROR", &render(&report), report_fields(&report));
        Err(Error::ApplyInterrupted(signal))
    } else if report.applied.is_empty()
        && report.failed.is_empty()
        && report.unknown.is_empty()
        && report.aborted.is_some()
    {
        // Nothing reached the portal: this is the request-level error itself (exit 1),
        // not a partial apply.
        let error = report.aborted.take().expect("checked above");
        term.message("ERROR", &render(&report), report_fields(&report));
        Err(Error::Client(error))
    } else {
        term.message("ERROR", &render(&report), report_fields(&report));
        let not_done = report.failed.len() + report.unknown.len() + report.not_attempted.len();
        Err(Error::PartialApply {
            failed: not_done,
            total: not_done + report.applied.len(),
        })
    }
}

/// The outcome of an apply as fields of its JSON message: the targets, by what became of
/// them.
fn report_fields(report: &ApplyReport) -> serde_json::Value {
    fn names<'a>(targets: impl Iterator<Item = &'a Target>) -> Vec<String> {
        targets.map(ToString::to_string).collect()
    }
    serde_json::json!({
        "applied": names(report.applied.iter()),
        "failed": names(report.failed.iter().map(|f| &f.target)),
        "unknown": names(report.unknown.iter()),
        "not_sent": names(report.not_attempted.iter()),
        "not_recorded": names(report.not_recorded.iter()),
        "requests": report.requests,
    })
}

/// `--verify`: reads back every target the portal confirmed (batched `settings.get`) and
/// compares it with what was sent; the codes it does not hold are taken out of the state
/// (saved), so the next plan shows them again.
fn verify_writes(
    rt: &Runtime,
    plan: &Plan,
    report: &ApplyReport,
    state: &mut LastApplied,
    with: &Applying<'_>,
) -> Result<Vec<Mismatch>, Error> {
    let targets: Vec<Target> = verify::written(plan, &report.applied)
        .into_iter()
        .map(|(target, _)| target)
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    tracing::info!(
        targets = targets.len(),
        "reading back what was written (--verify)"
    );
    let read = rt.block_on(crate::live::read_settings(with.client, &targets))?;
    let read: verify::ReadBack = read
        .into_iter()
        .map(|(target, result)| (target, result.map_err(ReadError::into_reason)))
        .collect();
    let mismatches = verify::compare(plan, &report.applied, &read, state, with.fingerprinter);
    if !mismatches.is_empty() {
        verify::forget_mismatches(state, &mismatches);
        with.store.save(state)?;
    }
    Ok(mismatches)
}

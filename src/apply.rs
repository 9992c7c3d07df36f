//! Executes a [`Plan`] against the portal and records what the portal confirmed.
//!
//! # Expected flow
//! 1. The caller resolved every secret the plan needs ([`ResolvedSecrets::resolve`]) before
//!    anything is sent, and holds the state lock.
//! 2. Targets that need no write (only forgotten or recorded codes, or unchecked secrets
//!    that turn out unchanged) are committed to the state first.
//! 3. Targets with writes become one `sale.paysystem.settings.update` each, carrying only
//!    the codes to write, grouped into `batch` requests of at most 50 commands.
//! 4. After each batch the state is saved with exactly the targets the portal confirmed
//!    (`result: true`).
//! 5. The caller's [`Progress`] is told the batch count first, then each batch's end
//!    (rendering is `render::progress`'s; apply only reports).
//!
//! # Guarantees
//! - The state never records a write the portal did not confirm; a re-run sends only the
//!   rest. `settings.update` is an idempotent upsert, so re-sending a write whose answer was
//!   lost is safe.
//! - A target's failure (its command's error in the batch, or `result: false`) does not
//!   stop the other targets; a failure of a whole request (transport, auth) stops the run
//!   after saving what earlier batches confirmed.
//! - No secret value reaches the state, the report or a log.
//!
//! # Assumptions
//! - Nobody else writes the same state file meanwhile (the caller's lock).
//!
//! # Errors
//! Failing targets are returned in [`ApplyReport::failed`]; a request-level failure in
//! [`ApplyReport::aborted`]; only a failure to save the state is an `Err`.

use std::collections::BTreeMap;

use crate::bitrix::{BatchEntry, Client, ClientError, MAX_BATCH, PortalError, Request};
use crate::model::Target;
use crate::plan::{Action, Plan, TargetPlan, Value};
use crate::secrets::{Fingerprint, FingerprintKey, Redacted, ResolveError, SecretRef};
use crate::state::store::{StateError, StateStore};
use crate::state::{LastApplied, RecordedValue};

/// Every secret a plan needs, resolved.
#[derive(Debug, Default)]
pub struct ResolvedSecrets {
    values: BTreeMap<SecretRef, Redacted<String>>,
}

impl ResolvedSecrets {
    /// Resolves all references; on failure returns every reference that failed.
    pub fn resolve<'a>(
        refs: impl IntoIterator<Item = &'a SecretRef>,
    ) -> Result<ResolvedSecrets, Vec<ResolveError>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for r in refs {
            match r.resolve() {
                Ok(v) => {
                    values.insert(r.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(ResolvedSecrets { values })
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, r: &SecretRef) -> Option<&Redacted<String>> {
        self.values.get(r)
    }

    pub fn fingerprint(&self, r: &SecretRef, key: &FingerprintKey) -> Option<Fingerprint> {
        self.get(r).map(|v| key.fingerprint(v))
    }
}

/// One target the portal did not confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFailure {
    pub target: Target,
    pub manifest: Option<String>,
    pub error: PortalError,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Targets whose settings the portal confirmed.
    pub applied: Vec<Target>,
    /// Settings written.
    pub settings_written: usize,
    /// Targets committed to the state without a write.
    pub state_only: Vec<Target>,
    pub failed: Vec<TargetFailure>,
    /// Targets never sent because the run stopped.
    pub not_attempted: Vec<Target>,
    /// The request-level failure that stopped the run.
    pub aborted: Option<ClientError>,
    /// HTTP requests sent.
    pub requests: usize,
}

impl ApplyReport {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.not_attempted.is_empty() && self.aborted.is_none()
    }
}

/// A target's write: the request and the plan it came from.
struct PendingWrite<'a> {
    plan: &'a TargetPlan,
    settings: BTreeMap<String, (String, Redacted<String>)>,
}

/// The codes of `tp` to send now, with their values.
fn writes_for(
    tp: &TargetPlan,
    recorded: Option<&BTreeMap<String, RecordedValue>>,
    secrets: &ResolvedSecrets,
    key: &FingerprintKey,
) -> BTreeMap<String, (String, Redacted<String>)> {
    let mut out = BTreeMap::new();
    for change in &tp.changes {
        let Some(after) = &change.after else { continue };
        let (source, value) = match after {
            Value::Plain { source, value } => (source, Redacted::new(value.clone())),
            Value::Secret { source, secret, .. } => {
                let value = secrets
                    .get(secret)
                    .expect("every secret was resolved before apply started")
                    .clone();
                (source, value)
            }
            Value::Live { .. } | Value::Hidden { .. } => continue,
        };
        let send = match change.action {
            Action::Add | Action::Update | Action::Drift => true,
            Action::Unchecked => {
                // Reference unchanged, value unknown at plan time: write only if changed.
                let now = key.fingerprint(&value);
                !matches!(
                    recorded.and_then(|r| r.get(&change.code)),
                    Some(RecordedValue::Secret { fingerprint, source: s, .. })
                        if *fingerprint == now && s == source
                )
            }
            Action::Forget | Action::Record => false,
        };
        if send {
            out.insert(change.code.clone(), (source.clone(), value));
        }
    }
    out
}

/// Records a target's planned outcome in the state.
fn commit(state: &mut LastApplied, tp: &TargetPlan, secrets: &ResolvedSecrets) {
    let key = state.fingerprint_key.clone();
    let settings = state.targets.entry(tp.target).or_default();
    for change in &tp.changes {
        match (&change.action, &change.after) {
            (Action::Forget, _) | (_, None) => {
                settings.remove(&change.code);
            }
            (_, Some(after)) => {
                let fingerprint = match after {
                    Value::Secret { secret, .. } => secrets.fingerprint(secret, &key),
                    _ => None,
                };
                if let Some(recorded) = after.to_recorded(fingerprint.as_ref()) {
                    settings.insert(change.code.clone(), recorded);
                }
            }
        }
    }
    if settings.is_empty() {
        state.targets.remove(&tp.target);
    }
}

/// Told how an apply goes, batch by batch (rendered by `render::progress`).
pub trait Progress {
    /// Before the first batch: how many batches and targets will be sent.
    fn started(&mut self, _batches: usize, _targets: usize) {}
    /// After batch `done` of `total` (1-based), which carried `targets` targets, whatever
    /// its outcome.
    fn batch_done(&mut self, done: usize, total: usize, targets: usize);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn batch_done(&mut self, _done: usize, _total: usize, _targets: usize) {}
}

fn batch_key(target: Target) -> String {
    format!("ps{}_pt{}", target.pay_system, target.person_type)
}

/// Applies `plan`, saving `state` through `store` after every confirmed batch, and telling
/// `progress` about each batch sent.
pub async fn execute(
    plan: &Plan,
    state: &mut LastApplied,
    store: &StateStore,
    client: &Client,
    secrets: &ResolvedSecrets,
    progress: &mut dyn Progress,
) -> Result<ApplyReport, StateError> {
    let mut report = ApplyReport::default();
    let key = state.fingerprint_key.clone();
    let mut pending = Vec::new();
    for tp in &plan.targets {
        let settings = writes_for(tp, state.targets.get(&tp.target), secrets, &key);
        if settings.is_empty() {
            commit(state, tp, secrets);
            report.state_only.push(tp.target);
        } else {
            pending.push(PendingWrite { plan: tp, settings });
        }
    }
    // Every save bumps the serial: at most one before the batches and one per batch.
    // A serial that cannot take them all stops the run before anything is sent.
    store.check_serial(state, pending.len().div_ceil(MAX_BATCH) as u64 + 1)?;
    if state.portal.is_none() {
        state.portal = Some(client.portal());
    }
    if !report.state_only.is_empty() || pending.is_empty() {
        store.save(state)?;
    }

    let batches: Vec<&[PendingWrite]> = pending.chunks(MAX_BATCH).collect();
    let total = batches.len();
    progress.started(total, pending.len());
    for (index, batch) in batches.into_iter().enumerate() {
        if report.aborted.is_some() {
            report
                .not_attempted
                .extend(batch.iter().map(|w| w.plan.target));
            continue;
        }
        let commands: Vec<(String, Request)> = batch
            .iter()
            .map(|w| {
                (
                    batch_key(w.plan.target),
                    Request::settings_update(w.plan.target, &w.settings),
                )
            })
            .collect();
        tracing::info!(
            batch = index + 1,
            of = total,
            commands = commands.len(),
            "sending settings.update batch"
        );
        report.requests += 1;
        let outcome = match client.batch(&commands, false).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(batch = index + 1, error = %e, "batch request failed");
                report
                    .not_attempted
                    .extend(batch.iter().map(|w| w.plan.target));
                report.aborted = Some(e);
                progress.batch_done(index + 1, total, batch.len());
                continue;
            }
        };
        let mut confirmed = 0;
        for (write, (key, _)) in batch.iter().zip(&commands) {
            let target = write.plan.target;
            let failure = match outcome.entries.get(key) {
                Some(BatchEntry::Ok(serde_json::Value::Bool(true))) => None,
                Some(BatchEntry::Ok(other)) => Some(PortalError {
                    code: "RESULT_NOT_TRUE".into(),
                    description: format!(
                        "the portal answered {other} instead of true; some settings may have been written, re-run to retry"
                    ),
                    http_status: None,
                }),
                Some(BatchEntry::Failed(e)) => Some(e.clone()),
                Some(BatchEntry::NotRun) | None => Some(PortalError {
                    code: "NOT_RUN".into(),
                    description: "the portal did not run this command".into(),
                    http_status: None,
                }),
            };
            match failure {
                None => {
                    commit(state, write.plan, secrets);
                    report.applied.push(target);
                    report.settings_written += write.settings.len();
                    confirmed += 1;
                    tracing::debug!(%target, "confirmed");
                }
                Some(error) => {
                    tracing::warn!(%target, code = %error.code, "target failed");
                    report.failed.push(TargetFailure {
                        target,
                        manifest: write.plan.manifest.clone(),
                        error,
                    });
                }
            }
        }
        if confirmed > 0 {
            store.save(state)?;
        }
        progress.batch_done(index + 1, total, batch.len());
    }
    Ok(report)
}

//! Executes a [`Plan`] against the portal and records what the portal confirmed.
//!
//! # Expected flow
//! 1. The caller resolved every secret the plan needs ([`ResolvedSecrets::resolve`]) before
//!    anything is sent, holds the state lock, and gives the [`Fingerprinter`] of the
//!    state's scheme, able to make fingerprints (keyed, when the state is keyed).
//! 2. Targets that need no write (only forgotten or recorded codes, or unchecked secrets
//!    that turn out unchanged) are committed to the state first.
//! 3. Targets with writes become one `sale.paysystem.settings.update` each, carrying only
//!    the codes to write, grouped into `batch` requests of at most 50 commands. A write
//!    with a value (or type) containing `$result[` or `$error[` goes as a direct call of
//!    its own instead: inside a batch the portal would substitute it as a reference
//!    (bitrix24-api.md §8) and store something else.
//! 4. Up to [`Sending::parallelism`] requests are in flight at once (1: one after another,
//!    in plan order). Each takes its slot in the client's leaky bucket and time budget
//!    before it leaves, so concurrency never sends faster than the portal allows. After
//!    each request's answer, in whatever order they come, exactly the targets the portal
//!    confirmed (`result: true`) are recorded: one line appended to the state journal and
//!    synced before the next answer is looked at (linear cost; see
//!    [`crate::state::file`]). At the end of the run the state file is written once and
//!    the journal removed.
//! 5. The caller's [`Progress`] is told the request count first, then each request's
//!    outcome as it completes (`done` counts completed requests, so it rises by one
//!    whatever the order; rendering is `render::progress`'s; apply only reports).
//! 6. After SIGINT/SIGTERM ([`crate::interrupt`]) no new request is sent; the answers of
//!    those in flight are awaited for at most [`IN_FLIGHT_GRACE`], their confirmed
//!    targets are saved, and the report says what was applied, what was not sent and
//!    what is unknown.
//!
//! # Guarantees
//! - The state never records a write the portal did not confirm; a re-run sends only the
//!   rest. After a kill, the journal holds every confirmed request whose line was
//!   complete: readers replay it and the next lock holder folds it into the state file
//!   ([`crate::state::file`]). A line torn by the kill is ignored, and its targets are
//!   sent again, as when a kill lands between the portal's answer and the record. `settings.update` is an idempotent upsert, so re-sending a write whose answer was
//!   lost is safe.
//! - A target's failure (its command's error in the batch, or `result: false`) does not
//!   stop the other targets; a failure of a whole request (transport, auth) stops the run:
//!   no new request is sent, those already in flight are awaited and recorded, and what
//!   earlier requests confirmed stays saved.
//! - The report lists targets in plan order whatever order the answers came in, and tells
//!   each target's fate as it is known: confirmed, failed (with the
//!   portal's reason), unknown (the request was sent but its answer was lost or cut
//!   short), or not sent. `requests` counts every HTTP request, retries included.
//! - No secret value reaches the state, the report or a log.
//!
//! # Assumptions
//! - Nobody else writes the same state file meanwhile (the caller's lock).
//!
//! # Errors
//! Failing targets are returned in [`ApplyReport::failed`]; a request-level failure in
//! [`ApplyReport::aborted`]; only a failure to save the state is an `Err`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::bitrix::request::target_key;
use crate::bitrix::{
    BatchEntry, BatchOutcome, Client, ClientError, MAX_BATCH, PortalError, Refusal, Request,
    looks_like_batch_reference,
};
use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::interrupt::{self, IN_FLIGHT_GRACE, Signal};
use crate::model::Target;
use crate::plan::{Action, Plan, TargetPlan, Value};
use crate::secrets::{Redacted, ResolveError, SecretRef};
use crate::state::{LastApplied, RecordedValue, TargetRecord};
use crate::state::{StateBackend, StateError};

/// Every secret a plan needs, resolved.
#[derive(Debug, Default)]
pub struct ResolvedSecrets {
    values: BTreeMap<SecretRef, Redacted<String>>,
}

impl ResolvedSecrets {
    /// Secrets read elsewhere (a plan's, which reads what it can).
    pub fn from_values(values: BTreeMap<SecretRef, Redacted<String>>) -> ResolvedSecrets {
        ResolvedSecrets { values }
    }

    /// The values of those of `refs` that can be read now; the others are left out.
    pub fn available<'a>(refs: impl IntoIterator<Item = &'a SecretRef>) -> ResolvedSecrets {
        ResolvedSecrets {
            values: refs
                .into_iter()
                .filter_map(|r| Some((r.clone(), r.resolve().ok()?)))
                .collect(),
        }
    }

    /// Resolves all references; on failure returns every reference that failed, with
    /// its error.
    pub fn resolve<'a>(
        refs: impl IntoIterator<Item = &'a SecretRef>,
    ) -> Result<ResolvedSecrets, Vec<(SecretRef, ResolveError)>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for r in refs {
            match r.resolve() {
                Ok(v) => {
                    values.insert(r.clone(), v);
                }
                Err(e) => errors.push((r.clone(), e)),
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

    /// Every resolved value, by reference.
    pub fn values(&self) -> &BTreeMap<SecretRef, Redacted<String>> {
        &self.values
    }

    /// The fingerprint to record for `r`'s value (none if `r` was not resolved, or the
    /// fingerprinter cannot make one: a keyed state without the key).
    pub fn fingerprint(&self, r: &SecretRef, fp: &Fingerprinter) -> Option<Fingerprint> {
        self.get(r).and_then(|v| fp.fingerprint(v))
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
    /// Targets sent whose answer never came (lost, cut off, unreadable, or not awaited
    /// after a signal): the portal may or may not have applied them. Not recorded; a
    /// re-run sends them again.
    pub unknown: Vec<Target>,
    /// Targets never sent because the run stopped.
    pub not_attempted: Vec<Target>,
    /// The request-level failure that stopped the run.
    pub aborted: Option<ClientError>,
    /// The signal that stopped the run, if one was received.
    pub interrupted: Option<Signal>,
    /// HTTP requests sent to the portal, every attempt and retry included.
    pub requests: u64,
    /// Targets the portal confirmed whose record could not be written (the journal
    /// could not take the line: a full disk, a file-size limit). Not in `applied`; the
    /// next plan shows them again, and a re-run sends them again (an idempotent upsert).
    pub not_recorded: Vec<Target>,
    /// Why the state could not be written; it stopped the run (no request was sent
    /// after it).
    pub record_error: Option<StateError>,
}

impl ApplyReport {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.unknown.is_empty()
            && self.not_attempted.is_empty()
            && self.not_recorded.is_empty()
            && self.aborted.is_none()
            && self.interrupted.is_none()
            && self.record_error.is_none()
    }
}

/// What became of one batch, for [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchSummary {
    /// Targets the batch carried.
    pub targets: usize,
    pub confirmed: usize,
    pub failed: usize,
    /// Sent, but no answer: outcome unknown.
    pub unknown: usize,
    /// Not sent (refused before the portal processed it, or the run stopped).
    pub not_sent: usize,
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
    fp: &Fingerprinter,
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
                // Reference unchanged, value unknown at plan time: write only if changed
                // (or if the recorded fingerprint cannot tell).
                !matches!(
                    recorded.and_then(|r| r.get(&change.code)),
                    Some(RecordedValue::Secret { fingerprint: Some(recorded), source: s, .. })
                        if s == source && fp.matches(recorded, &value) == Some(true)
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
fn commit(state: &mut LastApplied, tp: &TargetPlan, secrets: &ResolvedSecrets, fp: &Fingerprinter) {
    if tp.manifest.is_some() {
        state.records.insert(
            tp.target,
            TargetRecord {
                reference: tp.reference.clone(),
                manifest: tp.file().map(|f| f.display().to_string()),
            },
        );
    }
    let settings = state.targets.entry(tp.target).or_default();
    for change in &tp.changes {
        match (&change.action, &change.after) {
            (Action::Forget, _) | (_, None) => {
                settings.remove(&change.code);
            }
            (_, Some(after)) => {
                let fingerprint = match after {
                    Value::Secret { secret, .. } => secrets.fingerprint(secret, fp),
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
        state.records.remove(&tp.target);
    }
}

/// Told how an apply goes, batch by batch (rendered by `render::progress`).
pub trait Progress {
    /// Before the first batch: how many batches and targets will be sent.
    fn started(&mut self, _batches: usize, _targets: usize) {}
    /// After batch `done` of `total` (1-based) was sent (or could not be), with what
    /// became of its targets.
    fn batch_done(&mut self, done: usize, total: usize, summary: BatchSummary);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn batch_done(&mut self, _done: usize, _total: usize, _summary: BatchSummary) {}
}

/// How writes go to the portal.
#[derive(Debug, Clone, Copy)]
pub struct Sending<'a> {
    pub client: &'a Client,
    /// At most this many requests (batches, or direct calls) in flight at once
    /// (`apply --parallelism`); 1 sends them one after another, in plan order. The client's
    /// throttle and time budget hold whatever the number: every request takes its slot in
    /// the shared leaky bucket before it leaves.
    pub parallelism: usize,
}

/// The default of `apply --parallelism`: enough for the 50/2 bucket's burst to go out at
/// network latency (20 batches of 50 in 5 round trips) without a long queue of answers
/// awaited after a signal.
pub const DEFAULT_PARALLELISM: usize = 4;

/// One request of an apply: a `batch` of up to [`MAX_BATCH`] writes, or one write sent
/// as a direct call because a value would be read as a batch reference
/// ([`looks_like_batch_reference`]).
struct Unit {
    /// Indexes into the pending writes, in plan order.
    writes: Vec<usize>,
    direct: bool,
}

/// Whether `write` must go as a direct call: one of its values (or types) contains
/// `$result[` or `$error[`, which the portal would substitute inside a batch.
fn needs_direct_call(write: &PendingWrite<'_>) -> bool {
    write.settings.values().any(|(source, value)| {
        looks_like_batch_reference(source) || looks_like_batch_reference(value.expose())
    })
}

/// The requests for `pending`: batches of up to [`MAX_BATCH`] in plan order, then one
/// direct call per write that cannot ride in a batch.
fn units(pending: &[PendingWrite<'_>]) -> Vec<Unit> {
    let (direct, batched): (Vec<usize>, Vec<usize>) =
        (0..pending.len()).partition(|i| needs_direct_call(&pending[*i]));
    let mut units: Vec<Unit> = batched
        .chunks(MAX_BATCH)
        .map(|chunk| Unit {
            writes: chunk.to_vec(),
            direct: false,
        })
        .collect();
    units.extend(direct.into_iter().map(|i| Unit {
        writes: vec![i],
        direct: true,
    }));
    units
}

/// What became of one request: its entries by key, a request-level failure, or None when
/// no answer came within [`IN_FLIGHT_GRACE`] of a signal.
type Sent = Option<Result<BatchOutcome, ClientError>>;

/// Sends one unit. A signal does not cut it short: its answer is awaited, for at most
/// [`IN_FLIGHT_GRACE`] after the signal (then its targets' outcome is unknown). A direct
/// call's answer is put in the shape of a batch entry: `result`, or the portal's refusal
/// of this target (a 4xx error envelope), which fails the target, not the run.
async fn send(client: &Client, commands: Vec<(String, Request)>, direct: bool) -> Sent {
    let request = async {
        if !direct {
            return client.batch(&commands, false).await;
        }
        let mut outcome = BatchOutcome::default();
        for (key, request) in &commands {
            let entry = match client.call(request).await {
                Ok(value) => BatchEntry::Ok(value),
                Err(ClientError::Portal { error, .. })
                    if error.http_status.is_none_or(|s| s < 500) =>
                {
                    BatchEntry::Failed(error)
                }
                Err(e) => return Err(e),
            };
            outcome.entries.insert(key.clone(), entry);
        }
        Ok(outcome)
    };
    tokio::select! {
        result = request => Some(result),
        () = async {
            interrupt::wait().await;
            tokio::time::sleep(IN_FLIGHT_GRACE).await;
        } => None,
    }
}

type Flight<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Requests in flight, each answered as soon as it completes, in whatever order.
struct InFlight<'a, T> {
    futures: Vec<Flight<'a, T>>,
}

impl<'a, T> InFlight<'a, T> {
    fn new() -> Self {
        InFlight {
            futures: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.futures.len()
    }

    fn push(&mut self, future: impl Future<Output = T> + 'a) {
        self.futures.push(Box::pin(future));
    }

    /// The output of the first request to complete; None when nothing is in flight.
    async fn next(&mut self) -> Option<T> {
        if self.futures.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for i in 0..self.futures.len() {
                if let Poll::Ready(output) = self.futures[i].as_mut().poll(cx) {
                    drop(self.futures.swap_remove(i));
                    return Poll::Ready(Some(output));
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Applies `plan`, recording in `store`'s journal what every request confirmed, and
/// telling `progress` about each request sent. Up to `sending.parallelism` requests are
/// in flight at once; each one's answer is recorded (one journal line, synced) as it
/// comes, in whatever order. The state file is written once at the end. The caller
/// folded any journal a stopped run left ([`crate::state::StateBackend::prepare_writes`]).
pub async fn execute(
    plan: &Plan,
    state: &mut LastApplied,
    store: &dyn StateBackend,
    sending: Sending<'_>,
    secrets: &ResolvedSecrets,
    fingerprinter: &Fingerprinter,
    progress: &mut dyn Progress,
) -> Result<ApplyReport, StateError> {
    let client = sending.client;
    let parallelism = sending.parallelism.max(1);
    let mut report = ApplyReport::default();
    let mut pending = Vec::new();
    if fingerprinter.is_keyed() {
        state.fingerprints.keyed = true;
    }
    for tp in &plan.targets {
        let _span = tp.target.span().entered();
        let settings = writes_for(tp, state.targets.get(&tp.target), secrets, fingerprinter);
        if settings.is_empty() {
            commit(state, tp, secrets, fingerprinter);
            report.state_only.push(tp.target);
        } else {
            pending.push(PendingWrite { plan: tp, settings });
        }
    }
    let units = units(&pending);
    // Every save and journal entry bumps the serial: at most one before the requests and
    // one per request (the final write of the state keeps the last entry's serial).
    // A serial that cannot take them all stops the run before anything is sent.
    store.check_serial(state, units.len() as u64 + 1)?;
    if state.portal.is_none() {
        state.portal = Some(client.portal());
    }
    if !report.state_only.is_empty() || pending.is_empty() {
        store.save(state)?;
    }

    let total = units.len();
    let requests_before = client.stats().requests;
    progress.started(total, pending.len());
    let mut queue = units.iter().enumerate();
    let mut in_flight: InFlight<'_, (usize, Sent)> = InFlight::new();
    let mut done = 0;
    let mut journal = store.journal();
    loop {
        // Send while there is room, the run goes on and requests are left.
        while in_flight.len() < parallelism {
            if report.interrupted.is_none() {
                report.interrupted = interrupt::received();
            }
            if report.aborted.is_some()
                || report.interrupted.is_some()
                || report.record_error.is_some()
            {
                break;
            }
            let Some((index, unit)) = queue.next() else {
                break;
            };
            let commands: Vec<(String, Request)> = unit
                .writes
                .iter()
                .map(|&i| {
                    let w = &pending[i];
                    (
                        target_key(w.plan.target),
                        Request::settings_update(w.plan.target, &w.settings),
                    )
                })
                .collect();
            if unit.direct {
                tracing::info!(
                    request = index + 1,
                    of = total,
                    "sending settings.update on its own: a value contains $result[ or $error[, \
                     which the portal would substitute inside a batch"
                );
            } else {
                tracing::info!(
                    batch = index + 1,
                    of = total,
                    commands = commands.len(),
                    "sending settings.update batch"
                );
            }
            let direct = unit.direct;
            in_flight.push(async move { (index, send(client, commands, direct).await) });
        }
        let Some((index, sent)) = in_flight.next().await else {
            break;
        };
        done += 1;
        let unit = &units[index];
        let writes = || unit.writes.iter().map(|&i| &pending[i]);
        let targets = || writes().map(|w| w.plan.target);
        let mut summary = BatchSummary {
            targets: unit.writes.len(),
            ..BatchSummary::default()
        };
        let outcome = match sent {
            Some(Ok(outcome)) => outcome,
            None => {
                tracing::error!(
                    batch = index + 1,
                    "no answer within {}s of the signal; the outcome of this batch is unknown",
                    IN_FLIGHT_GRACE.as_secs()
                );
                report.interrupted = interrupt::received();
                report.unknown.extend(targets());
                summary.unknown = unit.writes.len();
                progress.batch_done(done, total, summary);
                continue;
            }
            Some(Err(e)) => {
                if e.may_have_reached_portal() {
                    tracing::error!(batch = index + 1, error = %e, "batch sent, but its answer was lost: outcome unknown");
                    report.unknown.extend(targets());
                    summary.unknown = unit.writes.len();
                } else {
                    tracing::error!(batch = index + 1, error = %e, "batch request failed");
                    report.not_attempted.extend(targets());
                    summary.not_sent = unit.writes.len();
                }
                match e {
                    ClientError::Interrupted { .. } => report.interrupted = interrupt::received(),
                    // The first request-level failure stops the run; others in flight
                    // at the same time are logged above.
                    e if report.aborted.is_none() => report.aborted = Some(e),
                    _ => {}
                }
                progress.batch_done(done, total, summary);
                continue;
            }
        };
        let mut confirmed = Vec::new();
        for write in writes() {
            let target = write.plan.target;
            let _span = target.span().entered();
            let failure = match outcome.entries.get(&target_key(target)) {
                Some(BatchEntry::Ok(serde_json::Value::Bool(true))) => None,
                Some(BatchEntry::Ok(other)) => Some(PortalError {
                    code: "RESULT_NOT_TRUE".into(),
                    description: format!(
                        "the portal answered {} instead of true; some settings may have been written, re-run to retry",
                        crate::untrusted::portal_text(&other.to_string())
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
                    commit(state, write.plan, secrets, fingerprinter);
                    report.applied.push(target);
                    confirmed.push(target);
                    report.settings_written += write.settings.len();
                    summary.confirmed += 1;
                    tracing::debug!("confirmed");
                }
                Some(error) => {
                    tracing::warn!(code = %error.code, "target failed");
                    summary.failed += 1;
                    report.failed.push(TargetFailure {
                        target,
                        manifest: write.plan.manifest.as_ref().map(ToString::to_string),
                        error,
                    });
                }
            }
        }
        // A refusal every call of the run would get (the credentials, their scope, their
        // user's rights, the method itself) stops the run after this batch, with what to
        // check, instead of failing every target batch after batch.
        if report.aborted.is_none() {
            let failures: Vec<&PortalError> = report
                .failed
                .iter()
                .rev()
                .take(summary.failed)
                .map(|f| &f.error)
                .collect();
            let all_denied = summary.failed == unit.writes.len()
                && failures.iter().all(|e| e.code == "ACCESS_DENIED");
            if let Some((refusal, error)) = failures
                .iter()
                .find_map(|e| Refusal::of_run(e, all_denied).map(|r| (r, (*e).clone())))
            {
                tracing::error!(code = %error.code, "refused for every call: no new request is sent");
                report.aborted = Some(client.refused(
                    "sale.paysystem.settings.update".to_owned(),
                    refusal,
                    error,
                ));
            }
        }
        if summary.confirmed > 0 {
            let recorded = match &report.record_error {
                Some(_) => Err(None),
                None => journal.append(state, &confirmed).map_err(Some),
            };
            if let Err(error) = recorded {
                // Confirmed by the portal, but not recorded: never reported as applied
                // (the state does not hold them), and nothing more is sent.
                if let Some(error) = error {
                    tracing::error!(%error, "cannot record what the portal confirmed; no new request is sent");
                    report.record_error = Some(error);
                }
                report.applied.retain(|t| !confirmed.contains(t));
                report.not_recorded.extend(confirmed);
            }
        }
        progress.batch_done(done, total, summary);
    }
    // Every confirmed request is in the journal: the state file takes them in one write.
    // After a record error the journal keeps what it holds (readers replay it, the next
    // lock holder folds it) and nothing more is written.
    if report.record_error.is_none() {
        journal.finish(state)?;
    }
    // Requests never sent because the run stopped.
    for (_, unit) in queue {
        report
            .not_attempted
            .extend(unit.writes.iter().map(|&i| pending[i].plan.target));
    }
    if report.interrupted.is_none() {
        report.interrupted = interrupt::received();
    }
    // Answers came in any order: the report lists targets in plan order.
    let order: BTreeMap<Target, usize> = plan
        .targets
        .iter()
        .enumerate()
        .map(|(i, tp)| (tp.target, i))
        .collect();
    let position = |t: &Target| order.get(t).copied().unwrap_or(usize::MAX);
    report.applied.sort_by_key(position);
    report.unknown.sort_by_key(position);
    report.not_attempted.sort_by_key(position);
    report.not_recorded.sort_by_key(position);
    report.failed.sort_by_key(|f| position(&f.target));
    report.requests = client.stats().requests - requests_before;
    Ok(report)
}

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
//! 4. Up to [`Applying::parallelism`] requests are in flight at once (1: one after another,
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

pub mod objects;
mod report;
mod secrets;
mod writes;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::bitrix::request::target_key;
use crate::bitrix::{BatchEntry, BatchOutcome, Client, ClientError, PortalError, Refusal, Request};
use crate::fingerprint::Fingerprinter;
use crate::interrupt::{self, IN_FLIGHT_GRACE};
use crate::model::Target;
use crate::plan::{Action, Plan, TargetPlan, Value};
use crate::state::{Journal, StateBackend, StateError};
use crate::state::{LastApplied, TargetRecord};
pub use report::{ApplyReport, BatchSummary, NoProgress, Progress, TargetFailure};
pub use secrets::ResolvedSecrets;
use writes::{PendingWrite, Unit, units, writes_for};

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
    // Room for the codes added, exactly: a million settings recorded one code at a time
    // would leave a third of their lists unused (issue 22.2).
    settings.reserve_exact(tp.changes.len());
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
                    settings.insert(change.code.as_str(), recorded);
                }
            }
        }
    }
    settings.shrink_to_fit();
    if settings.is_empty() {
        state.targets.remove(&tp.target);
        state.records.remove(&tp.target);
    }
}

/// What an apply writes with and records in.
#[derive(Clone, Copy)]
pub struct Applying<'a> {
    pub client: &'a Client,
    /// At most this many requests (batches, or direct calls) in flight at once
    /// (`apply --parallelism`); 1 sends them one after another, in plan order. The client's
    /// throttle and time budget hold whatever the number: every request takes its slot in
    /// the shared leaky bucket before it leaves.
    pub parallelism: usize,
    /// Where what the portal confirmed is recorded; the caller holds its lock.
    pub store: &'a dyn StateBackend,
    /// Every secret the plan needs, resolved.
    pub secrets: &'a ResolvedSecrets,
    /// The fingerprinter of the state's scheme, able to make fingerprints.
    pub fingerprinter: &'a Fingerprinter,
}

/// The default of `apply --parallelism`: enough for the 50/2 bucket's burst to go out at
/// network latency (20 batches of 50 in 5 round trips) without a long queue of answers
/// awaited after a signal.
pub const DEFAULT_PARALLELISM: usize = 4;

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

/// Applies `plan`, recording in the store's journal what every request confirmed, and
/// telling `progress` about each request sent. Up to [`Applying::parallelism`] requests
/// are in flight at once; each one's answer is recorded (one journal line, synced) as it
/// comes, in whatever order. The state file is written once at the end. The caller
/// folded any journal a stopped run left ([`crate::state::StateBackend::prepare_writes`]).
pub async fn execute(
    plan: &Plan,
    state: &mut LastApplied,
    with: Applying<'_>,
    progress: &mut dyn Progress,
) -> Result<ApplyReport, StateError> {
    let client = with.client;
    let mut run = Run {
        with,
        state,
        report: ApplyReport::default(),
    };
    let pending = run.commit_unwritten(plan);
    let units = units(&pending, with.secrets);
    run.start(units.len(), pending.is_empty())?;

    let total = units.len();
    let requests_before = client.stats().requests;
    progress.started(total, pending.len());
    let mut queue = units.iter().enumerate();
    let mut in_flight = FuturesUnordered::new();
    let mut journal = with.store.journal();
    let mut done = 0;
    loop {
        // Send while there is room, the run goes on and requests are left.
        while in_flight.len() < with.parallelism.max(1) && run.goes_on() {
            let Some((index, unit)) = queue.next() else {
                break;
            };
            unit.log_sending(index, total);
            let (commands, direct) = (unit.commands(&pending, with.secrets), unit.direct);
            in_flight.push(async move { (index, send(client, commands, direct).await) });
        }
        let Some((index, sent)) = in_flight.next().await else {
            break;
        };
        done += 1;
        let summary = run.answered(index, &units[index], &pending, sent, journal.as_mut());
        progress.batch_done(done, total, summary);
    }
    // Every confirmed request is in the journal: the state file takes them in one write.
    // After a record error the journal keeps what it holds (readers replay it, the next
    // lock holder folds it) and nothing more is written.
    if run.report.record_error.is_none() {
        journal.finish(run.state)?;
    }
    // Requests never sent because the run stopped.
    for (_, unit) in queue {
        run.report.not_attempted.extend(unit.targets(&pending));
    }
    let mut report = run.report;
    report.requests = client.stats().requests - requests_before;
    Ok(report.in_plan_order(plan))
}

/// An apply under way: the state it commits to and what it reports.
struct Run<'a, 's> {
    with: Applying<'a>,
    state: &'s mut LastApplied,
    report: ApplyReport,
}

impl Run<'_, '_> {
    /// Commits the targets that need no write to the state; returns the others' writes.
    fn commit_unwritten<'p>(&mut self, plan: &'p Plan) -> Vec<PendingWrite<'p>> {
        let (secrets, fp) = (self.with.secrets, self.with.fingerprinter);
        if fp.is_keyed() {
            self.state.fingerprints.keyed = true;
        }
        let mut pending = Vec::new();
        for tp in &plan.targets {
            let _span = tp.target.span().entered();
            let sends = writes_for(tp, self.state.targets.get(&tp.target), secrets, fp);
            if sends.is_empty() {
                commit(self.state, tp, secrets, fp);
                self.report.state_only.push(tp.target);
            } else {
                pending.push(PendingWrite { plan: tp, sends });
            }
        }
        pending
    }

    /// Before the first of `requests`: the serial must take them all (every save and
    /// journal entry bumps it: at most one before the requests and one per request, the
    /// final write of the state keeping the last entry's serial), or nothing is sent;
    /// the state names its portal; targets committed without a write (or a run with
    /// nothing to send) are saved.
    fn start(&mut self, requests: usize, nothing_to_send: bool) -> Result<(), StateError> {
        let store = self.with.store;
        store.check_serial(self.state, requests as u64 + 1)?;
        if self.state.portal.is_none() {
            self.state.portal = Some(self.with.client.portal());
        }
        if !self.report.state_only.is_empty() || nothing_to_send {
            store.save(self.state)?;
        }
        Ok(())
    }

    /// Whether another request may be sent: no signal, no request-level failure, no
    /// record error.
    fn goes_on(&mut self) -> bool {
        if self.report.interrupted.is_none() {
            self.report.interrupted = interrupt::received();
        }
        self.report.aborted.is_none()
            && self.report.interrupted.is_none()
            && self.report.record_error.is_none()
    }

    /// Takes request `index`'s answer: what the portal confirmed is committed and
    /// journaled, what it refused is reported, and a failure of the whole request (or a
    /// refusal every request would get) stops the run.
    fn answered(
        &mut self,
        index: usize,
        unit: &Unit,
        pending: &[PendingWrite<'_>],
        sent: Sent,
        journal: &mut dyn Journal,
    ) -> BatchSummary {
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
                self.report.interrupted = interrupt::received();
                self.report.unknown.extend(unit.targets(pending));
                summary.unknown = unit.writes.len();
                return summary;
            }
            Some(Err(e)) => {
                self.request_failed(index, e, unit.targets(pending), &mut summary);
                return summary;
            }
        };
        let confirmed = self.confirm(unit, pending, &outcome, &mut summary);
        self.stop_on_run_refusal(unit, &summary);
        if !confirmed.is_empty() {
            self.record(&confirmed, journal);
        }
        summary
    }

    /// A request that failed as a whole: its targets are unknown (it may have reached
    /// the portal) or not sent; the first such failure stops the run.
    fn request_failed(
        &mut self,
        index: usize,
        error: ClientError,
        targets: impl Iterator<Item = Target>,
        summary: &mut BatchSummary,
    ) {
        if error.may_have_reached_portal() {
            tracing::error!(batch = index + 1, error = %error, "batch sent, but its answer was lost: outcome unknown");
            self.report.unknown.extend(targets);
            summary.unknown = summary.targets;
        } else {
            tracing::error!(batch = index + 1, error = %error, "batch request failed");
            self.report.not_attempted.extend(targets);
            summary.not_sent = summary.targets;
        }
        match error {
            ClientError::Interrupted { .. } => self.report.interrupted = interrupt::received(),
            // The first request-level failure stops the run; others in flight at the
            // same time are logged above.
            error if self.report.aborted.is_none() => self.report.aborted = Some(error),
            _ => {}
        }
    }

    /// Commits the unit's targets the portal confirmed (`result: true`) and reports the
    /// others as failed, with the portal's reason. Returns the confirmed ones.
    fn confirm(
        &mut self,
        unit: &Unit,
        pending: &[PendingWrite<'_>],
        outcome: &BatchOutcome,
        summary: &mut BatchSummary,
    ) -> Vec<Target> {
        let mut confirmed = Vec::new();
        for write in unit.writes.iter().map(|&i| &pending[i]) {
            let target = write.plan.target;
            let _span = target.span().entered();
            match failure_of(outcome.entries.get(&target_key(target))) {
                None => {
                    commit(
                        self.state,
                        write.plan,
                        self.with.secrets,
                        self.with.fingerprinter,
                    );
                    self.report.applied.push(target);
                    confirmed.push(target);
                    self.report.settings_written += write.sends.len();
                    summary.confirmed += 1;
                    tracing::debug!("confirmed");
                }
                Some(error) => {
                    tracing::warn!(code = %error.code, "target failed");
                    summary.failed += 1;
                    self.report.failed.push(TargetFailure {
                        target,
                        manifest: write.plan.manifest.as_ref().map(ToString::to_string),
                        error,
                    });
                }
            }
        }
        confirmed
    }

    /// A refusal every call of the run would get (the credentials, their scope, their
    /// user's rights, the method itself) stops the run after this batch, with what to
    /// check, instead of failing every target batch after batch.
    fn stop_on_run_refusal(&mut self, unit: &Unit, summary: &BatchSummary) {
        if self.report.aborted.is_some() {
            return;
        }
        let failures: Vec<&PortalError> = self
            .report
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
            self.report.aborted = Some(self.with.client.refused(
                "sale.paysystem.settings.update".to_owned(),
                refusal,
                error,
            ));
        }
    }

    /// Journals the `confirmed` targets (just committed). When the journal cannot take
    /// them they are confirmed by the portal but not recorded: never reported as applied
    /// (the state does not hold them), and nothing more is sent.
    fn record(&mut self, confirmed: &[Target], journal: &mut dyn Journal) {
        let recorded = match &self.report.record_error {
            Some(_) => Err(None),
            None => journal.append(self.state, confirmed).map_err(Some),
        };
        if let Err(error) = recorded {
            if let Some(error) = error {
                tracing::error!(%error, "cannot record what the portal confirmed; no new request is sent");
                self.report.record_error = Some(error);
            }
            self.report.applied.retain(|t| !confirmed.contains(t));
            self.report.not_recorded.extend_from_slice(confirmed);
        }
    }
}

/// Why the portal did not confirm a target, from its entry in the answer; `None` when
/// it did (`result: true`).
fn failure_of(entry: Option<&BatchEntry>) -> Option<PortalError> {
    match entry {
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
    }
}

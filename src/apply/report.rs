//! What an apply did: the [`ApplyReport`] (every target's fate, in plan order), and the
//! [`Progress`] it tells batch by batch as the answers come.

use std::collections::BTreeMap;

use crate::bitrix::{ClientError, PortalError};
use crate::interrupt::{self, Signal};
use crate::model::Target;
use crate::plan::Plan;
use crate::state::StateError;

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
    /// Handlers and pay systems written (created, adopted, updated, deleted) before and
    /// after the settings; their requests are counted in `requests`.
    pub objects_written: usize,
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

impl ApplyReport {
    /// The report with its targets in plan order (answers come in any order), and the
    /// signal that stopped the run if one came after the last request.
    pub(super) fn in_plan_order(mut self, plan: &Plan) -> ApplyReport {
        if self.interrupted.is_none() {
            self.interrupted = interrupt::received();
        }
        let order: BTreeMap<Target, usize> = plan
            .targets
            .iter()
            .enumerate()
            .map(|(i, tp)| (tp.target, i))
            .collect();
        let position = |t: &Target| order.get(t).copied().unwrap_or(usize::MAX);
        self.applied.sort_by_key(position);
        self.unknown.sort_by_key(position);
        self.not_attempted.sort_by_key(position);
        self.not_recorded.sort_by_key(position);
        self.failed.sort_by_key(|f| position(&f.target));
        self
    }
}

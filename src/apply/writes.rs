//! What an apply sends: per target the changes to write ([`writes_for`]), and the
//! requests they go in ([`units`]): batches of up to [`MAX_BATCH`] in plan order, a
//! write whose values the portal would read as a batch reference on its own. The values
//! of a request are made when it is sent, not held for the whole run (issue 22.2).

use std::collections::BTreeMap;

use super::secrets::ResolvedSecrets;
use crate::bitrix::request::target_key;
use crate::bitrix::{MAX_BATCH, Request, looks_like_batch_reference};
use crate::fingerprint::Fingerprinter;
use crate::model::Target;
use crate::plan::{Action, Change, TargetPlan, Value};
use crate::secrets::{Redacted, SecretRef};
use crate::state::{RecordedSettings, RecordedValue};

/// A target's write: the plan it came from and its changes to send. The values sent
/// are made when its request is (issue 22.2: a copy of every code, source and value of a
/// million-setting apply held from the start cost 166 MiB).
pub(super) struct PendingWrite<'a> {
    pub(super) plan: &'a TargetPlan,
    pub(super) sends: Vec<&'a Change>,
}

impl PendingWrite<'_> {
    /// What the request sends: per code its source and value (a secret resolved).
    fn settings(&self, secrets: &ResolvedSecrets) -> BTreeMap<String, (String, Redacted<String>)> {
        self.sends
            .iter()
            .filter_map(|change| {
                let (source, value) = sent_value(change.after.as_ref()?, secrets)?;
                Some((
                    change.code.to_string(),
                    (source.to_owned(), Redacted::new(value.to_owned())),
                ))
            })
            .collect()
    }
}

/// The source and value a desired value sends, borrowed (a secret's from the values
/// resolved); `None` for a value that is never sent.
fn sent_value<'v>(after: &'v Value, secrets: &'v ResolvedSecrets) -> Option<(&'v str, &'v str)> {
    match after {
        Value::Plain { source, value } => Some((source, value)),
        Value::Secret { source, secret, .. } => Some((source, resolved(secrets, secret).expose())),
        Value::Live { .. } | Value::Hidden { .. } => None,
    }
}

/// The value resolved for `secret`.
fn resolved<'v>(secrets: &'v ResolvedSecrets, secret: &SecretRef) -> &'v Redacted<String> {
    secrets
        .get(secret)
        .expect("every secret was resolved before apply started")
}

/// The changes of `tp` to send now.
pub(super) fn writes_for<'p>(
    tp: &'p TargetPlan,
    recorded: Option<&RecordedSettings>,
    secrets: &ResolvedSecrets,
    fp: &Fingerprinter,
) -> Vec<&'p Change> {
    let mut out = Vec::with_capacity(tp.changes.len());
    for change in &tp.changes {
        let Some(after) = &change.after else { continue };
        let send = match change.action {
            Action::Add | Action::Update | Action::Drift => true,
            // Reference unchanged, value unknown at plan time: write only if changed (or
            // if the recorded fingerprint cannot tell).
            Action::Unchecked => !matches!(
                (after, recorded.and_then(|r| r.get(&change.code))),
                (
                    Value::Secret { source, secret, .. },
                    Some(RecordedValue::Secret { fingerprint: Some(recorded), source: s, .. }),
                ) if s == source && fp.matches(recorded, resolved(secrets, secret)) == Some(true)
            ),
            Action::Forget | Action::Record => false,
        };
        if send && !matches!(after, Value::Live { .. } | Value::Hidden { .. }) {
            out.push(change);
        }
    }
    out
}

/// One request of an apply: a `batch` of up to [`MAX_BATCH`] writes, or one write sent
/// as a direct call because a value would be read as a batch reference
/// ([`looks_like_batch_reference`]).
pub(super) struct Unit {
    /// Indexes into the pending writes, in plan order.
    pub(super) writes: Vec<usize>,
    pub(super) direct: bool,
}

impl Unit {
    /// The targets it carries, in plan order.
    pub(super) fn targets<'a>(
        &'a self,
        pending: &'a [PendingWrite<'_>],
    ) -> impl Iterator<Item = Target> + 'a {
        self.writes.iter().map(|&i| pending[i].plan.target)
    }

    /// Its `settings.update` commands, each keyed by its target.
    pub(super) fn commands(
        &self,
        pending: &[PendingWrite<'_>],
        secrets: &ResolvedSecrets,
    ) -> Vec<(String, Request)> {
        self.writes
            .iter()
            .map(|&i| {
                let target = pending[i].plan.target;
                (
                    target_key(target),
                    Request::settings_update(target, &pending[i].settings(secrets)),
                )
            })
            .collect()
    }

    /// Logs that request `index` of `total` is sent.
    pub(super) fn log_sending(&self, index: usize, total: usize) {
        if self.direct {
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
                commands = self.writes.len(),
                "sending settings.update batch"
            );
        }
    }
}

/// Whether `write` must go as a direct call: one of its values (or types) contains
/// `$result[` or `$error[`, which the portal would substitute inside a batch.
fn needs_direct_call(write: &PendingWrite<'_>, secrets: &ResolvedSecrets) -> bool {
    write.sends.iter().any(|change| {
        change
            .after
            .as_ref()
            .and_then(|after| sent_value(after, secrets))
            .is_some_and(|(source, value)| {
                looks_like_batch_reference(source) || looks_like_batch_reference(value)
            })
    })
}

/// The requests for `pending`: batches of up to [`MAX_BATCH`] in plan order, then one
/// direct call per write that cannot ride in a batch.
pub(super) fn units(pending: &[PendingWrite<'_>], secrets: &ResolvedSecrets) -> Vec<Unit> {
    let (direct, batched): (Vec<usize>, Vec<usize>) =
        (0..pending.len()).partition(|i| needs_direct_call(&pending[*i], secrets));
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

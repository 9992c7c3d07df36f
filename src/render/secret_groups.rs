//! Secrets as a reviewer reads them: once per reference, not once per target.
//!
//! One reference (`env:PS_SECRET`) is often used by hundreds of targets. A secret that
//! could not be read at plan time, or a new value under the same reference (a rotated
//! key), is the same fact for each of them: the plans list it once, with how many
//! targets use it, instead of one identical line per target (issue 23: 714 lines at
//! 5,000 targets, which pushed every real change out of the pull-request comment).
//!
//! - [`unchecked`]: the secrets not compared at plan time (unreadable, or empty), grouped
//!   by reference and reason.
//! - [`rotations`]: the changes of a secret's value under the same reference (the live
//!   value hidden, or a recorded fingerprint that differs), grouped by reference and by
//!   whether the change was made outside paysync.
//! - [`renamed`]: the reference a secret setting had before, when it is another one.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Action, Change, Plan, TargetPlan, Value};

/// One reference and the settings that share a reason to be listed.
pub(crate) struct SecretGroup<'a> {
    /// The reference as written (`env:NAME`, `file:PATH`), not escaped.
    pub reference: String,
    /// `not checked`, `empty`, `changed` or `changed outside paysync`.
    pub reason: &'static str,
    /// The codes it sets, each once, sorted.
    pub codes: BTreeSet<&'a str>,
    /// Each setting: its target and change, in the plan's order.
    pub uses: Vec<(&'a TargetPlan, &'a Change)>,
}

impl<'a> SecretGroup<'a> {
    /// The targets that use it, each once (a target using it for two codes too), in the
    /// plan's order.
    pub fn targets(&self) -> Vec<&'a TargetPlan> {
        let mut targets: Vec<&TargetPlan> = self.uses.iter().map(|(t, _)| *t).collect();
        targets.dedup_by_key(|t| t.target);
        targets
    }
}

fn reference(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Secret { secret, .. } => Some(secret.to_string()),
        _ => None,
    }
}

/// The secrets not checked at plan time, one group per reference and reason, sorted by
/// reference.
pub(crate) fn unchecked(plan: &Plan) -> Vec<SecretGroup<'_>> {
    group(plan, |c| {
        (c.action == Action::Unchecked).then(|| {
            c.after
                .as_ref()
                .and_then(Value::unchecked_reason)
                .unwrap_or("not checked")
        })
    })
}

/// The secret values that change under the same reference, one group per reference and
/// kind of change, sorted by reference.
pub(crate) fn rotations(plan: &Plan) -> Vec<SecretGroup<'_>> {
    group(plan, |c| {
        is_rotation(c).then_some(if c.action == Action::Drift {
            "changed outside paysync"
        } else {
            "changed"
        })
    })
}

fn group<'a>(
    plan: &'a Plan,
    reason: impl Fn(&Change) -> Option<&'static str>,
) -> Vec<SecretGroup<'a>> {
    let mut groups: BTreeMap<(String, &'static str), SecretGroup<'a>> = BTreeMap::new();
    for t in &plan.targets {
        for c in &t.changes {
            let Some(why) = reason(c) else { continue };
            let Some(reference) = reference(c.after.as_ref()) else {
                continue;
            };
            let group = groups
                .entry((reference.clone(), why))
                .or_insert_with(|| SecretGroup {
                    reference,
                    reason: why,
                    codes: BTreeSet::new(),
                    uses: Vec::new(),
                });
            group.codes.insert(&c.code);
            group.uses.push((t, c));
        }
    }
    groups.into_values().collect()
}

/// Whether a change replaces one secret value with another of the same source: the live
/// value hidden, or a recorded secret (under any reference).
pub(crate) fn secret_to_secret(c: &Change) -> bool {
    let before = match c.before.as_deref() {
        Some(Value::Secret { source, .. }) => Some(Some(source.as_str())),
        Some(Value::Hidden { source }) => Some(source.as_deref()),
        _ => None,
    };
    match (before, &c.after) {
        // A hidden live value whose source the portal did not report: values only.
        (Some(None), Some(Value::Secret { .. })) => true,
        (Some(Some(b)), Some(Value::Secret { source, .. })) => b == source,
        _ => false,
    }
}

/// Whether a change is a new value under the same reference (a rotated secret): a
/// secret-to-secret change whose reference, when the state recorded one, is the same.
pub(crate) fn is_rotation(c: &Change) -> bool {
    matches!(c.action, Action::Update | Action::Drift)
        && secret_to_secret(c)
        && renamed(c).is_none()
}

/// The reference a secret setting had, when the change gives it another one.
pub(crate) fn renamed(c: &Change) -> Option<String> {
    let before = reference(c.before.as_deref())?;
    (Some(&before) != reference(c.after.as_ref()).as_ref()).then_some(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;
    use crate::secrets::SecretRef;

    fn secret(name: &str) -> Value {
        Value::Secret {
            source: "VALUE".into(),
            secret: Box::new(SecretRef::Env { name: name.into() }),
            fingerprint: None,
            empty: false,
        }
    }

    fn change(code: &str, action: Action, before: Option<Value>, after: Value) -> Change {
        Change {
            code: code.into(),
            action,
            at: None,
            before: before.map(Box::new),
            after: Some(after),
        }
    }

    fn target(ps: u64, changes: Vec<Change>) -> TargetPlan {
        TargetPlan {
            target: Target {
                pay_system: ps,
                person_type: 1,
            },
            manifest: None,
            reference: None,
            changes,
        }
    }

    #[test]
    fn one_reference_used_by_many_targets_is_one_group() {
        let mut plan = Plan::default();
        for ps in 0..300 {
            plan.targets.push(target(
                ps,
                vec![
                    change("KEY", Action::Unchecked, None, secret("PS_SECRET")),
                    change("OTHER", Action::Unchecked, None, secret("PS_SECRET")),
                ],
            ));
        }
        plan.targets.push(target(
            999,
            vec![change("KEY", Action::Unchecked, None, secret("ONE"))],
        ));
        let groups = unchecked(&plan);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].reference, "env:ONE");
        assert_eq!(groups[1].reference, "env:PS_SECRET");
        assert_eq!(groups[1].uses.len(), 600);
        assert_eq!(groups[1].targets().len(), 300);
        assert_eq!(
            groups[1].codes.iter().copied().collect::<Vec<_>>(),
            ["KEY", "OTHER"]
        );
    }

    #[test]
    fn a_rotation_keeps_its_reference_and_a_rename_does_not() {
        let rotated = change("KEY", Action::Update, Some(secret("A")), secret("A"));
        let hidden = change(
            "KEY",
            Action::Drift,
            Some(Value::Hidden {
                source: Some("VALUE".into()),
            }),
            secret("A"),
        );
        let renamed_ref = change("KEY", Action::Update, Some(secret("OLD")), secret("NEW"));
        assert!(is_rotation(&rotated) && is_rotation(&hidden));
        assert!(!is_rotation(&renamed_ref));
        assert_eq!(renamed(&renamed_ref).as_deref(), Some("env:OLD"));
        assert_eq!(renamed(&rotated), None);
        let plan = Plan {
            targets: vec![
                target(1, vec![rotated]),
                target(2, vec![hidden]),
                target(3, vec![renamed_ref]),
            ],
            ..Plan::default()
        };
        let groups = rotations(&plan);
        let reasons: Vec<_> = groups
            .iter()
            .map(|g| (g.reference.as_str(), g.reason))
            .collect();
        assert_eq!(
            reasons,
            [("env:A", "changed"), ("env:A", "changed outside paysync")]
        );
    }
}

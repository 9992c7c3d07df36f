//! How much a change needs a reviewer's eye: every change of a plan gets one [`Risk`],
//! and every renderer leads with the changes that need attention.
//!
//! The classes, most serious first (a change gets the first that applies):
//!
//! | risk | when |
//! |---|---|
//! | `empty_secret` | a secret found empty at plan time: apply refuses to run until it is set |
//! | `forget` | a code no longer managed (the value stays on the portal, unwatched) |
//! | `source_change` | a changed value whose source (`type`) changes, e.g. `PAYMENT` → `VALUE` |
//! | `secret_change` | a changed value that is, or was, a secret |
//! | `drift` | a value changed outside paysync, written back |
//! | `key_or_mode` | a changed value of a code named like a key or a mode (see [`is_key_or_mode`]) |
//! | `value_change` | any other changed value |
//! | `add` | a code paysync starts managing |
//! | `not_checked` | a secret not readable at plan time, read and compared by apply |
//! | `record` | recorded in the state only (live already equals desired) |
//!
//! The first six need attention.

use serde::{Deserialize, Serialize};

use super::{Action, Change, Plan, TargetPlan, Value};

/// A change's risk class; the order is the order of seriousness (most serious first).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    EmptySecret,
    Forget,
    SourceChange,
    SecretChange,
    Drift,
    KeyOrMode,
    ValueChange,
    Add,
    NotChecked,
    Record,
}

impl Risk {
    /// Whether a change of this class is listed under "Needs attention".
    pub fn needs_attention(self) -> bool {
        self <= Risk::KeyOrMode
    }

    /// Why the change needs attention, as the attention list says it.
    pub fn reason(self) -> &'static str {
        match self {
            Risk::EmptySecret => "secret is empty: apply refuses to run until it is set",
            Risk::Forget => "no longer managed: left as is on the portal, no longer checked",
            Risk::SourceChange => "value source changes",
            Risk::SecretChange => "secret changes",
            Risk::Drift => "changed outside paysync: written back",
            Risk::KeyOrMode => "key or mode changes",
            Risk::ValueChange => "value changes",
            Risk::Add => "added",
            Risk::NotChecked => "secret not checked",
            Risk::Record => "recorded",
        }
    }
}

/// Codes named like a key, a token, a password or a work mode (`REST_SERVICE_KEY_IFRAME`,
/// `PS_WORK_MODE_IFRAME`, `PS_IS_TEST`): a change to one can stop payments or send them to
/// a test account. Bitrix24's handler descriptions do not mark such codes, so the name
/// decides.
pub fn is_key_or_mode(code: &str) -> bool {
    let code = code.to_ascii_uppercase();
    code.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            matches!(
                word,
                "KEY" | "TOKEN" | "SECRET" | "PASSWORD" | "PASS" | "PWD" | "MODE" | "TEST"
            )
        })
}

/// The source (`type`) of a value, when known.
fn source(value: &Value) -> Option<&str> {
    match value {
        Value::Plain { source, .. } | Value::Secret { source, .. } => Some(source),
        Value::Live { source, .. } | Value::Hidden { source } => source.as_deref(),
    }
}

fn is_secret(value: &Value) -> bool {
    matches!(value, Value::Secret { .. } | Value::Hidden { .. })
}

impl Change {
    /// This change's risk class.
    pub fn risk(&self) -> Risk {
        if self.after.as_ref().is_some_and(Value::is_empty_secret) {
            return Risk::EmptySecret;
        }
        match self.action {
            Action::Forget => Risk::Forget,
            Action::Add => Risk::Add,
            Action::Record => Risk::Record,
            Action::Unchecked => Risk::NotChecked,
            Action::Update | Action::Drift => {
                let (before, after) = (self.before.as_deref(), self.after.as_ref());
                let sources = (before.and_then(source), after.and_then(source));
                if let (Some(b), Some(a)) = sources
                    && a != b
                {
                    Risk::SourceChange
                } else if before.is_some_and(is_secret) || after.is_some_and(is_secret) {
                    Risk::SecretChange
                } else if self.action == Action::Drift {
                    Risk::Drift
                } else if is_key_or_mode(&self.code) {
                    Risk::KeyOrMode
                } else {
                    Risk::ValueChange
                }
            }
        }
    }
}

impl TargetPlan {
    /// The most serious risk among the changes (`Risk::Record` when there are none).
    pub fn risk(&self) -> Risk {
        self.changes
            .iter()
            .map(Change::risk)
            .min()
            .unwrap_or(Risk::Record)
    }
}

impl Plan {
    /// The changes that need a reviewer's attention, in target order.
    pub fn attention(&self) -> impl Iterator<Item = (&TargetPlan, &Change)> {
        self.targets.iter().flat_map(|t| {
            t.changes
                .iter()
                .filter(|c| c.risk().needs_attention())
                .map(move |c| (t, c))
        })
    }

    /// [`Plan::attention`], most serious first (then in target order).
    pub fn attention_by_risk(&self) -> Vec<(&TargetPlan, &Change)> {
        let mut all: Vec<_> = self.attention().collect();
        all.sort_by_key(|(_, c)| c.risk());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretRef;

    fn plain(source: &str, value: &str) -> Value {
        Value::Plain {
            source: source.into(),
            value: value.into(),
        }
    }

    fn secret(empty: bool) -> Value {
        Value::Secret {
            source: "VALUE".into(),
            secret: Box::new(SecretRef::Env { name: "K".into() }),
            fingerprint: None,
            empty,
        }
    }

    #[test]
    fn each_change_gets_the_most_serious_class_that_applies() {
        let v = |s| Some(plain("VALUE", s));
        let cases = [
            (
                Change::new("A", Action::Add, None, Some(secret(true))),
                Risk::EmptySecret,
            ),
            (Change::new("A", Action::Forget, v("x"), None), Risk::Forget),
            (
                Change::new(
                    "PAYMENT_ID",
                    Action::Update,
                    Some(plain("PAYMENT", "ACCOUNT_NUMBER")),
                    v("0"),
                ),
                Risk::SourceChange,
            ),
            (
                Change::new("A", Action::Update, v("x"), Some(secret(false))),
                Risk::SecretChange,
            ),
            (
                Change::new(
                    "A",
                    Action::Drift,
                    Some(Value::Hidden { source: None }),
                    Some(secret(false)),
                ),
                Risk::SecretChange,
            ),
            (Change::new("A", Action::Drift, v("x"), v("y")), Risk::Drift),
            (
                Change::new(
                    "PS_WORK_MODE_IFRAME",
                    Action::Update,
                    v("TEST"),
                    v("REGULAR"),
                ),
                Risk::KeyOrMode,
            ),
            (
                Change::new("PS_IS_TEST", Action::Update, v("Y"), v("N")),
                Risk::KeyOrMode,
            ),
            (
                Change::new("PAYMENT_ID", Action::Update, v("1"), v("2")),
                Risk::ValueChange,
            ),
            (
                Change::new("MONKEY_BUSINESS", Action::Update, v("1"), v("2")),
                Risk::ValueChange,
            ),
            (Change::new("A", Action::Add, None, v("x")), Risk::Add),
            (
                Change::new(
                    "A",
                    Action::Unchecked,
                    Some(secret(false)),
                    Some(secret(false)),
                ),
                Risk::NotChecked,
            ),
            (Change::new("A", Action::Record, None, v("x")), Risk::Record),
        ];
        for (c, want) in cases {
            assert_eq!(c.risk(), want, "{c:?}");
        }
        assert!(Risk::KeyOrMode.needs_attention());
        assert!(!Risk::ValueChange.needs_attention());
    }
}

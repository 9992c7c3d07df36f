//! A setting value as the plan knows it ([`Value`]), and the rules that compare values:
//! desired with recorded, and live with desired or recorded (a secret by fingerprint).

use serde::{Deserialize, Serialize};

use crate::codes::CompactString;
use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::model::LiveSetting;
use crate::secrets::{Redacted, SecretRef};
use crate::state::RecordedValue;

/// A setting value as the plan knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Value {
    /// A literal (`type: VALUE`) or a field source.
    Plain {
        #[serde(rename = "type")]
        source: CompactString,
        value: CompactString,
    },
    /// A secret reference; `fingerprint` is `None` when the secret could not be resolved
    /// ("not checked"), and `empty` says it was found but empty, which apply refuses
    /// (SPEC §5: an empty value is never written through a reference).
    Secret {
        #[serde(rename = "type")]
        source: CompactString,
        /// Boxed: a reference is about 50 bytes, and most values of a large plan are
        /// plain (issue 13).
        secret: Box<SecretRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<Fingerprint>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        empty: bool,
    },
    /// A value read from the portal (`source` is `None` when the portal did not say).
    Live {
        #[serde(rename = "type")]
        source: Option<CompactString>,
        value: Option<CompactString>,
    },
    /// A live value of a code managed as a secret: compared by fingerprint, never shown.
    Hidden {
        #[serde(rename = "type")]
        source: Option<CompactString>,
    },
}

impl Value {
    /// The recorded form of a desired value, once its secret (if any) is known.
    pub fn to_recorded(&self, fingerprint: Option<&Fingerprint>) -> Option<RecordedValue> {
        match self {
            Value::Plain { source, value } => Some(RecordedValue::Plain {
                source: source.clone(),
                value: value.clone(),
            }),
            Value::Secret {
                source,
                secret,
                fingerprint: planned,
                ..
            } => Some(RecordedValue::Secret {
                source: source.clone(),
                secret: secret.clone(),
                fingerprint: Some(fingerprint.or(planned.as_ref())?.clone()),
            }),
            Value::Live { .. } | Value::Hidden { .. } => None,
        }
    }

    pub(super) fn from_recorded(recorded: &RecordedValue) -> Value {
        match recorded {
            RecordedValue::Plain { source, value } => Value::Plain {
                source: source.clone(),
                value: value.clone(),
            },
            RecordedValue::Secret {
                source,
                secret,
                fingerprint,
            } => Value::Secret {
                source: source.clone(),
                // Only shown; a recorded reference is never resolved.
                secret: secret.clone(),
                fingerprint: fingerprint.clone(),
                empty: false,
            },
        }
    }

    /// Why a secret's value was not compared at plan time, as plans show it: `not
    /// checked` (unreadable) or `empty`; `None` for a checked secret or a non-secret.
    pub fn unchecked_reason(&self) -> Option<&'static str> {
        match self {
            Value::Secret { empty: true, .. } => Some("empty"),
            Value::Secret {
                fingerprint: None, ..
            } => Some("not checked"),
            _ => None,
        }
    }

    /// Whether this is a secret found empty at plan time.
    pub fn is_empty_secret(&self) -> bool {
        matches!(self, Value::Secret { empty: true, .. })
    }

    pub(super) fn is_secret(&self) -> bool {
        matches!(self, Value::Secret { .. })
    }
}

/// Whether a desired value equals a recorded one; `None` when it cannot be known (an
/// unresolved secret, or a recorded fingerprint that is not known, with the same source).
/// Fingerprints of a secret are compared as strings: the caller carried recorded ones
/// over to the kind the desired ones are made with (see `LastApplied::carry_over`).
pub(super) fn equals_recorded(want: &Value, recorded: &RecordedValue) -> Option<bool> {
    match (want, recorded) {
        (
            Value::Plain { source, value },
            RecordedValue::Plain {
                source: rs,
                value: rv,
            },
        ) => Some(source == rs && value == rv),
        (
            Value::Secret {
                source,
                fingerprint,
                ..
            },
            RecordedValue::Secret {
                source: rs,
                fingerprint: rf,
                ..
            },
        ) => {
            if source != rs {
                Some(false)
            } else {
                Some(fingerprint.as_ref()? == rf.as_ref()?)
            }
        }
        _ => Some(false),
    }
}

/// Whether a live setting equals a value; `None` when it cannot be known. A secret is
/// compared through its fingerprint: the live value's is checked against it with
/// `fingerprinter`, which knows every kind it can compare.
pub(super) fn live_equals_value(
    value: &Value,
    live: &LiveSetting,
    fp: &Fingerprinter,
) -> Option<bool> {
    let source_ok = |source: &str| !live.source_known || live.source.as_deref() == Some(source);
    match value {
        Value::Plain { source, value } => {
            Some(source_ok(source) && live.value.as_deref() == Some(value.as_str()))
        }
        Value::Secret {
            source,
            fingerprint,
            ..
        } => {
            let want = fingerprint.as_ref()?;
            let matches = match &live.value {
                Some(v) => fp.matches(want, &Redacted::new(v.to_string()))?,
                None => false,
            };
            Some(source_ok(source) && matches)
        }
        Value::Live { .. } | Value::Hidden { .. } => None,
    }
}

/// Whether a live setting still equals what was last applied (`None`: cannot be known).
/// `paysync drift` uses the same rule as the planner.
pub(crate) fn live_equals_recorded(
    recorded: &RecordedValue,
    live: &LiveSetting,
    fp: &Fingerprinter,
) -> Option<bool> {
    live_equals_value(&Value::from_recorded(recorded), live, fp)
}

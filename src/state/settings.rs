//! [`RecordedValue`] and [`RecordedSettings`]: the settings the state records for one
//! target, held compactly (issue 22.2): one sorted list per target ([`Codes`]), sources
//! and short values inline ([`CompactString`]: up to 24 bytes without an allocation).

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::codes::Codes;

use crate::fingerprint::Fingerprint;
use crate::secrets::SecretRef;

/// A recorded (last-applied) setting value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawRecordedValue")]
pub enum RecordedValue {
    /// A secret: its reference as written (`env:NAME`, `file:PATH`) and its fingerprint,
    /// `None` when not known (the next apply writes it).
    Secret {
        #[serde(rename = "type")]
        source: CompactString,
        /// Read and written by the one reference grammar: a state that records a
        /// reference paysync cannot read is refused when it is loaded, naming it. Boxed:
        /// most recorded values are plain, and a reference inline would make every one
        /// of them larger (issue 22.2).
        #[serde(serialize_with = "crate::secrets::as_text::serialize")]
        secret: Box<SecretRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<Fingerprint>,
    },
    /// A literal value or a field source. Inline up to 24 bytes ([`CompactString`]).
    Plain {
        #[serde(rename = "type")]
        source: CompactString,
        value: CompactString,
    },
}

/// [`RecordedValue`] as read, its reference still text: parsed by [`TryFrom`], so that a
/// reference paysync cannot read is named in the error (an untagged enum would only say
/// that no variant matched).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRecordedValue {
    Secret {
        #[serde(rename = "type")]
        source: CompactString,
        secret: CompactString,
        #[serde(default)]
        fingerprint: Option<Fingerprint>,
    },
    Plain {
        #[serde(rename = "type")]
        source: CompactString,
        value: CompactString,
    },
}

impl TryFrom<RawRecordedValue> for RecordedValue {
    type Error = crate::secrets::SecretRefError;

    fn try_from(raw: RawRecordedValue) -> Result<Self, Self::Error> {
        Ok(match raw {
            RawRecordedValue::Secret {
                source,
                secret,
                fingerprint,
            } => RecordedValue::Secret {
                source,
                secret: Box::new(secret.parse()?),
                fingerprint,
            },
            RawRecordedValue::Plain { source, value } => RecordedValue::Plain { source, value },
        })
    }
}

/// One target's recorded settings.
pub type RecordedSettings = Codes<RecordedValue>;

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: &str) -> RecordedValue {
        RecordedValue::Plain {
            source: "VALUE".into(),
            value: v.into(),
        }
    }

    #[test]
    fn recorded_settings_serialise_as_a_map_of_codes() {
        let s = RecordedSettings::from([("C", plain("4")), ("A", plain("5"))]);
        let json = r#"{"A":{"type":"VALUE","value":"5"},"C":{"type":"VALUE","value":"4"}}"#;
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
        assert_eq!(serde_json::from_str::<RecordedSettings>(json).unwrap(), s);
    }
}

//! The machine-readable plan (`--format json`), format version 1.
//!
//! ```json
//! {"format_version": 1, "refreshed": false,
//!  "summary": {"has_changes": true, "targets_to_change": 1, "to_add": 1, "to_change": 1,
//!              "drifted": 0, "no_longer_managed": 0, "not_checked": 0, "to_record": 0},
//!  "targets": [{"paySystem": 11, "personType": 1, "manifest": "manifests/acme.yaml:2",
//!               "changes": [{"code": "PAYMENT_ID", "action": "add",
//!                            "after": {"type": "PAYMENT", "value": "ACCOUNT_NUMBER"}}]}]}
//! ```
//!
//! Values are `{"type", "value"}` (a live value's `type` may be null when the portal did
//! not report it, and `value` null when unset), `{"type", "secret": "env:NAME", "checked"}`
//! for secrets, and `{"type", "hidden": true}` for the live value of a secret code.
//! Fingerprints and secret values are never included. Paths appear as written: each
//! target's `manifest` (`file:line` of its document) and `file:` secret references.
//! Fields may be added within version 1; a removal or a change of meaning bumps
//! `format_version`.

use serde::Serialize;

use crate::plan::{Action, Plan, Summary, Value};

/// The version of this format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: u32,
    refreshed: bool,
    summary: JsonSummary,
    targets: Vec<JsonTarget<'a>>,
}

#[derive(Serialize)]
struct JsonSummary {
    has_changes: bool,
    #[serde(flatten)]
    counts: Summary,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    #[serde(rename = "paySystem")]
    pay_system: u64,
    #[serde(rename = "personType")]
    person_type: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<&'a str>,
    changes: Vec<JsonChange<'a>>,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    code: &'a str,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<JsonValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<JsonValue<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonValue<'a> {
    Plain {
        #[serde(rename = "type")]
        source: Option<&'a str>,
        value: Option<&'a str>,
    },
    Secret {
        #[serde(rename = "type")]
        source: &'a str,
        secret: String,
        checked: bool,
        /// Present (true) only for a secret found empty at plan time.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        empty: bool,
    },
    Hidden {
        #[serde(rename = "type")]
        source: Option<&'a str>,
        hidden: bool,
    },
}

impl<'a> From<&'a Value> for JsonValue<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Plain { source, value } => JsonValue::Plain {
                source: Some(source),
                value: Some(value),
            },
            Value::Live { source, value } => JsonValue::Plain {
                source: source.as_deref(),
                value: value.as_deref(),
            },
            Value::Secret {
                source,
                secret,
                fingerprint,
                empty,
            } => JsonValue::Secret {
                source,
                secret: secret.to_string(),
                checked: fingerprint.is_some(),
                empty: *empty,
            },
            Value::Hidden { source } => JsonValue::Hidden {
                source: source.as_deref(),
                hidden: true,
            },
        }
    }
}

/// Renders the plan as pretty JSON with a trailing newline.
pub fn render(plan: &Plan) -> String {
    let summary = plan.summary();
    let doc = JsonPlan {
        format_version: FORMAT_VERSION,
        refreshed: plan.refreshed,
        summary: JsonSummary {
            has_changes: summary.has_changes(),
            counts: summary,
        },
        targets: plan
            .targets
            .iter()
            .map(|t| JsonTarget {
                pay_system: t.target.pay_system,
                person_type: t.target.person_type,
                manifest: t.manifest.as_deref(),
                changes: t
                    .changes
                    .iter()
                    .map(|c| JsonChange {
                        code: &c.code,
                        action: c.action,
                        before: c.before.as_ref().map(JsonValue::from),
                        after: c.after.as_ref().map(JsonValue::from),
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("plan serialises");
    out.push('\n');
    out
}

//! `paysync state list --format json` and `state history --format json`: documents like
//! the others (`schema/state-list.schema.json`, `schema/state-history.schema.json`), with
//! the common header and `snake_case` keys (version 1 had camel-case keys of its own).
//! Never a value: the codes recorded, and who applied what.

use schemars::JsonSchema;
use serde::Serialize;

use crate::plan::document::Header;
use crate::state::HistoryEntry;

/// The version of both documents.
pub const FORMAT_VERSION: u32 = 2;

/// The output of `paysync state list --format json`.
#[derive(Serialize, JsonSchema)]
#[schemars(
    title = "paysync state list",
    description = "The targets and setting codes a state records (`paysync state list --format json`)."
)]
pub struct StateListDocument {
    #[serde(flatten)]
    pub header: Header,
    /// The state's location, as given (never credentials).
    pub state: String,
    pub lineage: String,
    pub serial: u64,
    pub targets: Vec<ListedTarget>,
    /// The REST handlers and pay systems the state records (created or adopted by
    /// paysync), handlers first; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ListedObject>,
}

/// One recorded handler or pay system.
#[derive(Serialize, JsonSchema)]
pub struct ListedObject {
    pub kind: crate::model::objects::ObjectKind,
    /// The handler's CODE or the pay system's XML_ID.
    pub identity: String,
    /// Its ID on this portal.
    pub id: u64,
}

/// One recorded target and its codes.
#[derive(Serialize, JsonSchema)]
pub struct ListedTarget {
    pub pay_system: u64,
    pub person_type: u64,
    /// How the manifests named it, when by reference (`xmlId:acme_card/1`).
    pub reference: Option<String>,
    /// The codes recorded, sorted.
    pub codes: Vec<String>,
}

/// The output of `paysync state history --format json`.
#[derive(Serialize, JsonSchema)]
#[schemars(
    title = "paysync state history",
    description = "The audit trail of a state, oldest first (`paysync state history --format json`)."
)]
pub struct StateHistoryDocument {
    #[serde(flatten)]
    pub header: Header,
    /// The state's location, as given (never credentials).
    pub state: String,
    pub entries: Vec<HistoryItem>,
}

/// One apply (or adoption, push) of the audit trail.
#[derive(Serialize, JsonSchema)]
pub struct HistoryItem {
    /// When it ended (RFC 3339).
    pub at: String,
    /// `apply`, `import --adopt`, `state push`...
    pub operation: String,
    pub who: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The hash of the plan applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub serial_before: u64,
    pub serial_after: u64,
    /// The targets written, each with the codes sent (never their values).
    pub written: Vec<WrittenItem>,
}

/// A target an apply wrote and the codes it sent.
#[derive(Serialize, JsonSchema)]
pub struct WrittenItem {
    /// `paySystem 11 / personType 1`.
    pub target: String,
    pub codes: Vec<String>,
}

impl From<&HistoryEntry> for HistoryItem {
    fn from(e: &HistoryEntry) -> HistoryItem {
        HistoryItem {
            at: e.at.clone(),
            operation: e.operation.clone(),
            who: e.who.clone(),
            run_url: e.run_url.clone(),
            commit: e.commit.clone(),
            plan: e.plan.clone(),
            serial_before: e.serial_before,
            serial_after: e.serial_after,
            written: e
                .written
                .iter()
                .map(|w| WrittenItem {
                    target: w.target.clone(),
                    codes: w.codes.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        }
    }
}

/// A document pretty-printed, with a final newline.
pub fn pretty(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a state document serialises");
    text.push('\n');
    text
}

/// The header of a state document: the portal the state names, the environment.
pub fn header(portal: Option<String>, environment: Option<String>) -> Header {
    Header::new(FORMAT_VERSION, &crate::ci::about(portal, environment))
}

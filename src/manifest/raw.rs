//! The raw manifest document: its shape as written, shared by serde (field names,
//! required fields, unknown fields refused) and schemars (the committed JSON Schema).
//!
//! Field values stay located YAML [`Node`]s rather than typed Rust values, and required
//! fields are `Option`s: serde stops at the first error in a document, and a manifest
//! with three bad values should get three diagnostics, so [`super::validate`] checks
//! each value (and each missing field) on its own. The schema of a setting (string |
//! integer | `{type?, value}` | `{secret}`) is therefore written out here beside the rules
//! it mirrors; tests check the examples and the bad fixtures against it, so the two
//! cannot drift apart unnoticed.
//!
//! Doc comments become schema descriptions (editors show them on hover): keep each on
//! one line, or the description gets line breaks.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

use super::located::{Located, Node};
use crate::model::Target;

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "paysync/v1";
/// The only `kind` of manifest.
pub const KIND: &str = "PaySystemSettings";
/// The largest manifest file read, in bytes (4 MiB): checked before the file is read.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Setting codes, as the portal stores them.
pub const CODE_PATTERN: &str = "^[A-Z0-9_]+$";
/// Value sources (Bitrix24 `TYPE`).
pub const SOURCE_PATTERN: &str = "^[A-Z][A-Z0-9_]*$";

/// Declares the settings paysync keeps for one pay system and one payer type; a file may hold several documents separated by `---`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "paysync manifest", transform = require_all)]
pub struct RawDocument {
    /// Manifest format version: `paysync/v1`.
    #[schemars(with = "String", extend("const" = API_VERSION))]
    #[serde(default, deserialize_with = "present")]
    pub api_version: Option<Located<Node>>,
    /// Kind of manifest: `PaySystemSettings`.
    #[schemars(with = "String", extend("const" = KIND))]
    #[serde(default, deserialize_with = "present")]
    pub kind: Option<Located<Node>>,
    /// The pay system: its ID (`sale.paysystem.list`), or portably `{ xmlId: ... }` (its XML_ID), resolved on each portal.
    #[schemars(schema_with = "pay_system_schema")]
    #[serde(default, deserialize_with = "present")]
    pub pay_system: Option<Located<Node>>,
    /// The payer type: its ID (`sale.persontype.list`), or portably `{ xmlId: ... }` or `{ code: ... }`; 0 or `default` means the pay system's default settings.
    #[schemars(schema_with = "person_type_schema")]
    #[serde(default, deserialize_with = "present")]
    pub person_type: Option<Located<Node>>,
    /// Setting code → setting. An empty map (`settings: {}`) is allowed: it declares the target as managed with no codes, so codes recorded for it earlier are forgotten.
    #[schemars(schema_with = "settings_schema")]
    #[serde(default, deserialize_with = "present")]
    pub settings: Option<Located<Node>>,
}

/// Every field of a document is required. serde sees them as optional (`default`) only
/// so that the validator can report all the missing ones at once, at the document.
fn require_all(schema: &mut Schema) {
    let fields: Vec<serde_json::Value> = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|properties| properties.keys().map(|k| k.as_str().into()).collect())
        .unwrap_or_default();
    schema.insert("required".to_owned(), fields.into());
}

/// A field that is present, even with a null value (`settings:`): `Some`, so that the
/// validator reports the value where it is rather than a missing field.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Located<Node>>, D::Error> {
    Located::deserialize(deserializer).map(Some)
}

fn pay_system_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "integer", "minimum": 1},
            {
                "type": "object",
                "properties": {"xmlId": {"type": "string", "minLength": 1}},
                "required": ["xmlId"],
                "additionalProperties": false,
            },
        ],
    })
}

fn person_type_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {"const": "default"},
            {
                "type": "object",
                "properties": {"xmlId": {"type": "string", "minLength": 1}},
                "required": ["xmlId"],
                "additionalProperties": false,
            },
            {
                "type": "object",
                "properties": {"code": {"type": "string", "minLength": 1}},
                "required": ["code"],
                "additionalProperties": false,
            },
        ],
    })
}

fn settings_schema(generator: &mut SchemaGenerator) -> Schema {
    let definitions = generator.definitions_mut();
    if !definitions.contains_key("Setting") {
        definitions.insert("Setting".to_owned(), setting_schema().to_value());
    }
    let reference = format!("#{}/Setting", generator.settings().definitions_path);
    json_schema!({
        "type": "object",
        "patternProperties": { CODE_PATTERN: { "$ref": reference } },
        "additionalProperties": false,
    })
}

fn setting_schema() -> Schema {
    json_schema!({
        "title": "Setting",
        "description": "One setting: text (shorthand for `{type: VALUE, value: ...}`), an integer (written as its decimal string), `{type, value}`, or `{secret}`.",
        "oneOf": [
            {
                "description": "Shorthand for `{type: VALUE, value: <text>}`. Quote values that YAML would read as something else (`\"true\"`, `\"1.5\"`, `\"\"`).",
                "type": "string",
            },
            {
                "description": "Written to the portal as its decimal string (`412` → \"412\").",
                "type": "integer",
            },
            {
                "title": "Value with a source",
                "type": "object",
                "properties": {
                    "type": {
                        "description": "Value source (Bitrix24 TYPE): VALUE for a literal, or ORDER, PAYMENT, USER, PROPERTY, ...",
                        "type": "string",
                        "pattern": SOURCE_PATTERN,
                        "default": "VALUE",
                    },
                    "value": {
                        "description": "The value, or the field of the source (e.g. ACCOUNT_NUMBER).",
                        "type": ["string", "integer"],
                    },
                },
                "required": ["value"],
                "additionalProperties": false,
            },
            {
                "title": "Secret reference",
                "type": "object",
                "properties": {
                    "secret": {
                        "description": format!("{}.", crate::secrets::described_forms()),
                        "type": "string",
                        "pattern": crate::secrets::pattern(),
                    },
                    "type": {
                        "description": "A secret is always a literal value.",
                        "const": "VALUE",
                    },
                },
                "required": ["secret"],
                "additionalProperties": false,
            },
        ],
    })
}

/// The JSON Schema (draft 2020-12) of a manifest document, as committed at
/// `schema/paysync.schema.json` and printed by `paysync schema`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<RawDocument>()
        .to_value();
    reader_order(schema)
}

/// A generated schema with its keys in the order a reader looks for them (schemars
/// appends some last), then `$defs`.
pub fn reader_order(schema: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Object(mut rest) = schema else {
        return schema;
    };
    let mut ordered = serde_json::Map::new();
    let first = [
        "$schema",
        "title",
        "description",
        "type",
        "properties",
        "required",
        "additionalProperties",
    ];
    for key in first {
        if let Some(value) = rest.remove(key) {
            ordered.insert(key.to_owned(), value);
        }
    }
    ordered.append(&mut rest);
    serde_json::Value::Object(ordered)
}

/// A manifest document to write ([`super::write_file`]; what `paysync import` produces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    pub target: Target,
    /// Written instead of the IDs where set (`import --portable`).
    pub reference: Option<crate::model::TargetRef>,
    /// Setting code (`[A-Z0-9_]`) → setting.
    pub settings: BTreeMap<String, NewSetting>,
}

/// One setting of a [`NewDocument`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSetting {
    /// `CODE: "value"`, a literal (`type: VALUE`).
    Literal(String),
    /// `CODE: {type: "SOURCE", value: "value"}`.
    Source { source: String, value: String },
    /// `CODE: {secret: "env:NAME"}`: the reference, never a value.
    Secret(String),
}

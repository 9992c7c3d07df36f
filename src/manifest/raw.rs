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
    // The handler's CODE (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub code: Option<Located<Node>>,
    // The object's NAME (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Located<Node>>,
    // The handler's SORT (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub sort: Option<Located<Node>>,
    // The handler's settings schema (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub codes: Option<Located<Node>>,
    // FORM_DATA (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub form: Option<Located<Node>>,
    // CHECKOUT_DATA (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub checkout: Option<Located<Node>>,
    // IFRAME_DATA (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub iframe: Option<Located<Node>>,
    // CLIENT_TYPE (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub client_type: Option<Located<Node>>,
    // CURRENCY (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub currencies: Option<Located<Node>>,
    // The pay system's XML_ID (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub xml_id: Option<Located<Node>>,
    // The pay system's handler code (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub handler: Option<Located<Node>>,
    // ENTITY_REGISTRY_TYPE (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub registry_type: Option<Located<Node>>,
    // ACTIVE (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub active: Option<Located<Node>>,
    // NEW_WINDOW (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub new_window: Option<Located<Node>>,
    // DESCRIPTION (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Located<Node>>,
    // LOGOTYPE (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub logo: Option<Located<Node>>,
    // An explicit delete (kinds `PaySystemHandler`/`PaySystem`; described in [`objects_schema`]).
    #[schemars(skip)]
    #[serde(default, deserialize_with = "present")]
    pub delete: Option<Located<Node>>,
}

/// Calls `$pass!($subject field "name", ...)` with every field of [`RawDocument`] and its
/// manifest name: the one list the passes over all fields share.
macro_rules! every_field {
    ($pass:ident!($subject:ident)) => {
        $pass!($subject
            api_version "apiVersion", kind "kind", pay_system "paySystem",
            person_type "personType", settings "settings", code "code", name "name",
            sort "sort", codes "codes", form "form", checkout "checkout", iframe "iframe",
            client_type "clientType", currencies "currencies", xml_id "xmlId",
            handler "handler", registry_type "registryType", active "active",
            new_window "newWindow", description "description", logo "logo",
            delete "delete")
    };
}

impl RawDocument {
    /// Every field present, for passes over all of them.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Located<Node>> {
        macro_rules! each {
            ($raw:ident $($field:ident $name:literal),+) => {
                [$(&mut $raw.$field),+]
            };
        }
        every_field!(each!(self)).into_iter().flatten()
    }

    /// Every field present, by its manifest name.
    pub fn present(&self) -> Vec<(&'static str, &Located<Node>)> {
        macro_rules! named {
            ($raw:ident $($field:ident $name:literal),+) => {
                [$(($name, &$raw.$field)),+]
            };
        }
        every_field!(named!(self))
            .into_iter()
            .filter_map(|(name, node)| Some((name, node.as_ref()?)))
            .collect()
    }
}

/// The fields of a `PaySystemSettings` document.
pub const SETTINGS_FIELDS: &[&str] = &["apiVersion", "kind", "paySystem", "personType", "settings"];

/// The fields of a `PaySystemHandler` document.
pub const HANDLER_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "code",
    "name",
    "sort",
    "codes",
    "form",
    "checkout",
    "iframe",
    "clientType",
    "currencies",
    "delete",
];

/// The fields of a `PaySystem` document.
pub const PAY_SYSTEM_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "xmlId",
    "name",
    "handler",
    "personType",
    "registryType",
    "active",
    "newWindow",
    "description",
    "logo",
    "delete",
];

/// The fields of a document of `kind` (as written; settings for any other).
pub fn fields_of_kind(kind: &str) -> &'static [&'static str] {
    match kind {
        "PaySystemHandler" => HANDLER_FIELDS,
        "PaySystem" => PAY_SYSTEM_FIELDS,
        _ => SETTINGS_FIELDS,
    }
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
    let settings = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<RawDocument>()
        .to_value();
    let serde_json::Value::Object(mut settings) = settings else {
        unreachable!("a root schema is an object")
    };
    let mut root = serde_json::Map::new();
    for key in ["$schema", "title"] {
        if let Some(value) = settings.remove(key) {
            root.insert(key.to_owned(), value);
        }
    }
    root.insert(
        "description".to_owned(),
        "One document of a paysync manifest: the settings of a pay system for a payer type \
         (`PaySystemSettings`), a REST handler (`PaySystemHandler`) or a pay system \
         (`PaySystem`); a file may hold several documents separated by `---`."
            .into(),
    );
    let definitions = settings.remove("$defs");
    settings.insert("title".to_owned(), KIND.into());
    let settings = reader_order(serde_json::Value::Object(settings));
    root.insert(
        "oneOf".to_owned(),
        serde_json::json!([settings, handler_schema(), pay_system_document_schema()]),
    );
    if let Some(definitions) = definitions {
        root.insert("$defs".to_owned(), definitions);
    }
    serde_json::Value::Object(root)
}

/// The `PaySystemHandler` document (issue 24); its rules are in
/// `validate/objects.rs`, and tests check the examples against this.
fn handler_schema() -> serde_json::Value {
    let text = serde_json::json!({"type": "string", "minLength": 1});
    let identity = serde_json::json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"});
    let field = serde_json::json!({
        "description": "A form field: `code` names a setting of `codes`, or `name`/`type` ask the buyer.",
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": CODE_PATTERN},
            "name": text,
            "type": {"enum": ["STRING", "Y/N"]},
            "visible": {"type": "boolean", "description": "Shown to the buyer (Y) or hidden (N, the default)."},
        },
        "additionalProperties": false,
    });
    let mode = |description: &str, form: bool| {
        let mut properties = serde_json::json!({
            "actionUri": {"type": "string", "minLength": 1, "description": "The address buyers are sent to (ACTION_URI)."},
            "fields": {"type": "object", "additionalProperties": field},
        });
        if form {
            properties["method"] = serde_json::json!({"enum": ["GET", "POST"]});
        }
        serde_json::json!({
            "description": description,
            "type": "object",
            "properties": properties,
            "required": ["actionUri"],
            "additionalProperties": false,
        })
    };
    serde_json::json!({
        "title": "PaySystemHandler",
        "description": "A REST handler (sale.paysystem.handler.add), identified by its `code`: the settings it declares and how buyers pay.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "const": API_VERSION},
            "kind": {"type": "string", "const": "PaySystemHandler"},
            "code": {"description": "The handler's CODE: unique on the portal, fixed once created.", "allOf": [identity]},
            "name": {"description": "The handler's NAME.", "allOf": [text]},
            "sort": {"description": "SORT (default 100).", "type": "integer"},
            "codes": {
                "description": "The settings the handler declares (SETTINGS.CODES): code → its description.",
                "type": "object",
                "patternProperties": {CODE_PATTERN: {
                    "type": ["object", "null"],
                    "properties": {
                        "name": text,
                        "description": {"type": "string"},
                        "sort": {"type": "integer"},
                        "group": text,
                        "default": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string", "pattern": SOURCE_PATTERN, "default": "VALUE"},
                                "value": {"type": ["string", "integer"]},
                            },
                            "required": ["value"],
                            "additionalProperties": false,
                        },
                        "input": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string", "description": "STRING, Y/N or ENUM (with `options`)."},
                                "options": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                            "required": ["type"],
                            "additionalProperties": false,
                        },
                    },
                    "additionalProperties": false,
                }},
                "additionalProperties": false,
            },
            "form": mode("Form mode (FORM_DATA); one of `form`, `checkout`, `iframe`.", true),
            "checkout": mode("Checkout mode (CHECKOUT_DATA); one of `form`, `checkout`, `iframe`.", false),
            "iframe": mode("Iframe mode (IFRAME_DATA); one of `form`, `checkout`, `iframe`.", false),
            "clientType": {"enum": ["b2c", "b2b"], "description": "CLIENT_TYPE (b2c by default)."},
            "currencies": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{3}$"}, "description": "CURRENCY: the currencies it accepts."},
            "delete": {"type": "boolean", "description": "Delete this handler from the portal (shown under \"Needs attention\" in the plan)."},
        },
        "required": ["apiVersion", "kind", "code"],
        "additionalProperties": false,
    })
}

/// The `PaySystem` document (issue 24).
fn pay_system_document_schema() -> serde_json::Value {
    let text = serde_json::json!({"type": "string", "minLength": 1});
    serde_json::json!({
        "title": "PaySystem",
        "description": "A pay system (sale.paysystem.add) backed by a REST handler, identified by its `xmlId`.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "const": API_VERSION},
            "kind": {"type": "string", "const": "PaySystem"},
            "xmlId": {"description": "The pay system's XML_ID: how paysync finds it on every portal; fixed once created.", "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
            "name": {"description": "NAME.", "allOf": [text]},
            "handler": {"description": "The CODE of its REST handler (BX_REST_HANDLER).", "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
            "personType": person_type_schema(&mut SchemaGenerator::default()).to_value(),
            "registryType": {"enum": ["ORDER", "CRM_INVOICE", "CRM_QUOTE"], "description": "ENTITY_REGISTRY_TYPE: fixed when the pay system is created."},
            "active": {"type": "boolean", "description": "ACTIVE (the portal's default: false)."},
            "newWindow": {"type": "boolean", "description": "NEW_WINDOW (the portal's default: false)."},
            "description": {"type": "string", "description": "DESCRIPTION."},
            "logo": {"type": "string", "pattern": "^file:.+", "description": "LOGOTYPE: `file:PATH`, an image relative to the manifest (at most 1 MiB)."},
            "delete": {"type": "boolean", "description": "Delete this pay system from the portal (shown under \"Needs attention\" in the plan)."},
        },
        "required": ["apiVersion", "kind", "xmlId"],
        "additionalProperties": false,
    })
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

/// A `PaySystemHandler` document to write (`import --all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHandler {
    pub code: String,
    pub name: String,
    pub sort: Option<i64>,
    /// The other fields as the manifest spells them (`codes`, `iframe`, `clientType`,
    /// `currencies`, ...), in the manifest's own shape.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A `PaySystem` document to write (`import --all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaySystem {
    pub xml_id: String,
    pub name: String,
    pub handler: String,
    pub person_type: crate::model::PersonTypeRef,
    pub registry_type: String,
    pub active: Option<bool>,
    pub new_window: Option<bool>,
    pub description: Option<String>,
}

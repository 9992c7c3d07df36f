//! Handlers and pay systems declared in Git (issue 24): the two object kinds beside
//! `PaySystemSettings`, as validated from manifests, and the one way their fields are
//! compared — a flat map of field path → text ([`Fields`]), the same for what the
//! manifests declare, what the state recorded and what the portal returned.
//!
//! A REST handler is identified by its `CODE`, a pay system by its `XML_ID`: neither
//! changes after creation, and both are what apply looks an object up by before it
//! creates one (so a kill between the portal's answer and the state's record, or an
//! object made by hand, is adopted rather than made twice).
//!
//! No I/O here: the logo's file is read when the manifests are loaded.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::basics::{Origin, PersonTypeRef};

/// The two kinds of object.
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
pub enum ObjectKind {
    /// A REST handler (`sale.paysystem.handler.*`), identified by its `CODE`.
    Handler,
    /// A pay system (`sale.paysystem.*`), identified by its `XML_ID`.
    PaySystem,
}

impl ObjectKind {
    /// The manifest `kind`.
    pub fn manifest_kind(self) -> &'static str {
        match self {
            ObjectKind::Handler => "PaySystemHandler",
            ObjectKind::PaySystem => "PaySystem",
        }
    }

    /// How an object of this kind is named in messages: `handler acmepay`,
    /// `pay system xmlId:acme_card`.
    pub fn name(self, identity: &str) -> String {
        match self {
            ObjectKind::Handler => format!("handler {identity}"),
            ObjectKind::PaySystem => format!("pay system xmlId:{identity}"),
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Handler => "handler",
            ObjectKind::PaySystem => "pay system",
        })
    }
}

/// An object's fields as compared: field path (`NAME`, `SETTINGS.CODES.KEY.NAME`) → its
/// value as text. Sorted, so two maps diff in one pass.
pub type Fields = BTreeMap<String, String>;

/// The fields the portal fixes at creation: changing one is a plan error, never a
/// silent replacement.
pub const IMMUTABLE_PAY_SYSTEM_FIELDS: &[&str] = &["ENTITY_REGISTRY_TYPE"];

/// A REST handler as a manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredHandler {
    /// `CODE`: the identity (and the pay systems' `BX_REST_HANDLER`).
    pub code: String,
    /// Where the document starts.
    pub origin: Origin,
    pub name: String,
    /// `SORT`, when declared.
    pub sort: Option<i64>,
    /// `SETTINGS` in the portal's shape, whole: `handler.update` replaces it wholesale.
    pub settings: Map<String, Value>,
    /// Where each code of `SETTINGS.CODES` is declared.
    pub codes: BTreeMap<String, Origin>,
    /// An explicit `delete: true`: the handler is to be deleted.
    pub delete: bool,
}

impl DesiredHandler {
    /// The fields as sent to `handler.add` / `handler.update`.
    pub fn request_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("NAME".into(), self.name.clone().into());
        if let Some(sort) = self.sort {
            fields.insert("SORT".into(), sort.into());
        }
        fields.insert("SETTINGS".into(), Value::Object(self.settings.clone()));
        fields
    }

    /// The fields as compared.
    pub fn fields(&self) -> Fields {
        sent_fields(ObjectKind::Handler, &self.request_fields())
    }
}

/// A pay system as a manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPaySystem {
    /// `XML_ID`: the identity.
    pub xml_id: String,
    /// Where the document starts.
    pub origin: Origin,
    pub name: String,
    /// The handler's `CODE` (`BX_REST_HANDLER`).
    pub handler: String,
    /// The payer type (`PERSON_TYPE_ID`), by ID or portably.
    pub person_type: PersonTypeRef,
    /// `ENTITY_REGISTRY_TYPE`: `ORDER`, `CRM_INVOICE` or `CRM_QUOTE`; fixed at creation.
    pub registry_type: String,
    /// Where `registryType` is declared (errors about a changed registry type point
    /// there).
    pub registry_at: Origin,
    pub active: Option<bool>,
    pub new_window: Option<bool>,
    pub description: Option<String>,
    /// The logo (`LOGOTYPE`), read from `file:`: the file's bytes, base64, and their
    /// SHA-256 (what is compared: the portal does not return the image).
    pub logo: Option<Logo>,
    /// An explicit `delete: true`: the pay system is to be deleted.
    pub delete: bool,
}

/// A pay system's logo, read from its file.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    /// `file:PATH` as written.
    pub written: String,
    pub base64: String,
    /// `sha256:<hex>` of the file's bytes.
    pub digest: String,
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Logo({} {})", self.written, self.digest)
    }
}

/// The field of a pay system's payer type, as compared.
pub const PERSON_TYPE_FIELD: &str = "PERSON_TYPE_ID";
/// The field of a pay system's logo, as compared (its digest: never read back).
pub const LOGO_FIELD: &str = "LOGOTYPE";

impl DesiredPaySystem {
    /// The fields as compared; `person_type` is the payer type's ID when it is known
    /// (by ID, or resolved on the portal), else the reference as written.
    pub fn fields(&self, person_type: Option<u64>) -> Fields {
        let mut out = Fields::new();
        out.insert("NAME".into(), self.name.clone());
        out.insert("BX_REST_HANDLER".into(), self.handler.clone());
        out.insert(
            PERSON_TYPE_FIELD.into(),
            match (person_type, &self.person_type) {
                (Some(id), _) | (None, &PersonTypeRef::Id(id)) => id.to_string(),
                (None, other) => person_type_text(other),
            },
        );
        out.insert("ENTITY_REGISTRY_TYPE".into(), self.registry_type.clone());
        if let Some(active) = self.active {
            out.insert("ACTIVE".into(), yes_no(active).into());
        }
        if let Some(new_window) = self.new_window {
            out.insert("NEW_WINDOW".into(), yes_no(new_window).into());
        }
        if let Some(description) = &self.description {
            out.insert("DESCRIPTION".into(), description.clone());
        }
        if let Some(logo) = &self.logo {
            out.insert(LOGO_FIELD.into(), logo.digest.clone());
        }
        out
    }

    /// The fields as sent to `sale.paysystem.add` (`creating`) or `.update`: every
    /// declared one; an update always names the handler and the payer type (older
    /// portals require both, bitrix24-api.md §5.6) and never the registry type.
    pub fn request_fields(&self, person_type: u64, creating: bool) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("NAME".into(), self.name.clone().into());
        fields.insert("XML_ID".into(), self.xml_id.clone().into());
        fields.insert("BX_REST_HANDLER".into(), self.handler.clone().into());
        fields.insert("PERSON_TYPE_ID".into(), person_type.into());
        if creating {
            fields.insert(
                "ENTITY_REGISTRY_TYPE".into(),
                self.registry_type.clone().into(),
            );
        }
        if let Some(active) = self.active {
            fields.insert("ACTIVE".into(), yes_no(active).into());
        }
        if let Some(new_window) = self.new_window {
            fields.insert("NEW_WINDOW".into(), yes_no(new_window).into());
        }
        if let Some(description) = &self.description {
            fields.insert("DESCRIPTION".into(), description.clone().into());
        }
        if let Some(logo) = &self.logo {
            fields.insert("LOGOTYPE".into(), logo.base64.clone().into());
        }
        fields
    }
}

/// The fields as compared of what is sent to the portal (`send`, a handler's or a pay
/// system's request fields with its payer type resolved): what apply records. A pay
/// system's `XML_ID` is its identity, not a field; its logo is compared by digest.
pub fn sent_fields(kind: ObjectKind, send: &Map<String, Value>) -> Fields {
    let mut out = Fields::new();
    match kind {
        ObjectKind::Handler => {
            for (key, value) in send {
                flatten_into(key, value, &mut out);
            }
        }
        ObjectKind::PaySystem => {
            for (key, value) in send {
                match key.as_str() {
                    "XML_ID" => {}
                    "LOGOTYPE" => {
                        use base64::Engine as _;
                        use sha2::Digest;
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(scalar_text(value))
                            .unwrap_or_default();
                        out.insert(
                            LOGO_FIELD.into(),
                            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
                        );
                    }
                    _ => {
                        out.insert(key.clone(), scalar_text(value));
                    }
                }
            }
        }
    }
    out
}

/// `xmlId:fiz`, `code:fiz`: a payer type reference as text.
pub fn person_type_text(reference: &PersonTypeRef) -> String {
    match reference {
        PersonTypeRef::Id(id) => id.to_string(),
        PersonTypeRef::XmlId(x) => format!("xmlId:{x}"),
        PersonTypeRef::Code(c) => format!("code:{c}"),
        PersonTypeRef::Either(e) => e.clone(),
    }
}

/// `Y` or `N`.
pub fn yes_no(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// The handlers and pay systems the manifests declare, by identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredObjects {
    pub handlers: BTreeMap<String, DesiredHandler>,
    pub pay_systems: BTreeMap<String, DesiredPaySystem>,
}

impl DesiredObjects {
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.pay_systems.is_empty()
    }

    /// Whether a pay system names its payer type portably (`xmlId`/`code`): resolving
    /// it needs the portal's payer types.
    pub fn names_person_types_portably(&self) -> bool {
        self.pay_systems
            .values()
            .any(|p| !matches!(p.person_type, PersonTypeRef::Id(_)))
    }

    /// Whether the manifests declare (and do not delete) a pay system with this `XML_ID`.
    pub fn creates_pay_system(&self, xml_id: &str) -> bool {
        self.pay_systems.get(xml_id).is_some_and(|p| !p.delete)
    }
}

/// Flattens `value` into `out` under `prefix`: a mapping's entries under
/// `prefix.KEY`, a list as one `[a, b]` text, a scalar as its text. Empty mappings and
/// lists add nothing (the portal returns an empty mapping as `[]`).
pub fn flatten_into(prefix: &str, value: &Value, out: &mut Fields) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten_into(&format!("{prefix}.{key}"), value, out);
            }
        }
        Value::Array(items) if items.is_empty() => {}
        Value::Array(items) => {
            let texts: Vec<String> = items.iter().map(scalar_text).collect();
            out.insert(prefix.to_owned(), format!("[{}]", texts.join(", ")));
        }
        other => {
            out.insert(prefix.to_owned(), scalar_text(other));
        }
    }
}

/// A scalar as text: a string as itself, a number in decimal, `null` as empty.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_flatten_to_paths_with_numbers_as_text_and_empties_dropped() {
        let mut out = Fields::new();
        flatten_into(
            "SETTINGS",
            &json!({"CODES": {"A": {"NAME": "Key", "SORT": 100}, "B": {"SORT": "100"}},
                    "CURRENCY": ["EUR", "USD"], "IFRAME_DATA": {"FIELDS": {}}, "X": []}),
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            [
                ("SETTINGS.CODES.A.NAME".into(), "Key".into()),
                ("SETTINGS.CODES.A.SORT".into(), "100".into()),
                ("SETTINGS.CODES.B.SORT".into(), "100".into()),
                ("SETTINGS.CURRENCY".into(), "[EUR, USD]".into()),
            ]
        );
    }
}

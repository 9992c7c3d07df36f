//! `import --all` of the portal's REST handlers and pay systems (issue 24): each handler
//! as a `PaySystemHandler` document (its `SETTINGS` turned back into the manifest's
//! fields), each REST pay system with an `XML_ID` as a `PaySystem` document. Applied to
//! an empty portal, the documents make the same handlers and pay systems (under that
//! portal's IDs). Pure: the command reads the portal and writes the files.
//!
//! Decisions (also in docs/objects.md):
//! - A pay system without an `XML_ID` cannot be found on another portal: no `PaySystem`
//!   document is written for it (its settings are, by ID) and the report says so.
//! - What the manifest format has no field for (a handler's deprecated `PARAMS`, keys the
//!   docs do not list) is left out; the report names each, per handler.
//! - The logo is not imported: the portal does not return the image.
//! - Portal text is untrusted: every string read is scrubbed of the secrets paysync holds
//!   before it is written, and written double-quoted (control and invisible characters
//!   escaped).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::live::PaySystem;
use crate::manifest::{NewHandler, NewPaySystem};

/// A handler as `sale.paysystem.handler.list` returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalHandler {
    pub id: u64,
    pub code: String,
    pub name: String,
    pub sort: Option<i64>,
    pub settings: Value,
}

/// `handler.list`'s result, by `CODE` (untrusted: only shaped here, written quoted).
pub fn portal_handlers(result: &Value) -> Vec<PortalHandler> {
    let items: Vec<&Value> = match result {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| {
            Some(PortalHandler {
                id: item
                    .get("ID")
                    .and_then(integer)
                    .and_then(|id| u64::try_from(id).ok())?,
                code: scrubbed(&text(item.get("CODE")?)?),
                name: scrubbed(&item.get("NAME").and_then(text).unwrap_or_default()),
                sort: item.get("SORT").and_then(integer),
                settings: scrub_strings(item.get("SETTINGS").unwrap_or(&Value::Null)),
            })
        })
        .collect()
}

/// Portal text with every secret paysync holds taken out (it is written to files).
fn scrubbed(text: &str) -> String {
    crate::untrusted::scrub(text).into_owned()
}

/// `value` with every string (keys too) scrubbed of the secrets paysync holds.
fn scrub_strings(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(scrubbed(s)),
        Value::Array(items) => Value::Array(items.iter().map(scrub_strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (scrubbed(k), scrub_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A handler's document, and what of its `SETTINGS` the manifest cannot say (left out).
pub fn handler_document(handler: &PortalHandler) -> (NewHandler, Vec<String>) {
    let mut left_out = Vec::new();
    let mut fields = Map::new();
    let empty = Map::new();
    let settings = handler.settings.as_object().unwrap_or(&empty);
    // The manifest's order whatever the portal's: the settings schema, the mode, the
    // rest (written the same from every portal).
    const ORDER: [&str; 6] = [
        "CODES",
        "FORM_DATA",
        "CHECKOUT_DATA",
        "IFRAME_DATA",
        "CLIENT_TYPE",
        "CURRENCY",
    ];
    let rank = |key: &str| ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len());
    let mut keys: Vec<(&String, &Value)> = settings.iter().collect();
    keys.sort_by_key(|(key, _)| rank(key));
    for (key, value) in keys {
        match key.as_str() {
            "CODES" => {
                let mut codes = Map::new();
                for (code, descriptor) in value.as_object().unwrap_or(&empty) {
                    let code = code.to_uppercase();
                    codes.insert(code.clone(), code_fields(&code, descriptor, &mut left_out));
                }
                fields.insert("codes".into(), Value::Object(codes));
            }
            "FORM_DATA" | "CHECKOUT_DATA" | "IFRAME_DATA" => {
                let mode = match key.as_str() {
                    "FORM_DATA" => "form",
                    "CHECKOUT_DATA" => "checkout",
                    _ => "iframe",
                };
                fields.insert(mode.into(), mode_fields(key, value, &mut left_out));
            }
            "CLIENT_TYPE" => {
                if let Some(client) = text(value) {
                    fields.insert("clientType".into(), client.into());
                }
            }
            "CURRENCY" => {
                let list: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(text)
                    .map(Value::String)
                    .collect();
                if !list.is_empty() {
                    fields.insert("currencies".into(), Value::Array(list));
                }
            }
            other => left_out.push(format!("SETTINGS.{other}")),
        }
    }
    (
        NewHandler {
            code: handler.code.clone(),
            name: handler.name.clone(),
            sort: handler.sort,
            fields,
        },
        left_out,
    )
}

/// One `CODES` descriptor as manifest fields.
fn code_fields(code: &str, descriptor: &Value, left_out: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    let empty = Map::new();
    for (key, value) in descriptor.as_object().unwrap_or(&empty) {
        match key.as_str() {
            "NAME" | "DESCRIPTION" | "GROUP" => {
                if let Some(t) = text(value) {
                    out.insert(key.to_lowercase(), t.into());
                }
            }
            "SORT" => {
                if let Some(n) = integer(value) {
                    out.insert("sort".into(), n.into());
                }
            }
            "DEFAULT" => {
                let source = value.get("PROVIDER_KEY").and_then(text);
                let field = value.get("PROVIDER_VALUE").and_then(text);
                if let (Some(source), Some(field)) = (source, field) {
                    out.insert(
                        "default".into(),
                        serde_json::json!({"type": source, "value": field}),
                    );
                }
            }
            "INPUT" => {
                let mut input = Map::new();
                if let Some(kind) = value.get("TYPE").and_then(text) {
                    input.insert("type".into(), kind.into());
                }
                if let Some(options) = value.get("OPTIONS").and_then(Value::as_object) {
                    let options: Map<String, Value> = options
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), Value::String(text(v)?))))
                        .collect();
                    input.insert("options".into(), Value::Object(options));
                }
                if input.contains_key("type") {
                    out.insert("input".into(), Value::Object(input));
                }
            }
            other => left_out.push(format!("SETTINGS.CODES.{code}.{other}")),
        }
    }
    Value::Object(out)
}

/// A mode (`IFRAME_DATA`, ...) as manifest fields.
fn mode_fields(key: &str, value: &Value, left_out: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    let empty = Map::new();
    for (field, v) in value.as_object().unwrap_or(&empty) {
        match field.as_str() {
            "ACTION_URI" => {
                if let Some(uri) = text(v) {
                    out.insert("actionUri".into(), uri.into());
                }
            }
            "METHOD" if key == "FORM_DATA" => {
                if let Some(method) = text(v).filter(|m| m == "GET" || m == "POST") {
                    out.insert("method".into(), method.into());
                }
            }
            "FIELDS" => {
                let mut fields = Map::new();
                for (name, spec) in v.as_object().unwrap_or(&empty) {
                    let mut one = Map::new();
                    match spec.get("CODE") {
                        Some(Value::Object(input)) => {
                            if let Some(n) = input.get("NAME").and_then(text) {
                                one.insert("name".into(), n.into());
                            }
                            let kind = input
                                .get("TYPE")
                                .or_else(|| input.get("INPUT").and_then(|i| i.get("TYPE")))
                                .and_then(text);
                            if let Some(kind) = kind {
                                one.insert("type".into(), kind.into());
                            }
                        }
                        Some(code) => {
                            if let Some(c) = text(code) {
                                one.insert("code".into(), c.into());
                            }
                        }
                        None => {}
                    }
                    if let Some(visible) = spec.get("VISIBLE").and_then(text) {
                        one.insert("visible".into(), Value::Bool(visible == "Y"));
                    }
                    fields.insert(name.clone(), Value::Object(one));
                }
                out.insert("fields".into(), Value::Object(fields));
            }
            other => left_out.push(format!("SETTINGS.{key}.{other}")),
        }
    }
    Value::Object(out)
}

/// A pay system's document (`None` without an `XML_ID`); `person_type` is how the
/// document names its payer type (an ID, or `{ xmlId: ... }` / `{ code: ... }`).
pub fn pay_system_document(
    system: &PaySystem,
    fields: &BTreeMap<String, String>,
    person_type: crate::model::PersonTypeRef,
) -> Option<NewPaySystem> {
    let xml_id = system.xml_id.clone().filter(|x| !x.is_empty())?;
    let flag = |field: &str| fields.get(field).map(|v| v == "Y");
    Some(NewPaySystem {
        xml_id,
        name: system.name.clone().unwrap_or_default(),
        handler: system.action_file.clone(),
        person_type,
        registry_type: fields
            .get("ENTITY_REGISTRY_TYPE")
            .cloned()
            .unwrap_or_else(|| "CRM_INVOICE".to_owned()),
        active: flag("ACTIVE"),
        new_window: flag("NEW_WINDOW"),
        description: fields.get("DESCRIPTION").filter(|d| !d.is_empty()).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_handler_s_settings_become_its_manifest_fields_and_what_has_none_is_named() {
        let handler = PortalHandler {
            id: 1,
            code: "acmepay".into(),
            name: "AcmePay".into(),
            sort: Some(100),
            settings: json!({
                "CODES": {"KEY": {"NAME": "Key", "SORT": "200", "EXTRA": 1},
                          "MODE": {"INPUT": {"TYPE": "ENUM", "OPTIONS": {"A": "a"}}},
                          "PAYMENT_ID": {"DEFAULT": {"PROVIDER_KEY": "PAYMENT", "PROVIDER_VALUE": "ACCOUNT_NUMBER"}}},
                "IFRAME_DATA": {"ACTION_URI": "https://x", "FIELDS": {"k": {"CODE": "KEY", "VISIBLE": "Y"},
                                                                        "b": {"CODE": {"NAME": "Buyer", "TYPE": "STRING"}}},
                                "PARAMS": {}},
                "CURRENCY": ["EUR"], "CLIENT_TYPE": "b2b"
            }),
        };
        let (doc, left_out) = handler_document(&handler);
        assert_eq!(
            Value::Object(doc.fields),
            json!({
                "codes": {"KEY": {"name": "Key", "sort": 200},
                          "MODE": {"input": {"type": "ENUM", "options": {"A": "a"}}},
                          "PAYMENT_ID": {"default": {"type": "PAYMENT", "value": "ACCOUNT_NUMBER"}}},
                "iframe": {"actionUri": "https://x", "fields": {"k": {"code": "KEY", "visible": true},
                                                                  "b": {"name": "Buyer", "type": "STRING"}}},
                "currencies": ["EUR"], "clientType": "b2b"
            })
        );
        assert_eq!(
            left_out,
            ["SETTINGS.CODES.KEY.EXTRA", "SETTINGS.IFRAME_DATA.PARAMS"]
        );
    }
}

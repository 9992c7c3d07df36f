//! Parsers of the list answers the portal sends: each returns what it read or why the
//! answer does not have the documented shape. No I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::catalog::*;
use crate::untrusted::portal_text;

/// An ID the portal may send as a number or a decimal string.
pub(super) fn id(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A name or code the portal sends that paysync shows (in diagnostics, the import's file
/// headers): untrusted text, scrubbed, cut and escaped ([`portal_text`]). Codes are only
/// compared with codes treated the same way, or with manifest codes (`[A-Z0-9_]`), which
/// the escaping leaves alone.
fn shown_text(value: Option<&Value>) -> Option<String> {
    text(value).map(|t| portal_text(&t))
}

/// A PHP array as JSON: a list, or an object keyed by index (or by name).
pub(super) fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

/// `sale.paysystem.handler.list`'s result: handlers with their `SETTINGS.CODES`.
pub fn parse_handlers(result: &Value) -> Result<Vec<Handler>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the handler list is not a list".into());
    }
    let mut handlers = Vec::new();
    for item in items(result) {
        let Some(code) = shown_text(item.get("CODE")) else {
            return Err("a handler has no CODE".into());
        };
        let codes = match item.get("SETTINGS").and_then(|s| s.get("CODES")) {
            Some(Value::Object(codes)) => codes
                .iter()
                .map(|(name, declared)| {
                    (portal_text(&name.to_uppercase()), declared_code(declared))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        handlers.push(Handler { code, codes });
    }
    Ok(handlers)
}

fn declared_code(declared: &Value) -> DeclaredCode {
    let default = declared
        .get("DEFAULT")
        .and_then(|d| Some((text(d.get("PROVIDER_KEY"))?, text(d.get("PROVIDER_VALUE"))?)));
    DeclaredCode {
        input: input(declared),
        name: shown_text(declared.get("NAME")),
        default,
    }
}

fn input(declared: &Value) -> Input {
    let Some(input) = declared.get("INPUT") else {
        return Input::Free;
    };
    let kind = input
        .get("TYPE")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    match kind.as_str() {
        "Y/N" => Input::YesNo,
        "ENUM" => match input.get("OPTIONS") {
            // `{KEY: label}`: the keys are the values; a plain list holds the values.
            Some(Value::Object(options)) => Input::Enum(options.keys().cloned().collect()),
            Some(Value::Array(options)) => {
                Input::Enum(options.iter().filter_map(|o| text(Some(o))).collect())
            }
            _ => Input::Free,
        },
        _ => Input::Free,
    }
}

/// `sale.paysystem.list`'s result: pay systems by ID.
pub fn parse_pay_systems(result: &Value) -> Result<BTreeMap<u64, PaySystem>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the pay-system list is not a list".into());
    }
    let mut pay_systems = BTreeMap::new();
    for item in items(result) {
        let Some(id) = id(item.get("ID")) else {
            return Err("a pay system has no numeric ID".into());
        };
        pay_systems.insert(
            id,
            PaySystem {
                id,
                name: shown_text(item.get("NAME")),
                xml_id: text(item.get("XML_ID")).filter(|x| !x.is_empty()),
                action_file: shown_text(item.get("ACTION_FILE")).unwrap_or_default(),
            },
        );
    }
    Ok(pay_systems)
}

/// One page of `sale.persontype.list`: `{"personTypes": [...]}` (the docs' unwrapped
/// list is accepted too); the payer types on it.
pub fn parse_person_types(result: &Value) -> Result<Vec<(u64, PersonType)>, String> {
    let list = match result {
        Value::Object(map) => map
            .get("personTypes")
            .ok_or_else(|| "the answer has no personTypes".to_owned())?,
        other => other,
    };
    items(list)
        .into_iter()
        .map(|p| {
            let id = id(p.get("id")).ok_or_else(|| "a payer type has no numeric id".to_owned())?;
            Ok((
                id,
                PersonType {
                    name: shown_text(p.get("name")),
                    xml_id: text(p.get("xmlId")).filter(|x| !x.is_empty()),
                    code: text(p.get("code")).filter(|c| !c.is_empty()),
                },
            ))
        })
        .collect()
}

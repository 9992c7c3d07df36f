//! `sale.paysystem.add/list/update/delete` (bitrix24-api.md §5.5–5.8): pay systems bound to
//! a handler and a registry type. `list` validates SELECT/FILTER/ORDER against the allowed
//! fields and returns every matching row (no paging) with int `ID`/`PERSON_TYPE_ID`/`SORT`.
//! Built-in pay systems (not a REST handler) answer `ACCESS_DENIED` to update and delete.

use serde_json::{Map, Value, json};

use super::call::Call;
use super::filter::{Condition, is_descending, sort_rows};
use crate::envelope::{ApiError, Output};
use crate::php;
use crate::portal::{Mapping, PaySystem, Portal, check_owner};

/// `ALLOWED_PAYSYSTEM_FIELDS` of the current source, in the order rows are rendered
/// (internal names). No `LOGOTIP`: only the older source allowed it (shown as
/// `LOGOTYPE`); the docs' list has no logo, so `LOGOTYPE` in SELECT, FILTER or ORDER is
/// `ERROR_CHECK_FAILURE` like any other unknown field.
const ALLOWED_FIELDS: &[&str] = &[
    "ID",
    "PERSON_TYPE_ID",
    "NAME",
    "PSA_NAME",
    "SORT",
    "DESCRIPTION",
    "ACTION_FILE",
    "RESULT_FILE",
    "NEW_WINDOW",
    "TARIF",
    "PS_MODE",
    "HAVE_PAYMENT",
    "HAVE_ACTION",
    "HAVE_RESULT",
    "HAVE_PREPAY",
    "HAVE_PRICE",
    "HAVE_RESULT_RECEIVE",
    "ENCODING",
    "ACTIVE",
    "ALLOW_EDIT_PAYMENT",
    "IS_CASH",
    "AUTO_CHANGE_1C",
    "CAN_PRINT_CHECK",
    "ENTITY_REGISTRY_TYPE",
    "XML_ID",
];

/// Incoming alias → internal field name.
fn incoming(field: &str) -> &str {
    match field {
        "TARIFF" => "TARIF",
        other => other,
    }
}

/// Internal field name → the name a row shows.
fn outgoing(field: &str) -> &str {
    match field {
        "TARIF" => "TARIFF",
        other => other,
    }
}

fn not_found() -> ApiError {
    ApiError::new(400, "ERROR_PAY_SYSTEM_NOT_FOUND", "Pay system not found")
}

fn handler_not_found() -> ApiError {
    ApiError::new(400, "ERROR_HANDLER_NOT_FOUND", "Handler not found")
}

fn person_type_not_found() -> ApiError {
    ApiError::new(
        400,
        "ERROR_PERSON_TYPE_NOT_FOUND",
        "Incorrect person type id!",
    )
}

fn opt_string(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::String)
}

/// A pay system as a row keyed by internal field names.
fn row(p: &PaySystem) -> Map<String, Value> {
    let mut row = Map::new();
    for field in ALLOWED_FIELDS {
        let value = match *field {
            "ID" => json!(p.id),
            "PERSON_TYPE_ID" => json!(p.person_type_id),
            "NAME" => json!(p.name),
            "PSA_NAME" => opt_string(&p.psa_name),
            "SORT" => json!(p.sort),
            "DESCRIPTION" => opt_string(&p.description),
            "ACTION_FILE" => json!(p.action_file),
            "NEW_WINDOW" => json!(p.new_window),
            "ACTIVE" => json!(p.active),
            "IS_CASH" => json!(p.is_cash),
            "ENTITY_REGISTRY_TYPE" => json!(p.entity_registry_type),
            "XML_ID" => opt_string(&p.xml_id),
            "HAVE_RESULT_RECEIVE" | "ALLOW_EDIT_PAYMENT" => json!("Y"),
            "HAVE_PAYMENT" | "HAVE_ACTION" | "HAVE_RESULT" | "HAVE_PREPAY" | "HAVE_PRICE"
            | "AUTO_CHANGE_1C" | "CAN_PRINT_CHECK" => json!("N"),
            _ => Value::Null,
        };
        row.insert((*field).to_owned(), value);
    }
    row
}

fn not_allowed(fields: &[String], part: &str) -> Result<(), ApiError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::check_failure(format!(
            "{} not allowed for {part}",
            fields.join(", ")
        )))
    }
}

fn is_allowed(field: &str) -> bool {
    ALLOWED_FIELDS.contains(&field)
}

pub(super) fn list(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    let select: Vec<String> = match call.get("SELECT") {
        Some(v @ (Value::Array(_) | Value::Object(_))) => php::array_values(v)
            .into_iter()
            .filter_map(php::string)
            .map(|f| incoming(&f.to_ascii_uppercase()).to_owned())
            .collect(),
        _ => Vec::new(),
    };
    not_allowed(
        &select
            .iter()
            .filter(|f| !is_allowed(f))
            .cloned()
            .collect::<Vec<_>>(),
        "select",
    )?;

    let mut conditions: Vec<Condition> = match call.get("FILTER") {
        Some(Value::Object(filter)) => filter.iter().map(|(k, v)| Condition::parse(k, v)).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| Condition::parse(&i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for condition in &mut conditions {
        let field = incoming(&condition.field).to_owned();
        condition.rename(&field);
    }
    not_allowed(
        &conditions
            .iter()
            .filter(|c| !is_allowed(&c.field))
            .map(|c| c.field.clone())
            .collect::<Vec<_>>(),
        "filter",
    )?;

    let order: Vec<(String, bool)> = match call.get("ORDER") {
        Some(Value::Object(order)) => order
            .iter()
            .map(|(k, v)| (incoming(k).to_owned(), is_descending(v)))
            .collect(),
        _ => Vec::new(),
    };
    not_allowed(
        &order
            .iter()
            .filter(|(f, _)| !is_allowed(f))
            .map(|(f, _)| f.clone())
            .collect::<Vec<_>>(),
        "order",
    )?;

    let mut rows: Vec<Map<String, Value>> = portal
        .store
        .pay_systems
        .values()
        .map(row)
        .filter(|r| conditions.iter().all(|c| c.matches(r)))
        .collect();
    sort_rows(&mut rows, &order, "ID");
    let total = rows.len();
    let page = portal.pay_system_page;
    let offset = match page {
        // The family upper-cases parameter keys.
        Some(_) => usize::try_from(php::int(call.get("START").or(call.get("start"))).unwrap_or(0))
            .unwrap_or(0),
        None => 0,
    };
    let rendered: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(page.unwrap_or(usize::MAX))
        .map(|r| {
            let fields: Vec<&str> = if select.is_empty() {
                ALLOWED_FIELDS.to_vec()
            } else {
                select.iter().map(String::as_str).collect()
            };
            let out: Map<String, Value> = fields
                .into_iter()
                .map(|f| {
                    (
                        outgoing(f).to_owned(),
                        r.get(f).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            Value::Object(out)
        })
        .collect();
    match page {
        Some(size) => {
            let next = (offset + size < total).then_some((offset + size) as u64);
            Ok(Output::paged(Value::Array(rendered), total as u64, next))
        }
        None => Ok(Output::new(Value::Array(rendered))),
    }
}

/// `SETTINGS` entries must be arrays: `code → {TYPE, VALUE}`.
pub(super) fn settings_entries(
    settings: Option<&Value>,
) -> Result<Vec<(String, Mapping)>, ApiError> {
    let entries: Vec<(String, &Value)> = match settings {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ApiError::check_failure(
                "The value of SETTINGS is not valid",
            ));
        }
    };
    entries
        .into_iter()
        .map(|(code, value)| match value {
            Value::Object(_) | Value::Array(_) => Ok((
                code,
                Mapping {
                    type_: value.get("TYPE").and_then(php::string),
                    value: value.get("VALUE").and_then(php::string),
                },
            )),
            _ => Err(ApiError::check_failure(format!(
                "The value of SETTINGS[{code}] is not valid"
            ))),
        })
        .collect()
}

pub(super) fn add(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if php::empty(call.get("BX_REST_HANDLER")) {
        return Err(ApiError::check_failure(
            "Parameter BX_REST_HANDLER is not defined",
        ));
    }
    if php::empty(call.get("NAME")) {
        return Err(ApiError::check_failure("Parameter NAME is not defined"));
    }
    let handler_code = call
        .get("BX_REST_HANDLER")
        .and_then(php::string)
        .unwrap_or_default();
    let handler = portal
        .store
        .handler_by_code(&handler_code)
        .ok_or_else(handler_not_found)?;
    check_owner(handler, call.caller)?;
    let registry = call
        .get("ENTITY_REGISTRY_TYPE")
        .and_then(php::string)
        .unwrap_or_else(|| "CRM_INVOICE".to_owned());
    let person_type_id = php::id(call.get("PERSON_TYPE_ID")).unwrap_or(0);
    let person_type_ok = portal
        .store
        .person_types
        .get(&person_type_id)
        .is_some_and(|pt| pt.registry_type.eq_ignore_ascii_case(&registry));
    if !person_type_ok {
        return Err(person_type_not_found());
    }
    let settings = settings_entries(call.get("SETTINGS"))?;
    let id = portal
        .store
        .pay_systems
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0)
        + 1;
    let name = call.get("NAME").and_then(php::string).unwrap_or_default();
    let flag = |key: &str| {
        call.get(key)
            .filter(|v| php::truthy(Some(v)))
            .and_then(php::string)
            .unwrap_or_else(|| "N".to_owned())
    };
    let pay_system = PaySystem {
        id,
        psa_name: Some(name.clone()),
        name,
        description: call.get("DESCRIPTION").and_then(php::string),
        action_file: handler_code,
        person_type_id,
        sort: 100,
        active: flag("ACTIVE"),
        new_window: flag("NEW_WINDOW"),
        entity_registry_type: registry,
        xml_id: call.get("XML_ID").and_then(php::string),
        is_cash: "N".to_owned(),
    };
    portal.store.pay_systems.insert(id, pay_system);
    for (code, mapping) in settings {
        portal.store.set_mapping(id, person_type_id, &code, mapping);
    }
    Ok(Output::new(json!(id)))
}

pub(super) fn update(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("ID")) {
        return Err(ApiError::check_failure("Parameter ID is not defined"));
    }
    let fields: Map<String, Value> = call
        .get("FIELDS")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let new_handler = fields
        .get("BX_REST_HANDLER")
        .filter(|v| !v.is_null())
        .and_then(php::string);
    if let Some(code) = &new_handler {
        let known = portal.store.handler_by_code(code).is_some()
            || portal
                .store
                .pay_systems
                .values()
                .any(|p| p.action_file.eq_ignore_ascii_case(code));
        if !known {
            return Err(handler_not_found());
        }
    }
    let id = php::id(call.get("ID")).ok_or_else(not_found)?;
    let pay_system = portal.store.pay_systems.get(&id).ok_or_else(not_found)?;
    portal.store.check_access(pay_system, call.caller)?;
    let new_person_type = if php::isset(fields.get("PERSON_TYPE_ID")) {
        let pt = php::id(fields.get("PERSON_TYPE_ID")).unwrap_or(0);
        let registry = &pay_system.entity_registry_type;
        let ok = portal
            .store
            .person_types
            .get(&pt)
            .is_some_and(|t| t.registry_type.eq_ignore_ascii_case(registry));
        if !ok {
            return Err(person_type_not_found());
        }
        Some(pt)
    } else {
        None
    };
    let Some(pay_system) = portal.store.pay_systems.get_mut(&id) else {
        return Err(not_found());
    };
    let text = |key: &str| {
        fields
            .get(key)
            .filter(|v| !v.is_null())
            .and_then(php::string)
    };
    if let Some(name) = text("NAME") {
        pay_system.name = name;
    }
    if let Some(description) = text("DESCRIPTION") {
        pay_system.description = Some(description);
    }
    if let Some(new_window) = text("NEW_WINDOW") {
        pay_system.new_window = new_window;
    }
    if let Some(active) = text("ACTIVE") {
        pay_system.active = active;
    }
    if let Some(xml_id) = text("XML_ID") {
        pay_system.xml_id = Some(xml_id);
    }
    if let Some(pt) = new_person_type {
        pay_system.person_type_id = pt;
    }
    if let Some(code) = new_handler {
        pay_system.action_file = code;
    }
    Ok(Output::new(json!(true)))
}

pub(super) fn delete(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("ID")) {
        return Err(ApiError::check_failure("Parameter ID is not defined"));
    }
    let id = php::id(call.get("ID")).ok_or_else(not_found)?;
    let pay_system = portal.store.pay_systems.get(&id).ok_or_else(not_found)?;
    portal.store.check_access(pay_system, call.caller)?;
    portal.store.pay_systems.remove(&id);
    portal.store.settings.retain(|(ps, _, _), _| *ps != id);
    Ok(Output::new(json!(true)))
}

//! `sale.paysystem.handler.add/list/update/delete` (bitrix24-api.md §5.1–5.4): REST
//! handlers with a unique CODE and verbatim SETTINGS; delete is refused while a pay
//! system uses the handler. Checks follow the source's order.

use serde_json::{Map, Value, json};

use super::call::Call;
use crate::envelope::{ApiError, Output};
use crate::php;
use crate::portal::{Handler, Portal, check_owner};

const MODES: [&str; 3] = ["FORM_DATA", "CHECKOUT_DATA", "IFRAME_DATA"];

fn already_exists() -> ApiError {
    ApiError::new(
        400,
        "ERROR_HANDLER_ALREADY_EXIST",
        "Handler already exists!",
    )
}

fn not_found() -> ApiError {
    ApiError::new(400, "ERROR_HANDLER_NOT_FOUND", "Handler not found")
}

fn check_client_type(settings: Option<&Value>) -> Result<(), ApiError> {
    let client_type = settings.and_then(|s| s.get("CLIENT_TYPE"));
    if php::isset(client_type) {
        let value = client_type.and_then(php::string).unwrap_or_default();
        if value != "b2c" && value != "b2b" {
            return Err(ApiError::check_failure(
                "Parameter value SETTINGS[CLIENT_TYPE] is invalid",
            ));
        }
    }
    Ok(())
}

pub(super) fn add(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    for field in ["NAME", "CODE", "SETTINGS"] {
        if !php::isset(call.get(field)) {
            return Err(ApiError::check_failure(format!(
                "Parameter {field} is not defined"
            )));
        }
    }
    let settings = call.get("SETTINGS").cloned().unwrap_or(Value::Null);
    if !php::isset(settings.get("CODES")) {
        return Err(ApiError::check_failure(
            "Parameter SETTINGS[CODES] is not defined",
        ));
    }
    if MODES.iter().all(|mode| php::empty(settings.get(mode))) {
        return Err(ApiError::check_failure(
            "Parameter SETTINGS[FORM_DATA] or SETTINGS[CHECKOUT_DATA] or SETTINGS[IFRAME_DATA] is not defined",
        ));
    }
    for mode in MODES {
        let data = settings.get(mode);
        if !php::empty(data) && php::empty(data.and_then(|d| d.get("ACTION_URI"))) {
            return Err(ApiError::check_failure(format!(
                "Parameter SETTINGS[{mode}][ACTION_URI] is not defined"
            )));
        }
    }
    check_client_type(Some(&settings))?;
    let code = call.get("CODE").and_then(php::string).unwrap_or_default();
    if portal.store.handler_by_code(&code).is_some() {
        return Err(already_exists());
    }
    let id = portal
        .store
        .handlers
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0)
        + 1;
    let sort = php::int(call.get("SORT"))
        .filter(|&n| n != 0)
        .unwrap_or(100);
    let handler = Handler {
        id,
        name: call.get("NAME").and_then(php::string).unwrap_or_default(),
        code,
        sort,
        settings,
        client_id: call.caller.client_id.clone(),
    };
    portal.store.handlers.insert(id, handler);
    Ok(Output::new(json!(id)))
}

pub(super) fn list(portal: &mut Portal, _call: &Call<'_>) -> Result<Output, ApiError> {
    let rows: Vec<Value> = portal
        .store
        .handlers
        .values()
        .map(|h| {
            json!({
                "ID": h.id.to_string(),
                "NAME": h.name,
                "CODE": h.code,
                "SORT": h.sort.to_string(),
                "SETTINGS": h.settings,
            })
        })
        .collect();
    Ok(Output::new(Value::Array(rows)))
}

pub(super) fn update(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("FIELDS")) {
        return Err(ApiError::check_failure("Parameter FIELDS is not defined"));
    }
    let fields: Map<String, Value> = call
        .get("FIELDS")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    check_client_type(fields.get("SETTINGS"))?;
    let id = php::id(call.get("ID")).ok_or_else(not_found)?;
    let handler = portal.store.handlers.get(&id).ok_or_else(not_found)?;
    check_owner(handler, call.caller)?;
    // FIELDS keys are not upper-cased by the handler methods: the ORM knows only these.
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["NAME", "CODE", "SORT", "SETTINGS"].contains(&k.as_str()))
    {
        return Err(ApiError::new(
            400,
            "ERROR_HANDLER_UPDATE",
            format!("Unknown field definition `{unknown}`"),
        ));
    }
    if let Some(code) = fields.get("CODE").and_then(php::string) {
        let clash = portal
            .store
            .handlers
            .values()
            .any(|h| h.id != id && h.code.eq_ignore_ascii_case(&code));
        if clash {
            return Err(already_exists());
        }
    }
    let Some(handler) = portal.store.handlers.get_mut(&id) else {
        return Err(not_found());
    };
    if let Some(name) = fields.get("NAME").and_then(php::string) {
        handler.name = name;
    }
    if let Some(code) = fields.get("CODE").and_then(php::string) {
        handler.code = code;
    }
    if let Some(sort) = php::int(fields.get("SORT")) {
        handler.sort = sort;
    }
    if let Some(settings) = fields.get("SETTINGS") {
        handler.settings = settings.clone();
    }
    Ok(Output::new(json!(true)))
}

pub(super) fn delete(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    let id = php::id(call.get("ID")).ok_or_else(not_found)?;
    let handler = portal.store.handlers.get(&id).ok_or_else(not_found)?;
    check_owner(handler, call.caller)?;
    if portal
        .store
        .pay_systems
        .values()
        .any(|p| p.action_file.eq_ignore_ascii_case(&handler.code))
    {
        return Err(ApiError::new(
            400,
            "ERROR_PAY_SYSTEM_DELETE",
            format!(
                "Pay system with handler {} exists!",
                handler.code.to_uppercase()
            ),
        ));
    }
    portal.store.handlers.remove(&id);
    Ok(Output::new(json!(true)))
}

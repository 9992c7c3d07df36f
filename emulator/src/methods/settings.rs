//! `sale.paysystem.settings.get/update` (bitrix24-api.md §5.9–5.10), the heart of paysync.
//!
//! `get` returns every handler CODE (sorted by SORT) resolved through the fallback chain,
//! as `{TYPE, VALUE}` objects or, when switched, plain strings; codes stored but not in the
//! handler's CODES never appear. `update` upserts only the given codes (unknown ones
//! silently), PERSON_TYPE_ID 0 or missing meaning the common mapping. Both follow the
//! source's order of checks.

use serde_json::{Map, Value, json};

use super::call::Call;
use super::paysystem::settings_entries;
use crate::envelope::{ApiError, Output};
use crate::php;
use crate::portal::{Portal, mapping_object};
use crate::seed::SettingsShape;

fn pay_system_not_found() -> ApiError {
    ApiError::check_failure("Pay system not found")
}

pub(super) fn get(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("PERSON_TYPE_ID")) {
        return Err(ApiError::check_failure(
            "Parameter PERSON_TYPE_ID is not defined",
        ));
    }
    if !php::isset(call.get("ID")) {
        return Err(ApiError::check_failure("Parameter ID is not defined"));
    }
    let id = php::id(call.get("ID")).ok_or_else(pay_system_not_found)?;
    let store = &portal.store;
    let pay_system = store
        .pay_systems
        .get(&id)
        .ok_or_else(pay_system_not_found)?;
    store.check_access(pay_system, call.caller)?;
    let person_type = php::int(call.get("PERSON_TYPE_ID"))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let Some(handler) = store.handler_by_code(&pay_system.action_file) else {
        return Err(ApiError::access_denied());
    };
    let mut result = Map::new();
    for (code, descriptor) in handler.codes() {
        let mapping = store.resolve(id, person_type, code, descriptor);
        let rendered = match portal.settings_shape {
            SettingsShape::Object => mapping_object(mapping.as_ref()),
            SettingsShape::String => mapping
                .and_then(|m| m.value)
                .map_or(Value::Null, Value::String),
        };
        result.insert(code.clone(), rendered);
    }
    Ok(Output::new(Value::Object(result)))
}

pub(super) fn update(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("ID")) {
        return Err(ApiError::check_failure("Parameter ID is not defined"));
    }
    let id = php::id(call.get("ID")).ok_or_else(pay_system_not_found)?;
    let pay_system = portal
        .store
        .pay_systems
        .get(&id)
        .ok_or_else(pay_system_not_found)?;
    if php::empty(call.get("SETTINGS")) {
        return Err(ApiError::new(
            400,
            "ERROR_HANDLER_NOT_FOUND",
            "Parameter SETTINGS is not defined or empty",
        ));
    }
    portal.store.check_access(pay_system, call.caller)?;
    let entries = settings_entries(call.get("SETTINGS"))?;
    let person_type = php::int(call.get("PERSON_TYPE_ID"))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    for (code, mapping) in entries {
        portal.store.set_mapping(id, person_type, &code, mapping);
        if call.result_false {
            // The injected storage failure: the first code is written, the rest are not.
            return Ok(Output::new(json!(false)));
        }
    }
    Ok(Output::new(json!(true)))
}

//! The preflight helpers `scope` and `method.get` (bitrix24-api.md §2.5), answered from
//! the caller's granted scopes and the emulator's own method table.

use serde_json::json;

use super::call::Call;
use crate::envelope::{ApiError, Output};
use crate::fault::normalize_method;
use crate::php;
use crate::portal::Portal;
use crate::seed::KNOWN_SCOPES;

pub(super) fn scope(_portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    let full = php::truthy(call.get("full"));
    let scopes: Vec<String> = match (&call.caller.scopes, full) {
        (Some(granted), false) => granted.clone(),
        _ => KNOWN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    };
    Ok(Output::new(json!(scopes)))
}

pub(super) fn method_get(_portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    let name = call
        .get("name")
        .and_then(php::string)
        .map(|n| normalize_method(&n))
        .unwrap_or_default();
    let scope = (call.scope_of)(&name);
    let is_existing = scope.is_some();
    let is_available = scope.is_some_and(|scope| call.caller.has_scope(scope));
    Ok(Output::new(
        json!({"isExisting": is_existing, "isAvailable": is_available}),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::scope_of;
    use super::*;

    #[test]
    fn known_scopes_cover_the_method_table() {
        for method in ["sale.paysystem.settings.update", "sale.persontype.list"] {
            let scope = scope_of(method).unwrap_or_default();
            assert!(KNOWN_SCOPES.contains(&scope), "{method}");
        }
    }
}

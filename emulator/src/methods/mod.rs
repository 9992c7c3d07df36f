//! Method dispatch: the table of known Bitrix methods with their scopes, per-family
//! parameter preparation (key upper-casing), call-scope fault injection, and the
//! `execute` entry point used for top-level calls and batch sub-calls alike.
//!
//! The submodules implement one method family each against [`Portal`]; they receive
//! prepared parameters and return an [`Output`] or an [`ApiError`], never HTTP.

mod batch;
mod call;
mod filter;
mod handler;
mod paysystem;
mod persontype;
mod settings;
mod system;

use serde_json::{Map, Value};

pub(crate) use batch::decode_sub_calls;

use crate::envelope::{ApiError, Output};
use crate::fault::{FaultAction, FaultScope, FaultTarget};
use crate::php;
use crate::portal::{Caller, Portal};
use crate::record::RecordedSubCall;
use call::Call;

type MethodFn = fn(&mut Portal, &Call<'_>) -> Result<Output, ApiError>;

struct MethodSpec {
    name: &'static str,
    scope: &'static str,
    run: MethodFn,
}

const BATCH: &str = "batch";

static METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "scope",
        scope: "basic",
        run: system::scope,
    },
    MethodSpec {
        name: "method.get",
        scope: "basic",
        run: system::method_get,
    },
    MethodSpec {
        name: "sale.paysystem.handler.add",
        scope: "pay_system",
        run: handler::add,
    },
    MethodSpec {
        name: "sale.paysystem.handler.list",
        scope: "pay_system",
        run: handler::list,
    },
    MethodSpec {
        name: "sale.paysystem.handler.update",
        scope: "pay_system",
        run: handler::update,
    },
    MethodSpec {
        name: "sale.paysystem.handler.delete",
        scope: "pay_system",
        run: handler::delete,
    },
    MethodSpec {
        name: "sale.paysystem.add",
        scope: "pay_system",
        run: paysystem::add,
    },
    MethodSpec {
        name: "sale.paysystem.list",
        scope: "pay_system",
        run: paysystem::list,
    },
    MethodSpec {
        name: "sale.paysystem.update",
        scope: "pay_system",
        run: paysystem::update,
    },
    MethodSpec {
        name: "sale.paysystem.delete",
        scope: "pay_system",
        run: paysystem::delete,
    },
    MethodSpec {
        name: "sale.paysystem.settings.get",
        scope: "pay_system",
        run: settings::get,
    },
    MethodSpec {
        name: "sale.paysystem.settings.update",
        scope: "pay_system",
        run: settings::update,
    },
    MethodSpec {
        name: "sale.persontype.list",
        scope: "sale",
        run: persontype::list,
    },
    MethodSpec {
        name: "sale.persontype.get",
        scope: "sale",
        run: persontype::get,
    },
];

fn lookup(method: &str) -> Option<&'static MethodSpec> {
    METHODS.iter().find(|m| m.name == method)
}

/// The scope a method needs, `None` for unknown methods.
pub(crate) fn scope_of(method: &str) -> Option<&'static str> {
    if method == BATCH {
        Some("basic")
    } else {
        lookup(method).map(|m| m.scope)
    }
}

/// Applies the family's key handling [src]: `sale.paysystem.handler.*` upper-cases the
/// top-level keys only, the other `sale.paysystem.*` methods upper-case recursively and
/// map the `LOGOTYPE`/`TARIFF` aliases; everything else keeps keys as sent.
pub(crate) fn prepare(method: &str, raw: &Map<String, Value>) -> Map<String, Value> {
    if method.starts_with("sale.paysystem.handler.") {
        php::upper_keys(raw, false)
    } else if method.starts_with("sale.paysystem.") {
        let mut params = php::upper_keys(raw, true);
        replace_aliases(&mut params);
        if let Some(Value::Object(fields)) = params.get_mut("FIELDS") {
            replace_aliases(fields);
        }
        params
    } else {
        raw.clone()
    }
}

fn replace_aliases(map: &mut Map<String, Value>) {
    for (alias, field) in [("LOGOTYPE", "LOGOTIP"), ("TARIFF", "TARIF")] {
        if let Some(v) = map.remove(alias) {
            map.insert(field.to_owned(), v);
        }
    }
}

/// What a fault can match on: the method, its pay system and its person type.
pub(crate) fn fault_target<'a>(method: &'a str, prepared: &Map<String, Value>) -> FaultTarget<'a> {
    let (pay_system, person_type) = if method.starts_with("sale.paysystem.handler.") {
        (None, None)
    } else if method.starts_with("sale.paysystem.") {
        let pay_system =
            php::id(prepared.get("ID")).or_else(|| php::id(prepared.get("PAY_SYSTEM_ID")));
        let person_type = match php::int(prepared.get("PERSON_TYPE_ID")) {
            Some(n) => Some(u64::try_from(n).unwrap_or(0)),
            // settings.update without PERSON_TYPE_ID writes the common mapping.
            None if method == "sale.paysystem.settings.update" => Some(0),
            None => None,
        };
        (pay_system, person_type)
    } else if method.starts_with("sale.persontype.") {
        (None, php::id(prepared.get("id")))
    } else {
        (None, None)
    };
    FaultTarget {
        method,
        pay_system,
        person_type,
    }
}

/// Runs one call: nested-batch refusal, call-scope faults, method lookup, scope check,
/// the operating-time check (429), then the method, whose simulated execution time is
/// charged afterwards (success or method error alike). The outer `batch` is neither
/// checked nor charged; each sub-call is, against its own method. `sub_calls` collects a
/// batch's decoded sub-calls for the request log.
pub(crate) fn execute(
    portal: &mut Portal,
    caller: &Caller,
    method: &str,
    raw: &Map<String, Value>,
    in_batch: bool,
    sub_calls: &mut Vec<RecordedSubCall>,
) -> Result<Output, ApiError> {
    if in_batch && method == BATCH {
        return Err(ApiError::new(
            405,
            "ERROR_BATCH_METHOD_NOT_ALLOWED",
            "Method is not allowed for batch usage",
        ));
    }
    let prepared = prepare(method, raw);
    let mut result_false = false;
    if let Some(action) = portal
        .faults
        .take(FaultScope::Call, &fault_target(method, &prepared))
    {
        match (action.as_error(), action) {
            (Some(error), _) => return Err(error),
            (None, FaultAction::Result(result)) => return Ok(Output::new(result)),
            (None, _) => result_false = true,
        }
    }
    if method == BATCH {
        return batch::run(portal, caller, raw, sub_calls, execute);
    }
    let spec = lookup(method).ok_or_else(ApiError::method_not_found)?;
    if !caller.has_scope(spec.scope) {
        return Err(ApiError::new(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the webhook token",
        ));
    }
    portal.check_operating(caller, method)?;
    let outcome = (spec.run)(
        portal,
        &Call {
            caller,
            params: &prepared,
            result_false,
            scope_of,
        },
    );
    portal.charge_operating(caller, method);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn pay_system_methods_upper_case_recursively_handlers_only_top_level() {
        let raw = map(
            json!({"id": 11, "settings": {"rest_key": {"type": "VALUE"}}, "fields": {"logotype": "x"}}),
        );
        let ps = prepare("sale.paysystem.settings.update", &raw);
        assert_eq!(
            Value::Object(ps),
            json!({"ID": 11, "SETTINGS": {"REST_KEY": {"TYPE": "VALUE"}}, "FIELDS": {"LOGOTIP": "x"}})
        );
        let h = prepare("sale.paysystem.handler.add", &raw);
        assert_eq!(
            Value::Object(h),
            json!({"ID": 11, "SETTINGS": {"rest_key": {"type": "VALUE"}}, "FIELDS": {"logotype": "x"}})
        );
        let pt = prepare("sale.persontype.get", &raw);
        assert_eq!(pt, raw);
    }

    #[test]
    fn fault_targets() {
        let p = map(json!({"ID": "12"}));
        let t = fault_target("sale.paysystem.settings.update", &p);
        assert_eq!((t.pay_system, t.person_type), (Some(12), Some(0)));
        let p = map(json!({"ID": "12", "PERSON_TYPE_ID": 2}));
        let t = fault_target("sale.paysystem.settings.get", &p);
        assert_eq!((t.pay_system, t.person_type), (Some(12), Some(2)));
    }
}

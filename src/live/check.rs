//! The rules of live validation: the manifests checked against the [`super::Catalog`],
//! each problem a located diagnostic. Pure.

use super::catalog::*;
use crate::manifest::{Code, Diagnostic, Diagnostics};
use crate::model::{Desired, SOURCE_VALUE, SettingValue};

/// Every problem of `desired` against `catalog`, sorted by place. No I/O.
pub fn check(desired: &Desired, catalog: &Catalog) -> Diagnostics {
    let mut found = Vec::new();
    for (target, declared) in &desired.targets {
        if let Some(person_types) = &catalog.person_types
            && target.person_type != 0
            && !person_types.contains_key(&target.person_type)
        {
            found.push(
                Diagnostic::new(
                    Code::UnknownPersonType,
                    declared.origin.clone(),
                    format!(
                        "payer type {} does not exist on the portal",
                        target.person_type
                    ),
                )
                .help(format!(
                    "use an ID from sale.persontype.list ({}), or 0 for the pay system's default settings",
                    listing(person_types.keys().map(u64::to_string))
                )),
            );
        }
        let Some(pay_system) = catalog.pay_systems.get(&target.pay_system) else {
            found.push(
                Diagnostic::new(
                    Code::UnknownPaySystem,
                    declared.origin.clone(),
                    format!(
                        "pay system {} does not exist on the portal",
                        target.pay_system
                    ),
                )
                .help(format!(
                    "use an ID from sale.paysystem.list: {}",
                    listing(
                        catalog
                            .pay_systems
                            .values()
                            .filter(|p| catalog.handler_of(p).is_some())
                            .map(describe)
                    )
                )),
            );
            continue;
        };
        let Some(handler) = catalog.handler_of(pay_system) else {
            found.push(
                Diagnostic::new(
                    Code::BuiltInPaySystem,
                    declared.origin.clone(),
                    format!(
                        "pay system {} uses the built-in handler `{}`, which cannot be managed through REST",
                        describe(pay_system),
                        pay_system.action_file
                    ),
                )
                .help(
                    "paysync manages only pay systems backed by a REST handler \
                     (sale.paysystem.handler.*); the portal refuses the others with ACCESS_DENIED",
                ),
            );
            continue;
        };
        for (code, setting) in &declared.settings {
            let origin = declared.origin_of(code).unwrap_or(&declared.origin).clone();
            let Some(DeclaredCode { input, .. }) = handler.codes.get(code.as_str()) else {
                found.push(
                    Diagnostic::new(
                        Code::UndeclaredCode,
                        origin,
                        format!(
                            "setting `{code}` is not declared by handler `{}` of pay system {}",
                            handler.code, target.pay_system
                        ),
                    )
                    .help(format!(
                        "the portal would store it silently and never return it, so every plan \
                         would show it again; the handler declares: {}",
                        listing(handler.codes.keys().cloned())
                    )),
                );
                continue;
            };
            // Only literal values are checked: a field source's VALUE names a field, and
            // a secret is never read here.
            let SettingValue::Plain(value) = &setting.value else {
                continue;
            };
            if setting.source != SOURCE_VALUE {
                continue;
            }
            match input {
                Input::Enum(options) if !options.iter().any(|o| o == value) => found.push(
                    Diagnostic::new(
                        Code::InvalidOption,
                        origin,
                        format!(
                            "`{code}` is {value:?}, which is not an option of handler `{}`",
                            handler.code
                        ),
                    )
                    .help(format!("use one of: {}", listing(options.iter().cloned()))),
                ),
                Input::YesNo if value != "Y" && value != "N" => found.push(
                    Diagnostic::new(
                        Code::InvalidCheckbox,
                        origin,
                        format!("`{code}` is a Y/N setting, but its value is {value:?}"),
                    )
                    .help("write \"Y\" or \"N\""),
                ),
                _ => {}
            }
        }
    }
    Diagnostics::sorted(found)
}

fn describe(pay_system: &PaySystem) -> String {
    match &pay_system.name {
        Some(name) => format!("{} ({name:?})", pay_system.id),
        None => pay_system.id.to_string(),
    }
}

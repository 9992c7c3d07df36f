//! Tests of live validation: parsers, rules and reads against a fake server.

use std::path::Path;

use serde_json::json;

use std::collections::BTreeMap;

use super::*;
use crate::manifest::Diagnostics;
use crate::model::{Desired, SettingValue};
use crate::model::{DesiredTarget, Origin, Setting, Target};
use crate::secrets::SecretRef;

fn origin(line: usize) -> Origin {
    Origin {
        file: Path::new("m/acme.yaml").into(),
        line: Origin::narrow(line),
        column: 3,
        len: 0,
    }
}

fn catalog() -> Catalog {
    let handlers = parse_handlers(&json!([{
        "ID": "1", "NAME": "AcmePay", "CODE": "acmepay", "SORT": "100",
        "SETTINGS": {"CODES": {
            "REST_SERVICE_ID_IFRAME": {"NAME": "Shop ID"},
            "REST_SERVICE_KEY_IFRAME": {"NAME": "Secret key"},
            "PS_WORK_MODE_IFRAME": {"NAME": "Mode", "INPUT": {"TYPE": "ENUM", "OPTIONS": {"TEST": "Test", "REGULAR": "Live"}}},
            "PS_CHANGE_STATUS_PAY": {"NAME": "Status", "INPUT": {"TYPE": "Y/N"}},
            "PAYMENT_ID": {"NAME": "Payment number", "DEFAULT": {"PROVIDER_KEY": "PAYMENT", "PROVIDER_VALUE": "ACCOUNT_NUMBER"}}
        }}
    }]))
    .unwrap();
    let pay_systems = parse_pay_systems(&json!([
        {"ID": 1, "NAME": "Cash", "ACTION_FILE": "cash"},
        {"ID": "11", "NAME": "AcmePay card", "ACTION_FILE": "acmepay"},
    ]))
    .unwrap();
    let person_types =
        parse_person_types(&json!({"personTypes": [{"id": 1}, {"id": "2"}]})).unwrap();
    Catalog {
        handlers,
        pay_systems,
        person_types: Some(person_types.into_iter().collect()),
    }
}

fn desired(pay_system: u64, person_type: u64, settings: &[(&str, &str, &str)]) -> Desired {
    let target = Target {
        pay_system,
        person_type,
    };
    let mut d = DesiredTarget {
        reference: None,
        removed: BTreeMap::new(),
        target,
        origin: origin(1),
        settings: Default::default(),
    };
    for (i, (code, source, value)) in settings.iter().enumerate() {
        let value = match value.strip_prefix("secret:") {
            Some(name) => SettingValue::Secret(Box::new(SecretRef::Env {
                name: name.to_owned(),
            })),
            None => SettingValue::Plain((*value).into()),
        };
        d.settings.insert(
            (*code).to_owned(),
            Setting {
                source: (*source).into(),
                value,
            },
            origin(7 + i),
        );
    }
    Desired {
        targets: BTreeMap::from([(target, Box::new(d))]),
        pending: Vec::new(),
        objects: Default::default(),
    }
}

fn codes(d: &Diagnostics) -> Vec<(&'static str, usize)> {
    d.0.iter()
        .map(|d| (d.code.as_str(), d.origin.line as usize))
        .collect()
}

#[test]
fn a_valid_target_has_no_problems() {
    let d = desired(
        11,
        1,
        &[
            ("PS_WORK_MODE_IFRAME", "VALUE", "REGULAR"),
            ("PS_CHANGE_STATUS_PAY", "VALUE", "N"),
            ("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER"),
            ("REST_SERVICE_KEY_IFRAME", "VALUE", "secret:ACME_KEY"),
        ],
    );
    assert_eq!(check(&d, &catalog()).0, vec![]);
    // Payer type 0 always exists.
    assert_eq!(check(&desired(11, 0, &[]), &catalog()).0, vec![]);
}

#[test]
fn each_problem_is_found_and_located() {
    let cases: &[(Desired, &[(&str, usize)])] = &[
        (desired(99, 1, &[]), &[("unknown-pay-system", 1)]),
        (
            desired(1, 1, &[("X", "VALUE", "1")]),
            &[("built-in-pay-system", 1)],
        ),
        (desired(11, 5, &[]), &[("unknown-person-type", 1)]),
        (
            desired(11, 1, &[("REST_SERVICE_IDD", "VALUE", "1")]),
            &[("undeclared-code", 7)],
        ),
        (
            desired(11, 1, &[("PS_WORK_MODE_IFRAME", "VALUE", "LIVE")]),
            &[("invalid-option", 7)],
        ),
        (
            desired(11, 1, &[("PS_CHANGE_STATUS_PAY", "VALUE", "yes")]),
            &[("invalid-checkbox", 7)],
        ),
        (
            desired(99, 7, &[]),
            &[("unknown-person-type", 1), ("unknown-pay-system", 1)],
        ),
    ];
    for (d, want) in cases {
        assert_eq!(codes(&check(d, &catalog())), *want, "{d:?}");
    }
}

#[test]
fn only_literal_values_are_checked() {
    let d = desired(
        11,
        1,
        &[
            ("PS_WORK_MODE_IFRAME", "INPUT", "ANYTHING"),
            ("PS_CHANGE_STATUS_PAY", "VALUE", "secret:FLAG"),
        ],
    );
    assert_eq!(check(&d, &catalog()).0, vec![]);
}

#[test]
fn handler_codes_match_case_insensitively() {
    let mut c = catalog();
    c.handlers[0].code = "AcmePay".into();
    assert_eq!(check(&desired(11, 1, &[]), &c).0, vec![]);
}

#[test]
fn person_types_not_read_are_not_checked() {
    let mut c = catalog();
    c.person_types = None;
    assert_eq!(check(&desired(11, 5, &[]), &c).0, vec![]);
}

#[test]
fn messages_name_the_options() {
    let d = check(
        &desired(11, 1, &[("PS_WORK_MODE_IFRAME", "VALUE", "LIVE")]),
        &catalog(),
    );
    assert_eq!(
        d.0[0].message,
        "`PS_WORK_MODE_IFRAME` is \"LIVE\", which is not an option of handler `acmepay`"
    );
    assert_eq!(d.0[0].help.as_deref(), Some("use one of: TEST, REGULAR"));
}

#[test]
fn parsing_accepts_php_shapes() {
    // Options as a list, IDs as strings, an object-keyed list.
    let h = parse_handlers(&json!({"0": {"CODE": "x", "SETTINGS": {"CODES": {
        "mode": {"INPUT": {"TYPE": "enum", "OPTIONS": ["A", "B"]}}}}}}))
    .unwrap();
    assert_eq!(
        h[0].codes["MODE"].input,
        Input::Enum(vec!["A".into(), "B".into()])
    );
    assert!(parse_handlers(&json!("nope")).is_err());
    assert!(parse_pay_systems(&json!([{"NAME": "no id"}])).is_err());
    assert_eq!(
        parse_person_types(&json!([{"id": 3, "name": "Individuals", "code": "fiz"}])).unwrap(),
        vec![(
            3,
            PersonType {
                name: Some("Individuals".to_owned()),
                xml_id: None,
                code: Some("fiz".to_owned())
            }
        )]
    );
    assert!(
        parse_person_types(&json!({"personTypes": []}))
            .unwrap()
            .is_empty()
    );
}

//! `sale.paysystem.settings.get/update`: the fallback chain, both shapes, built-in pay
//! systems, the documented errors and their order, unknown codes.

use paysync_emulator::{Seed, SettingSeed, SettingsShape};
use serde_json::{Value, json};

use crate::common::{self, assert_error};

fn seeded() -> Seed {
    let mut seed = Seed::demo();
    let setting = |pay_system, person_type, code: &str, value: &str| SettingSeed {
        pay_system,
        person_type,
        code: code.to_owned(),
        type_: Some("VALUE".to_owned()),
        value: Some(value.to_owned()),
    };
    seed.settings = vec![
        setting(11, 1, "REST_SERVICE_ID_IFRAME", "shop-exact"),
        setting(11, 0, "REST_SERVICE_ID_IFRAME", "shop-common"),
        setting(11, 0, "PS_WORK_MODE_IFRAME", "TEST"),
        setting(11, 1, "NOT_A_HANDLER_CODE", "hidden"),
    ];
    seed
}

#[tokio::test]
async fn get_resolves_exact_then_common_then_default_then_null() {
    let portal = common::start(seeded());
    let result = portal.settings_get(11, 1).await;
    let keys: Vec<&String> = result.as_object().expect("map").keys().collect();
    assert_eq!(
        keys,
        [
            "REST_SERVICE_ID_IFRAME",
            "REST_SERVICE_KEY_IFRAME",
            "PS_WORK_MODE_IFRAME",
            "PAYMENT_ID",
            "PS_CHANGE_STATUS_PAY"
        ],
        "every handler code, in SORT order, nothing else"
    );
    assert_eq!(
        result["REST_SERVICE_ID_IFRAME"],
        json!({"TYPE": "VALUE", "VALUE": "shop-exact"})
    );
    assert_eq!(
        result["PS_WORK_MODE_IFRAME"],
        json!({"TYPE": "VALUE", "VALUE": "TEST"})
    );
    assert_eq!(
        result["PAYMENT_ID"],
        json!({"TYPE": "PAYMENT", "VALUE": "ACCOUNT_NUMBER"})
    );
    assert_eq!(
        result["REST_SERVICE_KEY_IFRAME"],
        json!({"TYPE": null, "VALUE": null})
    );

    let person_type_2 = portal.settings_get(11, 2).await;
    assert_eq!(
        person_type_2["REST_SERVICE_ID_IFRAME"]["VALUE"],
        "shop-common"
    );
    let common = portal.settings_get(11, 0).await;
    assert_eq!(common["REST_SERVICE_ID_IFRAME"]["VALUE"], "shop-common");
    let other = portal.settings_get(12, 1).await;
    assert_eq!(
        other["REST_SERVICE_ID_IFRAME"],
        json!({"TYPE": null, "VALUE": null})
    );
}

#[tokio::test]
async fn string_shape_returns_plain_values() {
    let mut seed = seeded();
    seed.settings_shape = SettingsShape::String;
    let portal = common::start(seed);
    let result = portal.settings_get(11, 1).await;
    assert_eq!(result["REST_SERVICE_ID_IFRAME"], "shop-exact");
    assert_eq!(result["PAYMENT_ID"], "ACCOUNT_NUMBER");
    assert_eq!(result["REST_SERVICE_KEY_IFRAME"], Value::Null);
    portal.emulator.set_settings_shape(SettingsShape::Object);
    assert_eq!(
        portal.settings_get(11, 1).await["PAYMENT_ID"]["TYPE"],
        "PAYMENT"
    );
}

#[tokio::test]
async fn built_in_pay_systems_are_access_denied() {
    let portal = common::demo();
    let calls = [
        (
            "sale.paysystem.settings.get",
            json!({"ID": 1, "PERSON_TYPE_ID": 1}),
        ),
        (
            "sale.paysystem.settings.update",
            json!({"ID": 1, "SETTINGS": {"X": {"TYPE": "VALUE", "VALUE": "1"}}}),
        ),
        (
            "sale.paysystem.update",
            json!({"ID": 1, "FIELDS": {"NAME": "x"}}),
        ),
        ("sale.paysystem.delete", json!({"ID": 1})),
    ];
    for (method, params) in calls {
        let got = portal.call(method, params).await;
        assert_error(&got, 403, "ACCESS_DENIED", "Access denied!");
    }
    assert!(portal.emulator.settings(1, 0).is_empty());
}

#[tokio::test]
async fn update_upserts_given_codes_and_accepts_unknown_ones() {
    let portal = common::start(seeded());
    let (status, body) = portal
        .call(
            "sale.paysystem.settings.update",
            json!({"ID": 11, "PERSON_TYPE_ID": 1, "SETTINGS": {
                "PS_WORK_MODE_IFRAME": {"TYPE": "VALUE", "VALUE": "REGULAR"},
                "TYPO_CODE": {"TYPE": "VALUE", "VALUE": "lost"}
            }}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    let stored = portal.emulator.settings(11, 1);
    assert_eq!(stored.len(), 4, "exact + hidden + 2 new: {stored:?}");
    assert_eq!(
        stored["REST_SERVICE_ID_IFRAME"].1.as_deref(),
        Some("shop-exact"),
        "untouched"
    );
    assert_eq!(stored["TYPO_CODE"].1.as_deref(), Some("lost"));
    let result = portal.settings_get(11, 1).await;
    assert_eq!(result["PS_WORK_MODE_IFRAME"]["VALUE"], "REGULAR");
    assert!(
        result.get("TYPO_CODE").is_none(),
        "codes outside CODES are never returned"
    );

    // Without PERSON_TYPE_ID (or with 0) the common mapping is written.
    let (status, _) = portal
        .call("sale.paysystem.settings.update", json!({"ID": 12, "SETTINGS": {"PS_CHANGE_STATUS_PAY": {"TYPE": "INPUT", "VALUE": "Y"}}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        portal.emulator.setting(12, 0, "PS_CHANGE_STATUS_PAY"),
        Some((Some("INPUT".to_owned()), Some("Y".to_owned())))
    );
    assert_eq!(
        portal.settings_get(12, 2).await["PS_CHANGE_STATUS_PAY"]["VALUE"],
        "Y"
    );

    // Out-of-band changes show up in reads.
    portal
        .emulator
        .set_setting(12, 2, "ps_change_status_pay", "INPUT", "N");
    assert_eq!(
        portal.settings_get(12, 2).await["PS_CHANGE_STATUS_PAY"]["VALUE"],
        "N"
    );
    portal
        .emulator
        .remove_setting(12, 2, "PS_CHANGE_STATUS_PAY");
    assert_eq!(
        portal.settings_get(12, 2).await["PS_CHANGE_STATUS_PAY"]["VALUE"],
        "Y"
    );
}

#[tokio::test]
async fn update_errors_follow_the_documented_order() {
    let portal = common::demo();
    let update = |params| portal.call("sale.paysystem.settings.update", params);
    let value = json!({"X": {"TYPE": "VALUE", "VALUE": "v"}});

    assert_error(
        &update(json!({"SETTINGS": value})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter ID is not defined",
    );
    assert_error(
        &update(json!({"ID": 999})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Pay system not found",
    );
    assert_error(
        &update(json!({"ID": 0, "SETTINGS": value})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Pay system not found",
    );
    let empty = "Parameter SETTINGS is not defined or empty";
    assert_error(
        &update(json!({"ID": 11})).await,
        400,
        "ERROR_HANDLER_NOT_FOUND",
        empty,
    );
    assert_error(
        &update(json!({"ID": 11, "SETTINGS": {}})).await,
        400,
        "ERROR_HANDLER_NOT_FOUND",
        empty,
    );
    // SETTINGS is checked before access: a built-in pay system with no SETTINGS.
    assert_error(
        &update(json!({"ID": 1, "SETTINGS": []})).await,
        400,
        "ERROR_HANDLER_NOT_FOUND",
        empty,
    );
    assert_error(
        &update(
            json!({"ID": 11, "SETTINGS": {"A": {"TYPE": "VALUE", "VALUE": "a"}, "B": "plain"}}),
        )
        .await,
        400,
        "ERROR_CHECK_FAILURE",
        "The value of SETTINGS[B] is not valid",
    );
    assert!(
        portal.emulator.settings(11, 0).is_empty(),
        "a rejected call writes nothing"
    );
}

#[tokio::test]
async fn get_errors_follow_the_documented_order() {
    let portal = common::demo();
    let get = |params| portal.call("sale.paysystem.settings.get", params);
    assert_error(
        &get(json!({})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter PERSON_TYPE_ID is not defined",
    );
    assert_error(
        &get(json!({"PERSON_TYPE_ID": 1})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter ID is not defined",
    );
    assert_error(
        &get(json!({"ID": 77, "PERSON_TYPE_ID": 1})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Pay system not found",
    );
}

#[tokio::test]
async fn a_handler_without_codes_reads_as_an_empty_list() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "sale.paysystem.handler.add",
            json!({"NAME": "Bare", "CODE": "barepay", "SETTINGS": {"CODES": {}, "FORM_DATA": {"ACTION_URI": "https://b.example"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = portal
        .call(
            "sale.paysystem.add",
            json!({"NAME": "Bare", "BX_REST_HANDLER": "barepay", "PERSON_TYPE_ID": 1, "ENTITY_REGISTRY_TYPE": "ORDER"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_u64().expect("id");
    assert_eq!(portal.settings_get(id, 1).await, json!([]));
}

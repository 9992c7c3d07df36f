//! Fault injection: by method, pay system, person type and count; inside batch; the
//! `result: false` partial write; whole-request errors.

use paysync_emulator::Fault;
use serde_json::json;

use crate::common::{self, assert_error};

fn update(id: u64, person_type: u64, value: &str) -> serde_json::Value {
    json!({"ID": id, "PERSON_TYPE_ID": person_type, "SETTINGS": {
        "REST_SERVICE_ID_IFRAME": {"TYPE": "VALUE", "VALUE": value},
        "REST_SERVICE_KEY_IFRAME": {"TYPE": "VALUE", "VALUE": value}
    }})
}

#[tokio::test]
async fn a_counted_fault_for_one_method_and_pay_system() {
    let portal = common::demo();
    portal.emulator.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied!")
            .method("sale.paysystem.settings.update")
            .pay_system(12)
            .times(1),
    );
    let method = "sale.paysystem.settings.update";
    let (status, _) = portal.call(method, update(11, 1, "a")).await;
    assert_eq!(status, 200, "other pay systems are unaffected");
    let (status, _) = portal
        .call(
            "sale.paysystem.settings.get",
            json!({"ID": 12, "PERSON_TYPE_ID": 2}),
        )
        .await;
    assert_eq!(status, 200, "other methods are unaffected");
    assert_error(
        &portal.call(method, update(12, 2, "b")).await,
        403,
        "ACCESS_DENIED",
        "Access denied!",
    );
    assert_eq!(
        portal.emulator.setting(12, 2, "REST_SERVICE_ID_IFRAME"),
        None,
        "nothing written"
    );
    let (status, _) = portal.call(method, update(12, 2, "b")).await;
    assert_eq!(status, 200, "used up after one match");
}

#[tokio::test]
async fn person_type_filters_and_forever_faults() {
    let portal = common::demo();
    portal
        .emulator
        .inject(Fault::error("INTERNAL_SERVER_ERROR", 500, "Internal server error").person_type(0));
    let method = "sale.paysystem.settings.update";
    for _ in 0..3 {
        let got = portal
            .call(
                method,
                json!({"ID": 11, "SETTINGS": {"PAYMENT_ID": {"TYPE": "VALUE", "VALUE": "1"}}}),
            )
            .await;
        assert_error(&got, 500, "INTERNAL_SERVER_ERROR", "Internal server error");
    }
    let (status, _) = portal.call(method, update(11, 1, "x")).await;
    assert_eq!(status, 200);
    portal.emulator.clear_faults();
    let (status, _) = portal.call(method, update(11, 0, "x")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn inside_batch_a_fault_is_that_entry_s_error() {
    let portal = common::demo();
    portal.emulator.inject(
        Fault::error("ERROR_CHECK_FAILURE", 400, "Injected")
            .pay_system(12)
            .times(1),
    );
    let (status, body) = portal
        .call(
            "batch",
            json!({"cmd": {
                "a": "sale.paysystem.settings.get?ID=11&PERSON_TYPE_ID=1",
                "b": "sale.paysystem.settings.get?ID=12&PERSON_TYPE_ID=2",
                "c": "sale.paysystem.settings.get?ID=12&PERSON_TYPE_ID=2"
            }}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["result_error"],
        json!({"b": {"error": "ERROR_CHECK_FAILURE", "error_description": "Injected"}})
    );
    let keys: Vec<&String> = body["result"]["result"]
        .as_object()
        .expect("map")
        .keys()
        .collect();
    assert_eq!(keys, ["a", "c"]);
}

#[tokio::test]
async fn result_false_writes_only_the_first_code() {
    let portal = common::demo();
    portal
        .emulator
        .inject(Fault::result_false().pay_system(11).times(1));
    let method = "sale.paysystem.settings.update";
    let (status, body) = portal.call(method, update(11, 1, "partial")).await;
    assert_eq!((status, &body["result"]), (200, &json!(false)), "{body}");
    let stored = portal.emulator.settings(11, 1);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        ["REST_SERVICE_ID_IFRAME"]
    );
    let (_, body) = portal.call(method, update(11, 1, "full")).await;
    assert_eq!(body["result"], true);
    assert_eq!(portal.emulator.settings(11, 1).len(), 2);
}

#[tokio::test]
async fn whole_request_errors_fire_before_auth() {
    let portal = common::demo();
    portal
        .emulator
        .inject(Fault::request_error("QUERY_LIMIT_EXCEEDED", 503, "Too many requests").times(2));
    let bad_secret = format!("{}/rest/1/wrong/scope", portal.emulator.base_url());
    assert_error(
        &portal.get(&bad_secret).await,
        503,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
    );
    assert_error(
        &portal.call("batch", json!({"cmd": ["scope"]})).await,
        503,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
    );
    let (status, _) = portal.call("batch", json!({"cmd": ["scope"]})).await;
    assert_eq!(status, 200);
    let statuses: Vec<u16> = portal
        .emulator
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);

    // A request-scope fault can target one top-level method only.
    portal.emulator.inject(
        Fault::request_error("OPERATION_TIME_LIMIT", 429, "Method is blocked").method("batch"),
    );
    let (status, _) = portal.call("scope", json!({})).await;
    assert_eq!(status, 200);
    assert_error(
        &portal.call("batch", json!({})).await,
        429,
        "OPERATION_TIME_LIMIT",
        "Method is blocked",
    );
}

#[tokio::test]
async fn numeric_error_codes_can_be_injected() {
    let portal = common::demo();
    portal.emulator.inject(
        Fault::error(200_040_300_010_u64, 400, "Access Denied").method("sale.persontype.list"),
    );
    let (status, body) = portal.call("sale.persontype.list", json!({})).await;
    assert_eq!((status, &body["error"]), (400, &json!(200_040_300_010_u64)));
}

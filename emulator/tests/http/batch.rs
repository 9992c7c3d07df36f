//! `batch`: result maps, `[]` when empty, halt, the 50-call limit in both modes, nested
//! batch, percent-encoding in JSON and form bodies, `$result` substitution.

use paysync_emulator::{BatchLengthMode, Seed};
use serde_json::{Map, Value, json};

use crate::common::{self, enc};

#[tokio::test]
async fn results_errors_and_empty_maps() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "batch",
            json!({"halt": 0, "cmd": {
                "types": "sale.persontype.list?start=0",
                "get": "sale.paysystem.settings.get?ID=11&PERSON_TYPE_ID=1",
                "bad": "sale.paysystem.settings.get?ID=1&PERSON_TYPE_ID=1",
                "after": "sale.persontype.get?id=1"
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let batch = &body["result"];
    let keys = |v: &Value| {
        v.as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(keys(&batch["result"]), ["types", "get", "after"]);
    assert_eq!(
        batch["result_error"],
        json!({"bad": {"error": "ACCESS_DENIED", "error_description": "Access denied!"}})
    );
    assert_eq!(batch["result_total"], json!({"types": 2}));
    assert_eq!(batch["result_next"], json!([]), "empty maps are []");
    // A failed sub-call is timed nowhere: no `result_time` entry (the docs' failed
    // batches show `result_time: []`).
    assert_eq!(keys(&batch["result_time"]), ["types", "get", "after"]);
    assert!(batch["result_time"].get("bad").is_none());
    assert!(batch["result_time"]["get"].get("operating").is_none());
    assert_eq!(
        batch["result"]["get"]["PAYMENT_ID"]["VALUE"],
        "ACCOUNT_NUMBER"
    );
    assert!(body["time"]["operating"].is_number());

    let (_, body) = portal.call("batch", json!({"cmd": {"a": "scope"}})).await;
    assert_eq!(body["result"]["result_error"], json!([]));
    assert_eq!(body["result"]["result_total"], json!([]));
    let (_, body) = portal.call("batch", json!({})).await;
    assert_eq!(
        body["result"],
        json!({"result": [], "result_error": [], "result_total": [], "result_next": [], "result_time": []})
    );
}

#[tokio::test]
async fn halt_stops_at_the_first_error_and_a_cmd_list_gives_lists() {
    let portal = common::demo();
    let cmd = json!([
        "sale.persontype.get?id=1",
        "sale.persontype.get?id=404",
        "sale.persontype.get?id=2"
    ]);
    let (_, body) = portal.call("batch", json!({"halt": 1, "cmd": cmd})).await;
    let batch = &body["result"];
    assert_eq!(batch["result"].as_array().map(Vec::len), Some(1), "{batch}");
    assert_eq!(
        batch["result_error"]["1"]["error"],
        json!(200_740_400_001_u64)
    );
    assert!(batch["result_time"].get("2").is_none(), "never ran");

    let (_, body) = portal
        .call("batch", json!({"halt": "false", "cmd": cmd}))
        .await;
    assert_eq!(
        body["result"]["result"].as_array().map(Vec::len),
        Some(1),
        "PHP: \"false\" is truthy, so it halts"
    );
    let (_, body) = portal.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(body["result"]["result"]["2"]["personType"]["id"], 2);
    assert_eq!(body["result"]["result"]["0"]["personType"]["id"], 1);
}

#[tokio::test]
async fn more_than_fifty_sub_calls() {
    // The default, as batch.md says: the first 50 run, each entry beyond 50 fails on its own.
    let portal = common::demo();
    let cmd: Map<String, Value> = (0..51).map(|i| (format!("c{i}"), json!("scope"))).collect();
    let (status, body) = portal.call("batch", json!({"cmd": cmd.clone()})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["result"].as_object().map(Map::len), Some(50));
    assert_eq!(
        body["result"]["result_error"],
        json!({"c50": {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}})
    );
    assert!(
        body["result"]["result_time"].get("c50").is_none(),
        "an entry beyond 50 never ran"
    );
    let cmd52: Vec<Value> = (0..52).map(|_| json!("scope")).collect();
    let (_, body) = portal.call("batch", json!({"cmd": cmd52})).await;
    assert_eq!(
        body["result"]["result_error"].as_object().map(Map::len),
        Some(2)
    );

    // The whole-request 400 stays as a switch: the handle's and the seed's.
    portal
        .emulator
        .set_batch_length_mode(BatchLengthMode::Reject);
    portal.emulator.clear_requests();
    let (status, body) = portal.call("batch", json!({"cmd": cmd.clone()})).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("ERROR_BATCH_LENGTH_EXCEEDED")),
        "{body}"
    );
    assert_eq!(
        portal.emulator.requests()[0].batch.len(),
        51,
        "decoded sub-calls are still recorded"
    );
    assert_eq!(Seed::demo().batch_length_mode, BatchLengthMode::PerEntry);
    let mut seed = Seed::demo();
    seed.batch_length_mode = BatchLengthMode::Reject;
    let portal = common::start(seed);
    let (status, _) = portal.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn nested_batch_is_refused_per_entry() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "batch",
            json!({"cmd": {"inner": "batch?cmd[x]=scope", "ok": "scope"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["result_error"]["inner"],
        json!({"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"})
    );
    assert!(body["result"]["result"]["ok"].is_array());
}

#[tokio::test]
async fn sub_call_values_are_percent_decoded_once() {
    let portal = common::demo();
    let tricky = "a&b=c d%+é#";
    let command = format!(
        "sale.paysystem.settings.update?ID=11&PERSON_TYPE_ID=1&SETTINGS[REST_SERVICE_KEY_IFRAME][TYPE]=VALUE&SETTINGS[REST_SERVICE_KEY_IFRAME][VALUE]={}",
        enc(tricky)
    );
    // JSON body: the cmd string goes in as-is.
    let (_, body) = portal.call("batch", json!({"cmd": {"u": command}})).await;
    assert_eq!(body["result"]["result"]["u"], true, "{body}");
    assert_eq!(
        portal
            .emulator
            .setting(11, 1, "REST_SERVICE_KEY_IFRAME")
            .and_then(|s| s.1)
            .as_deref(),
        Some(tricky)
    );

    // Form body: the whole cmd string is a value, so it is encoded again.
    let other = "x%y&z";
    let command = command.replace(&enc(tricky), &enc(other));
    let (status, body) = portal
        .post_form(
            &portal.url("batch"),
            &format!("halt=1&cmd[u]={}", enc(&command)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        portal
            .emulator
            .setting(11, 1, "REST_SERVICE_KEY_IFRAME")
            .and_then(|s| s.1)
            .as_deref(),
        Some(other)
    );

    let log = portal.emulator.requests();
    assert_eq!(
        log[1].batch[0].params["SETTINGS"]["REST_SERVICE_KEY_IFRAME"]["VALUE"],
        other
    );
    assert_eq!(log[1].batch[0].method, "sale.paysystem.settings.update");
}

#[tokio::test]
async fn results_can_feed_later_sub_calls() {
    let portal = common::demo();
    let (_, body) = portal
        .call(
            "batch",
            json!({"cmd": {
                "list": "sale.paysystem.list?FILTER[XML_ID]=acme_card_b2b&SELECT[]=ID&SELECT[]=PERSON_TYPE_ID",
                "get": "sale.paysystem.settings.get?ID=$result[list][0][ID]&PERSON_TYPE_ID=$result[list][0][PERSON_TYPE_ID]"
            }}),
        )
        .await;
    assert_eq!(body["result"]["result_error"], json!([]), "{body}");
    assert!(body["result"]["result"]["get"]["PAYMENT_ID"].is_object());
    let recorded = &portal.emulator.requests()[0].batch[1];
    assert_eq!(
        recorded.params["ID"], "$result[list][0][ID]",
        "the log keeps what was sent"
    );
}

/// The portal substitutes `$result[...]` after decoding a sub-call's parameters, so
/// percent-encoding does not protect a setting value that looks like a reference: inside
/// a batch it is replaced by an earlier sub-call's result (`true` becomes "1"); sent as a
/// direct call, it is stored exactly.
#[tokio::test]
async fn result_references_in_setting_values_are_substituted_inside_batch() {
    let portal = common::demo();
    let update = |ps: u64, pt: u64, code: &str, value: &str| {
        format!(
            "sale.paysystem.settings.update?ID={ps}&PERSON_TYPE_ID={pt}&SETTINGS[{code}][TYPE]=VALUE&SETTINGS[{code}][VALUE]={}",
            enc(value)
        )
    };
    let (status, body) = portal
        .call(
            "batch",
            json!({"halt": 1, "cmd": {
                "ps11_pt1": update(11, 1, "PS_WORK_MODE_IFRAME", "REGULAR"),
                "whole": update(12, 2, "REST_SERVICE_KEY_IFRAME", "$result[ps11_pt1]"),
                "inside": update(12, 2, "REST_SERVICE_ID_IFRAME", "shop-$result[ps11_pt1]-x"),
                "unknown": update(11, 1, "REST_SERVICE_ID_IFRAME", "$result[nope]"),
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["result_error"], json!([]), "{body}");
    let stored = |ps, pt, code| {
        portal
            .emulator
            .setting(ps, pt, code)
            .and_then(|(_, value)| value)
    };
    assert_eq!(
        stored(12, 2, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("1")
    );
    assert_eq!(
        stored(12, 2, "REST_SERVICE_ID_IFRAME").as_deref(),
        Some("shop-1-x")
    );
    assert_eq!(
        stored(11, 1, "REST_SERVICE_ID_IFRAME").as_deref(),
        Some("$result[nope]"),
        "a reference to no earlier result stays as written"
    );
    let recorded = &portal.emulator.requests()[0].batch[1];
    assert_eq!(
        recorded.params["SETTINGS"]["REST_SERVICE_KEY_IFRAME"]["VALUE"], "$result[ps11_pt1]",
        "the log keeps what was sent"
    );

    // A direct call: no substitution, the value lands exactly.
    let (status, body) = portal
        .call(
            "sale.paysystem.settings.update",
            json!({"ID": 12, "PERSON_TYPE_ID": 2, "SETTINGS": {"REST_SERVICE_KEY_IFRAME": {"TYPE": "VALUE", "VALUE": "$result[ps11_pt1]"}}}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    assert_eq!(
        stored(12, 2, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("$result[ps11_pt1]")
    );
}

//! Fault injection: by method, pay system, person type and count; inside batch; the
//! `result: false` partial write; whole-request errors; HTML pages, delays, lost
//! responses and 302 redirects.

use std::time::{Duration, Instant};

use paysync_emulator::Fault;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[tokio::test]
async fn an_html_fault_answers_a_proxy_page_before_auth() {
    let portal = common::demo();
    portal.emulator.inject(Fault::html(502).times(1));
    let wrong_secret = format!("{}/rest/1/wrong/scope", portal.emulator.base_url());
    let response = portal
        .http()
        .post(&wrong_secret)
        .json(&json!({}))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        response.text().await.expect("body"),
        "<html><body><h1>502 Bad Gateway</h1></body></html>"
    );
    portal.emulator.inject(Fault::html(504).times(1));
    let response = portal
        .http()
        .get(portal.url("scope"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 504);
    assert_eq!(
        response.text().await.expect("body"),
        "<html><body><h1>504 Gateway Timeout</h1></body></html>"
    );
    let statuses: Vec<(String, u16)> = portal
        .emulator
        .requests()
        .into_iter()
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(statuses, [("scope".into(), 502), ("scope".into(), 504)]);
}

#[tokio::test]
async fn a_delay_fault_waits_then_answers_normally() {
    let portal = common::demo();
    let delay = Duration::from_millis(40);
    portal.emulator.inject(Fault::delay(delay).times(1));
    let started = Instant::now();
    let (status, _) = portal.call("scope", json!({})).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());

    // A client that times out: the request still runs to completion.
    portal.emulator.inject(
        Fault::delay(Duration::from_millis(150))
            .method("sale.paysystem.settings.update")
            .times(1),
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(20))
        .build()
        .expect("client");
    let error = impatient
        .post(portal.url("sale.paysystem.settings.update"))
        .json(&update(11, 1, "late"))
        .send()
        .await
        .expect_err("times out");
    assert!(error.is_timeout(), "{error:?}");
    let written = wait_for(|| portal.emulator.setting(11, 1, "REST_SERVICE_ID_IFRAME")).await;
    assert_eq!(written, (Some("VALUE".into()), Some("late".into())));
}

/// Polls (real time, up to 2 s) until `check` gives a value.
async fn wait_for<T>(check: impl Fn() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(value) = check() {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}

/// The error and its sources on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_lost_response_closes_the_connection_after_the_write() {
    let portal = common::demo();
    portal.emulator.inject(
        Fault::lost_response()
            .method("sale.paysystem.settings.update")
            .times(1),
    );
    let (status, _) = portal.call("scope", json!({})).await;
    assert_eq!(status, 200, "other methods are unaffected");
    let error = portal
        .http()
        .post(portal.url("sale.paysystem.settings.update"))
        .json(&update(11, 1, "stored"))
        .send()
        .await
        .expect_err("no response");
    assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");
    assert!(
        chain(&error).contains("connection closed before message completed"),
        "{}",
        chain(&error)
    );
    assert_eq!(
        portal.emulator.setting(11, 1, "REST_SERVICE_KEY_IFRAME"),
        Some((Some("VALUE".into()), Some("stored".into()))),
        "the write happened"
    );
    let last = portal.emulator.requests().pop().expect("recorded");
    assert_eq!(
        (last.method.as_str(), last.status),
        ("sale.paysystem.settings.update", 200)
    );

    // On the wire: the request is read, then the socket closes without a single byte.
    portal.emulator.inject(Fault::lost_response().times(1));
    let mut socket = tokio::net::TcpStream::connect(portal.emulator.addr())
        .await
        .expect("connects");
    let request = "GET /rest/1/demo-webhook-code/scope HTTP/1.1\r\nHost: x\r\n\r\n";
    socket.write_all(request.as_bytes()).await.expect("sent");
    let mut received = Vec::new();
    let read = socket.read_to_end(&mut received).await;
    assert!(
        received.is_empty(),
        "{read:?}: {}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_request_fault_matches_a_batch_holding_a_matching_sub_call() {
    let portal = common::demo();
    portal
        .emulator
        .inject(Fault::lost_response().method("sale.paysystem.settings.update"));
    let (status, _) = portal
        .call(
            "batch",
            json!({"cmd": {"a": "sale.paysystem.settings.get?ID=11&PERSON_TYPE_ID=1"}}),
        )
        .await;
    assert_eq!(status, 200, "no matching sub-call");
    let cmd = "sale.paysystem.settings.update?ID=12&PERSON_TYPE_ID=2\
               &SETTINGS[PAYMENT_ID][TYPE]=VALUE&SETTINGS[PAYMENT_ID][VALUE]=b1";
    let error = portal
        .http()
        .post(portal.url("batch"))
        .json(&json!({"cmd": {"a": "scope", "b": cmd}}))
        .send()
        .await
        .expect_err("no response");
    assert!(error.status().is_none(), "{error:?}");
    assert_eq!(
        portal.emulator.setting(12, 2, "PAYMENT_ID"),
        Some((Some("VALUE".into()), Some("b1".into())))
    );
    let last = portal.emulator.requests().pop().expect("recorded");
    assert_eq!(last.batch.len(), 2);
}

#[tokio::test]
async fn moved_points_at_the_new_portal_with_the_full_path() {
    let a = common::demo();
    let b = common::demo();
    a.emulator.inject(Fault::moved(&b.emulator.base_url()));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let path = "/rest/1/demo-webhook-code/sale.paysystem.settings.update.json?via=a";
    let body = update(11, 1, "moved");
    let response = no_redirects
        .post(format!("{}{path}", a.emulator.base_url()))
        .json(&body)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 302);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("Location");
    assert_eq!(location, format!("{}{path}", b.emulator.base_url()));

    // The client re-POSTs the body to the new address.
    let (status, reply) = b.post_json(&location, body.clone()).await;
    assert_eq!((status, &reply["result"]), (200, &json!(true)));
    assert_eq!(
        b.emulator.setting(11, 1, "REST_SERVICE_ID_IFRAME"),
        Some((Some("VALUE".into()), Some("moved".into())))
    );
    assert_eq!(a.emulator.setting(11, 1, "REST_SERVICE_ID_IFRAME"), None);
    let statuses: Vec<u16> = a.emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [302]);

    // A naive client follows the 302 as a GET and loses the body (bitrix24-api.md §1.1).
    b.emulator.clear_requests();
    let followed = reqwest::Client::new()
        .post(format!("{}{path}", a.emulator.base_url()))
        .json(&body)
        .send()
        .await
        .expect("response");
    assert_eq!(followed.status().as_u16(), 400);
    let seen = b.emulator.requests();
    assert_eq!(
        (seen[0].http_method.as_str(), &seen[0].params),
        ("GET", &json!({"via": "a"}))
    );
}

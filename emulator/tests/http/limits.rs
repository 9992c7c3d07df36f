//! The §9 limits on a virtual clock: the leaky bucket (burst of `capacity`, 503, drain,
//! batch counts one) and operating time (429 after the limit, `operating` and
//! `operating_reset_at` reported, calls resume when the oldest bucket expires).

use std::time::Duration;

use paysync_emulator::{Fault, OAuthTokenSeed, OperatingLimit, RateLimit, Seed};
use serde_json::json;

use crate::common::{self, T0, assert_error};

const SECOND: Duration = Duration::from_secs(1);

async fn status(portal: &common::Portal, method: &str) -> u16 {
    portal.call(method, json!({})).await.0
}

#[tokio::test]
async fn a_burst_of_capacity_passes_then_503_until_the_bucket_drains() {
    let (portal, clock) = common::start_virtual(Seed::demo());
    portal.emulator.set_rate_limit(Some(RateLimit {
        capacity: 5,
        drain_per_sec: 1.0,
    }));
    for i in 0..5 {
        assert_eq!(status(&portal, "scope").await, 200, "burst request {i}");
    }
    assert_error(
        &portal.call("scope", json!({})).await,
        503,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
    );
    assert_eq!(portal.emulator.limit_rejections(), 1);

    // One second drains one request.
    clock.advance(SECOND);
    assert_eq!(status(&portal, "scope").await, 200);
    assert_eq!(status(&portal, "scope").await, 503);
    // Sustained use at the drain rate never fails.
    for i in 0..30 {
        clock.advance(SECOND);
        assert_eq!(status(&portal, "scope").await, 200, "sustained request {i}");
    }
    assert_eq!(portal.emulator.limit_rejections(), 2);
    // A long pause empties it: a full burst again.
    clock.advance(SECOND * 60);
    for _ in 0..5 {
        assert_eq!(status(&portal, "scope").await, 200);
    }
    assert_eq!(status(&portal, "scope").await, 503);

    // Refused requests are in the log too, and the bucket counts every route.
    let log = portal.emulator.requests();
    assert_eq!(log.iter().filter(|r| r.status == 503).count(), 3);
    portal.emulator.set_rate_limit(None);
    for _ in 0..20 {
        assert_eq!(status(&portal, "scope").await, 200);
    }
    assert_eq!(portal.emulator.limit_rejections(), 3);
}

#[tokio::test]
async fn a_batch_counts_as_one_request_and_the_seed_can_turn_the_bucket_on() {
    let mut seed = Seed::demo();
    seed.rate_limit = Some(RateLimit {
        capacity: 3,
        drain_per_sec: 2.0,
    });
    let (portal, clock) = common::start_virtual(seed);
    let cmd: serde_json::Map<String, serde_json::Value> =
        (0..20).map(|i| (format!("k{i}"), json!("scope"))).collect();
    let (status, body) = portal.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["result"].as_object().map(|m| m.len()),
        Some(20)
    );
    assert_eq!(self::status(&portal, "scope").await, 200);
    assert_eq!(self::status(&portal, "scope").await, 200);
    let refused = portal.call("batch", json!({"cmd": {"a": "scope"}})).await;
    assert_error(&refused, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
    // Half a second drains one request at 2/s.
    clock.advance(SECOND / 2);
    assert_eq!(self::status(&portal, "scope").await, 200);
    assert_eq!(portal.emulator.limit_rejections(), 1);
}

#[tokio::test]
async fn request_faults_come_before_the_bucket() {
    let (portal, _clock) = common::start_virtual(Seed::demo());
    portal.emulator.set_rate_limit(Some(RateLimit {
        capacity: 1,
        drain_per_sec: 0.0,
    }));
    assert_eq!(status(&portal, "scope").await, 200);
    assert_eq!(status(&portal, "scope").await, 503);
    portal
        .emulator
        .inject(Fault::request_error("INTERNAL_SERVER_ERROR", 500, "Injected").times(1));
    assert_error(
        &portal.call("scope", json!({})).await,
        500,
        "INTERNAL_SERVER_ERROR",
        "Injected",
    );
    assert_eq!(
        portal.emulator.limit_rejections(),
        1,
        "the fault answered first"
    );
}

fn operating(body: &serde_json::Value) -> (f64, u64) {
    let time = &body["time"];
    (
        time["operating"].as_f64().expect("operating"),
        time["operating_reset_at"]
            .as_u64()
            .expect("operating_reset_at"),
    )
}

#[tokio::test]
async fn operating_time_blocks_a_method_until_the_oldest_bucket_expires() {
    let mut seed = Seed::demo();
    seed.oauth_tokens.push(OAuthTokenSeed {
        access_token: "tok-app".into(),
        client_id: Some("app.other".into()),
        scopes: None,
    });
    let (portal, clock) = common::start_virtual(seed);
    let list = "sale.paysystem.list";

    // Off by default: operating 0, the time object on the virtual clock.
    let (_, body) = portal.call(list, json!({})).await;
    assert_eq!(operating(&body), (0.0, T0 as u64 + 600));
    assert_eq!(body["time"]["start"], json!(T0));
    assert_eq!(body["time"]["date_start"], "2026-01-01T00:00:00+00:00");

    // The docs' worked example: limit 480 s, 20 s per call.
    portal
        .emulator
        .set_operating_limit(Some(OperatingLimit::DOCS_EXAMPLE));
    let reset_at = T0 as u64 + 600;
    for expected in [20.0, 40.0] {
        let (status, body) = portal.call(list, json!({})).await;
        assert_eq!((status, operating(&body)), (200, (expected, reset_at)));
    }
    clock.advance(SECOND * 70);
    let mut last = json!(null);
    for _ in 0..23 {
        let (status, body) = portal.call(list, json!({})).await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    assert_eq!(
        operating(&last),
        (500.0, reset_at),
        "the call crossing 480 finished"
    );
    let blocked = portal.call(list, json!({})).await;
    assert_error(
        &blocked,
        429,
        "OPERATION_TIME_LIMIT",
        "Method is blocked due to operation time limit.",
    );
    assert!(blocked.1.get("time").is_none(), "{}", blocked.1);

    // Other methods and other callers keep their own budgets.
    let (status, body) = portal.call("sale.persontype.list", json!({})).await;
    assert_eq!((status, operating(&body).0), (200, 20.0));
    let (status, body) = portal
        .post_json(
            &format!("{}{list}", portal.emulator.rest_endpoint()),
            json!({"auth": "tok-app"}),
        )
        .await;
    assert_eq!((status, operating(&body).0), (200, 20.0), "{body}");

    // Inside a batch: the blocked sub-call fails alone; the outer batch adds nothing.
    let (status, body) = portal
        .call(
            "batch",
            json!({"cmd": {"a": list, "b": "sale.persontype.list"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["result_error"],
        json!({"a": {"error": "OPERATION_TIME_LIMIT",
                     "error_description": "Method is blocked due to operation time limit."}})
    );
    assert!(body["result"]["result"]["b"].is_object());
    assert_eq!(operating(&body).0, 0.0, "batch itself is not charged");
    let (_, body) = portal.call("sale.persontype.list", json!({})).await;
    assert_eq!(
        operating(&body).0,
        60.0,
        "the sub-call was charged to its method"
    );

    // At operating_reset_at the oldest bucket (40 s) leaves the sum: 460, calls resume.
    clock.advance(SECOND * 529);
    assert_eq!(
        portal.call(list, json!({})).await.0,
        429,
        "one second early"
    );
    clock.advance(SECOND);
    let (status, body) = portal.call(list, json!({})).await;
    assert_eq!((status, operating(&body)), (200, (480.0, T0 as u64 + 670)));
    let (status, body) = portal.call(list, json!({})).await;
    assert_eq!(
        (status, operating(&body).0),
        (200, 500.0),
        "480 is not above the limit"
    );
    assert_eq!(portal.call(list, json!({})).await.0, 429);

    portal.emulator.set_operating_limit(None);
    let (status, body) = portal.call(list, json!({})).await;
    assert_eq!((status, operating(&body).0), (200, 0.0));
}

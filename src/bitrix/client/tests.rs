use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::bitrix::oauth::RefreshError;
use crate::model::Target;

/// One client is cancelled alone, through its own token (no process-wide signal):
/// it sends nothing.
#[tokio::test]
async fn a_cancelled_client_sends_nothing() {
    let credentials = Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap();
    let cancel = Cancel::new();
    let client = Client::new(credentials)
        .unwrap()
        .with_cancel(cancel.clone());
    let other =
        Client::new(Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap())
            .unwrap();
    cancel.cancel();
    let err = client
        .call(&update(11, 1, "CODE", "value"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Interrupted { .. }), "{err:?}");
    assert_eq!(client.stats().requests, 0);
    assert!(
        !other.cancel.is_cancelled(),
        "another client is not cancelled"
    );
}

#[test]
fn debug_of_the_client_hides_the_code() {
    let credentials =
        Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/CANARYCODE123/")
            .unwrap();
    let client = Client::new(credentials).unwrap();
    let text = format!("{client:?} {client:#?} {}", client.portal());
    assert!(!text.contains(CANARY), "{text}");
    assert_eq!(client.portal(), "https://example.bitrix24.com");
}

/// Connection refused on loopback port 1: the error, its whole source chain and the
/// trace-level log must not contain the webhook code or the secret parameter.
#[tokio::test]
async fn transport_errors_and_logs_never_show_the_code() {
    let logs = capture();

    let credentials =
        Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/CANARYCODE123/").unwrap();
    let client = Client::new(credentials).unwrap().with_retry(RetryConfig {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        ..RetryConfig::default()
    });
    let request = update(11, 1, "REST_SERVICE_KEY", "SECRETVALUE456");

    let err = client.call(&request).await.unwrap_err();
    // A refused connection is not retried: it is reported at once. (A machine where
    // the connect times out instead retries and gives up.)
    assert!(
        matches!(
            &err,
            ClientError::Transport { .. } | ClientError::GaveUp { attempts: 2, .. }
        ),
        "expected a refused connection, got {err:?}"
    );
    // The portal by host and port, the cause in words, what to check.
    let text = err.to_string();
    assert!(
        text == "cannot connect to portal 127.0.0.1:1 (connection refused): check \
                 PAYSYNC_WEBHOOK_URL and the network"
            || text.starts_with("gave up after 2 attempts over "),
        "{err}"
    );
    assert_eq!(
        client.stats().retries,
        0,
        "a refused connection is not retried"
    );
    let mut text = everything(&err);
    text.push_str(&format!("{request:?}"));

    let err = client
        .batch(&[("a".to_owned(), request.clone())], true)
        .await
        .unwrap_err();
    text.push_str(&everything(&err));

    let err = crate::live::read_settings(
        &client,
        &[Target {
            pay_system: 11,
            person_type: 0,
        }],
    )
    .await
    .unwrap_err();
    text.push_str(&everything(&err));

    let logged = logs.text();
    assert!(
        logged.contains("cannot connect to portal 127.0.0.1:1"),
        "the failure should be logged: {logged}"
    );
    text.push_str(&logged);
    assert!(!text.contains(CANARY), "{text}");
    assert!(!text.contains("SECRETVALUE456"), "{text}");
    assert!(text.contains("sale.paysystem.settings.update"), "{text}");
}

// ---- Over loopback HTTP with a fake clock: retries, throttle, redirects, OAuth ----

use crate::bitrix::clock::fake::FakeClock;
use crate::bitrix::credentials::RefreshConfig;
use crate::bitrix::error::GiveUp;
use crate::bitrix::testserver::{
    CANARY, FakeServer, Reply, Seen, UNIX, capture, everything, exact, scope, scripted, secs,
    update, webhook_client,
};
use crate::bitrix::throttle::Rate;

#[test]
fn clients_and_their_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Client>();
    let client =
        Client::new(Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/c/").unwrap())
            .unwrap();
    let request = scope();
    send(&client.call(&request));
    send(&client.batch(&[], false));
    send(&crate::live::read_settings(&client, &[]));
}

#[tokio::test]
async fn rate_limited_calls_fill_the_bucket_and_back_off() {
    let server = FakeServer::start(scripted(vec![
        Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
        Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
        Reply::result(json!(["pay_system"])),
    ]))
    .await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_rate(Rate {
        capacity: 2,
        per_second: 0.5,
    });
    let logs = capture();
    assert_eq!(client.call(&scope()).await.unwrap(), json!(["pay_system"]));
    // Backoff 1 s; the bucket was marked full, so the throttle adds 1 s (2.5 of 2 at
    // 0.5/s); backoff 2 s, after which the bucket has room.
    assert_eq!(clock.sleeps(), vec![secs(1), secs(1), secs(2)]);
    let stats = client.stats();
    assert_eq!(
        stats,
        ClientStats {
            requests: 3,
            retries: 2,
            rate_limited: 2,
            throttle_wait: secs(1),
            retry_wait: secs(3),
            ..ClientStats::default()
        }
    );
    let logged = logs.text();
    assert!(
        logged.contains("portal rate limit (QUERY_LIMIT_EXCEEDED): retrying in 1s (attempt 2/6)"),
        "{logged}"
    );
    assert!(logged.contains("retrying in 2s (attempt 3/6)"), "{logged}");
    assert!(logged.contains("throttle: waiting 1.0s"), "{logged}");
    assert!(!logged.contains(CANARY), "{logged}");
}

#[tokio::test]
async fn server_errors_give_up_after_the_attempts() {
    let server = FakeServer::start(scripted(vec![Reply::error(
        500,
        "INTERNAL_SERVER_ERROR",
        "Internal server error",
    )]))
    .await;
    let (client, clock) = webhook_client(&server);
    let err = client.call(&scope()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up after 6 attempts over 31s: scope: INTERNAL_SERVER_ERROR: Internal server error"
    );
    assert!(matches!(
        err,
        ClientError::GaveUp {
            attempts: 6,
            reason: GiveUp::Attempts,
            ..
        }
    ));
    assert_eq!(err.portal_error().unwrap().code, "INTERNAL_SERVER_ERROR");
    assert_eq!(error_policy(&err), Decision::Fail);
    assert_eq!(
        clock.sleeps(),
        vec![secs(1), secs(2), secs(4), secs(8), secs(16)]
    );
    assert_eq!(server.seen().len(), 6);
    assert_eq!(client.stats().retries, 5);
}

#[tokio::test]
async fn jittered_waits_stay_within_their_bounds() {
    let server = FakeServer::start(scripted(vec![Reply::error(502, "BAD_GATEWAY", "")])).await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_retry(RetryConfig::default());
    client.call(&scope()).await.unwrap_err();
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 5);
    for (wait, base) in sleeps.iter().zip([1, 2, 4, 8, 16]) {
        assert!(*wait >= secs(base) && *wait < secs(2 * base), "{sleeps:?}");
    }
}

#[tokio::test]
async fn the_total_wait_is_bounded() {
    let server = FakeServer::start(scripted(vec![Reply::html(502)])).await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_retry(RetryConfig {
        max_total_wait: secs(5),
        ..exact()
    });
    let err = client.call(&scope()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts over 3s (waiting 4s more would exceed the 5s retry \
         budget): scope: portal answered HTTP 502 with a non-JSON body"
    );
    assert_eq!(clock.sleeps(), vec![secs(1), secs(2)]);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_429_waits_until_operating_reset_at() {
    let server = FakeServer::start(scripted(vec![
        Reply::json(
            200,
            json!({"result": 1, "time": {"operating": 12.5, "operating_reset_at": UNIX + 42.0}}),
        ),
        Reply::error(429, "OPERATION_TIME_LIMIT", "Method is blocked"),
        Reply::result(json!(2)),
    ]))
    .await;
    let (client, clock) = webhook_client(&server);
    let logs = capture();
    assert_eq!(client.call(&scope()).await.unwrap(), json!(1));
    clock.advance(secs(30));
    assert_eq!(client.call(&scope()).await.unwrap(), json!(2));
    // Until the announced reset (12 s ahead by now), plus one second.
    assert_eq!(clock.sleeps(), vec![secs(13)]);
    let stats = client.stats();
    assert_eq!((stats.operating_limited, stats.retries), (1, 1));
    assert!(
        logs.text().contains(
            "(OPERATION_TIME_LIMIT), waiting for its reset: retrying in 13s (attempt 2/6)"
        ),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_429_without_a_known_reset_waits_the_default() {
    let server = FakeServer::start(scripted(vec![
        Reply::error(429, "OPERATION_TIME_LIMIT", ""),
        Reply::error(429, "OPERATION_TIME_LIMIT", ""),
        Reply::result(json!(true)),
    ]))
    .await;
    let (client, clock) = webhook_client(&server);
    assert_eq!(client.call(&scope()).await.unwrap(), json!(true));
    assert_eq!(clock.sleeps(), vec![secs(60), secs(60)]);
}

#[tokio::test]
async fn a_long_operating_wait_is_taken_once_beyond_the_budget() {
    let server = FakeServer::start(scripted(vec![
        Reply::json(
            200,
            json!({"result": 1, "time": {"operating": 100, "operating_reset_at": UNIX + 599.0}}),
        ),
        Reply::error(429, "OPERATION_TIME_LIMIT", ""),
    ]))
    .await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_retry(RetryConfig {
        max_total_wait: secs(120),
        ..exact()
    });
    client.call(&scope()).await.unwrap();
    let err = client.call(&scope()).await.unwrap_err();
    // 600 s for the announced reset, then 60 s more would exceed the budget.
    assert_eq!(clock.sleeps(), vec![secs(600)]);
    assert!(
        err.to_string()
            .starts_with("gave up after 2 attempts over 10m0s (waiting 1m0s more"),
        "{err}"
    );
}

#[tokio::test]
async fn without_retries_errors_come_back_as_they_are() {
    let server = FakeServer::start(scripted(vec![Reply::error(
        503,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
    )]))
    .await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_retry(RetryConfig::none());
    let err = client.call(&scope()).await.unwrap_err();
    assert!(matches!(err, ClientError::Portal { .. }), "{err:?}");
    assert_eq!(server.seen().len(), 1);
    assert!(clock.sleeps().is_empty());
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.rate_limited, stats.retries),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    for reply in [
        Reply::error(403, "ACCESS_DENIED", "Access denied"),
        Reply::error(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload"),
        Reply::error(401, "NO_AUTH_FOUND", "Wrong authorization data"),
        Reply::error(
            401,
            "expired_token",
            "The access token provided has expired",
        ),
        Reply::html(404),
    ] {
        let server = FakeServer::start(scripted(vec![reply.clone()])).await;
        let (client, clock) = webhook_client(&server);
        let err = client.call(&scope()).await.unwrap_err();
        assert!(
            !matches!(err, ClientError::GaveUp { .. }),
            "{}: {err:?}",
            reply.body
        );
        assert_eq!(server.seen().len(), 1, "{}", reply.body);
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn html_pages_and_lost_answers_are_retried() {
    let server = FakeServer::start(scripted(vec![
        Reply::html(502),
        Reply::hang_up(),
        Reply::html(200),
        Reply::result(json!("ok")),
    ]))
    .await;
    let (client, clock) = webhook_client(&server);
    assert_eq!(client.call(&scope()).await.unwrap(), json!("ok"));
    assert_eq!(clock.sleeps(), vec![secs(1), secs(2), secs(4)]);
    assert_eq!(client.stats().requests, 4);
}

/// A write whose answer was lost is sent again, unchanged (it is idempotent).
#[tokio::test]
async fn a_redirect_within_the_portal_is_followed_once_with_the_same_post() {
    let server = FakeServer::start(|seen: &Seen| {
        if seen.target.starts_with("/moved/") {
            Reply::result(json!("moved"))
        } else {
            Reply::redirect(302, "/moved/rest/1/CANARYCODE123/scope")
        }
    })
    .await;
    let (client, _clock) = webhook_client(&server);
    let logs = capture();
    let request = Request::new("scope", json!({"full": true}));
    assert_eq!(client.call(&request).await.unwrap(), json!("moved"));
    assert_eq!(client.call(&request).await.unwrap(), json!("moved"));
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].target, "/moved/rest/1/CANARYCODE123/scope");
    assert_eq!(seen[1].json(), json!({"full": true}));
    assert_eq!(client.stats().requests, 4);
    assert!(!logs.text().contains(CANARY), "{}", logs.text());
}

/// Regression (issue 7.4): a redirect to another origin used to be followed with the
/// body (settings, tokens) re-sent there.
#[tokio::test]
async fn a_redirect_to_another_origin_is_never_followed() {
    let elsewhere = FakeServer::start(scripted(vec![Reply::result(json!("stolen"))])).await;
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}/rest/1/CANARYCODE123/scope", elsewhere.url);
        let server = FakeServer::start(scripted(vec![Reply::redirect(status, &location)])).await;
        let (client, _clock) = webhook_client(&server);
        let err = client.call(&scope()).await.unwrap_err();
        let ClientError::Moved {
            new_address,
            variable,
            ..
        } = &err
        else {
            panic!("{status}: expected Moved, got {err:?}");
        };
        assert_eq!(new_address, &elsewhere.url);
        assert_eq!(*variable, "PAYSYNC_WEBHOOK_URL");
        let text = everything(&err);
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("paysync state move-portal"), "{text}");
        assert_eq!(error_policy(&err), Decision::Fail);
        assert_eq!(server.seen().len(), 1);
    }
    for location in [
        "https://elsewhere.example/rest/1/CANARYCODE123/scope",
        "http://portal.example/rest/1/CANARYCODE123/scope",
    ] {
        let server = FakeServer::start(scripted(vec![Reply::redirect(302, location)])).await;
        let (client, _clock) = webhook_client(&server);
        let err = client.call(&scope()).await.unwrap_err();
        assert!(matches!(err, ClientError::Moved { .. }), "{err:?}");
        assert_eq!(server.seen().len(), 1);
    }
    assert!(
        elsewhere.seen().is_empty(),
        "nothing reached the other origin"
    );
}

#[tokio::test]
async fn a_second_redirect_is_not_followed() {
    let server = FakeServer::start(scripted(vec![Reply::redirect(
        307,
        "/again/rest/1/CANARYCODE123/scope",
    )]))
    .await;
    let (client, _clock) = webhook_client(&server);
    let err = client.call(&scope()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Redirected { status: 307, .. }),
        "{err:?}"
    );
    assert!(!everything(&err).contains(CANARY));
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn the_throttle_spaces_requests() {
    let server = FakeServer::start(scripted(vec![Reply::result(json!(true))])).await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_rate(Rate {
        capacity: 2,
        per_second: 1.0,
    });
    assert_eq!(client.rate().capacity, 2);
    let clone = client.clone();
    for _ in 0..2 {
        client.call(&scope()).await.unwrap();
        clone.call(&scope()).await.unwrap();
    }
    assert_eq!(clock.sleeps(), vec![secs(1), secs(1)]);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.throttle_wait), (4, secs(2)));
    assert_eq!(clone.stats(), stats);
}

#[tokio::test]
async fn a_method_near_its_time_budget_pauses_first() {
    let answer = Reply::json(
        200,
        json!({"result": 1, "time": {"operating": 470.0, "operating_reset_at": UNIX + 20.0}}),
    );
    let server = FakeServer::start(scripted(vec![answer.clone()])).await;
    let (client, clock) = webhook_client(&server);
    let logs = capture();
    client.call(&scope()).await.unwrap();
    assert!(clock.sleeps().is_empty());
    client.call(&scope()).await.unwrap();
    assert_eq!(clock.sleeps(), vec![secs(21)]);
    assert_eq!(client.stats().operating_wait, secs(21));
    assert!(
        logs.text()
            .contains("scope: time budget nearly spent (470s of 480s used in the last 10 minutes): pausing 21s until it resets"),
        "{}",
        logs.text()
    );

    // With a larger limit, 470 s is not near it.
    let server = FakeServer::start(scripted(vec![answer])).await;
    let (client, clock) = webhook_client(&server);
    let client = client.with_operating_limit(secs(1000));
    client.call(&scope()).await.unwrap();
    client.call(&scope()).await.unwrap();
    assert!(clock.sleeps().is_empty());
}

// ---- OAuth ----

const SECRET: &str = "SECRET_CANARY";

/// A portal accepting only `valid` as `auth`, and a token endpoint turning
/// `REFRESH_OLD_CANARY` into `ACCESS_NEW_CANARY` / `REFRESH_NEW_CANARY`.
fn oauth_portal(
    valid: &'static str,
    token_answers: Vec<Reply>,
) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let token_endpoint = scripted(token_answers);
    move |seen: &Seen| {
        if seen.target.starts_with("/oauth/token/") {
            let url = Url::parse(&format!("http://x{}", seen.target)).unwrap();
            let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            assert_eq!(seen.method, "GET");
            assert_eq!(query["grant_type"], "refresh_token");
            assert_eq!(query["client_id"], "app.local.1");
            assert_eq!(query["client_secret"], SECRET);
            assert_eq!(query["refresh_token"], "REFRESH_OLD_CANARY");
            token_endpoint(seen)
        } else if seen.auth().as_deref() == Some(valid) {
            Reply::result(json!("ok"))
        } else {
            Reply::error(
                401,
                "expired_token",
                "The access token provided has expired",
            )
        }
    }
}

fn new_tokens() -> Reply {
    Reply::json(
        200,
        json!({"access_token": "ACCESS_NEW_CANARY", "refresh_token": "REFRESH_NEW_CANARY",
            "expires": 1_700_003_600, "expires_in": 3600, "domain": "oauth.bitrix.info"}),
    )
}

fn oauth_client(server: &FakeServer, token_file: &std::path::Path) -> (Client, Arc<FakeClock>) {
    let refresh = RefreshConfig::new("app.local.1", SECRET, "REFRESH_OLD_CANARY")
        .unwrap()
        .with_token_url(&format!("{}/oauth/token/", server.url))
        .unwrap()
        .with_token_file(token_file);
    let credentials = Credentials::oauth(&server.url, "ACCESS_OLD_CANARY", Some(refresh)).unwrap();
    let clock = FakeClock::new(UNIX);
    let client = Client::new(credentials)
        .unwrap()
        .with_clock(clock.clone())
        .with_retry(exact());
    (client, clock)
}

fn token_requests(server: &FakeServer) -> usize {
    server
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/oauth/token/"))
        .count()
}

#[tokio::test]
async fn concurrent_expired_calls_refresh_once_and_save_the_tokens() {
    let server = FakeServer::start(oauth_portal("ACCESS_NEW_CANARY", vec![new_tokens()])).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    let (client, _clock) = oauth_client(&server, &file);
    let logs = capture();
    let other = client.clone();
    let (request_a, request_b) = (scope(), Request::new("batch", json!({"cmd": {}})));
    let (a, b) = tokio::join!(client.call(&request_a), other.call(&request_b));
    assert_eq!(a.unwrap(), json!("ok"));
    assert_eq!(b.unwrap(), json!("ok"));
    assert_eq!(token_requests(&server), 1);
    let stats = client.stats();
    assert_eq!((stats.refreshes, stats.requests, stats.retries), (1, 4, 0));

    // The rotated pair is on disk; later calls use the new token directly.
    let stored = crate::bitrix::token_file::read_token_file(&file)
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token.expose(), "ACCESS_NEW_CANARY");
    assert_eq!(stored.refresh_token.expose(), "REFRESH_NEW_CANARY");
    assert_eq!(stored.expires, Some(1_700_003_600));
    assert!(stored.saved_at.is_some());
    client.call(&scope()).await.unwrap();
    assert_eq!(client.stats().requests, 5);
    let portal_calls: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| !s.target.starts_with("/oauth/"))
        .collect();
    assert_eq!(
        portal_calls.last().unwrap().auth().unwrap(),
        "ACCESS_NEW_CANARY"
    );

    let logged = logs.text();
    assert!(
        logged.contains("refreshed the OAuth access token"),
        "{logged}"
    );
    assert!(!logged.contains("CANARY"), "{logged}");
    assert!(!format!("{client:?}").contains("CANARY"));
}

#[tokio::test]
async fn a_rejected_refresh_token_ends_with_a_clear_error_after_one_request() {
    let server = FakeServer::start(oauth_portal(
        "never",
        vec![Reply::error(400, "invalid_grant", "Invalid refresh token")],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (client, clock) = oauth_client(&server, &dir.path().join("tokens.json"));
    let other = client.clone();
    let (request_a, request_b) = (scope(), scope());
    let (a, b) = tokio::join!(client.call(&request_a), other.call(&request_b));
    for err in [a.unwrap_err(), b.unwrap_err()] {
        assert!(
            matches!(err, ClientError::Refresh(RefreshError::InvalidGrant { .. })),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the refresh token was rejected (invalid_grant): re-authorise the app and set \
             PAYSYNC_REFRESH_TOKEN / the token file (PAYSYNC_TOKEN_FILE)"
        );
        assert!(!everything(&err).contains("CANARY"));
    }
    assert_eq!(token_requests(&server), 1);
    assert!(clock.sleeps().is_empty());
    assert!(!dir.path().join("tokens.json").exists());
}

#[tokio::test]
async fn a_token_refused_again_after_a_refresh_is_reported() {
    let server = FakeServer::start(oauth_portal("never", vec![new_tokens()])).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, _clock) = oauth_client(&server, &dir.path().join("tokens.json"));
    let err = client.call(&scope()).await.unwrap_err();
    assert_eq!(err.portal_error().unwrap().code, "expired_token");
    assert_eq!(token_requests(&server), 1);
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_with_backoff() {
    let server = FakeServer::start(oauth_portal(
        "ACCESS_NEW_CANARY",
        vec![Reply::html(503), new_tokens()],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (client, clock) = oauth_client(&server, &dir.path().join("tokens.json"));
    let logs = capture();
    assert_eq!(client.call(&scope()).await.unwrap(), json!("ok"));
    assert_eq!(token_requests(&server), 2);
    assert_eq!(clock.sleeps(), vec![secs(1)]);
    assert_eq!(client.stats().refreshes, 2);
    assert!(
        logs.text()
            .contains("the OAuth token endpoint failed: retrying in 1s"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn an_expired_token_without_refresh_credentials_names_the_variables() {
    let server = FakeServer::start(oauth_portal("never", vec![new_tokens()])).await;
    let credentials = Credentials::from_access_token(&server.url, "ACCESS_OLD_CANARY").unwrap();
    let client = Client::new(credentials).unwrap().with_retry(exact());
    let err = client.call(&scope()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("(expired_token)"), "{text}");
    assert!(
        text.contains("PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET"),
        "{text}"
    );
    assert_eq!(token_requests(&server), 0);
    assert_eq!(client.stats().requests, 1);
}

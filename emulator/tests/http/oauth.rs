//! The OAuth token endpoint and access-token expiry: refresh rotates, a reused refresh
//! token is `invalid_grant`, bad clients are `invalid_client`, the new access token works,
//! tokens expire by the (virtual) clock or on demand, and no secret reaches the log.

use std::time::Duration;

use paysync_emulator::{Fault, OAuthAppSeed, OAuthRefreshTokenSeed, OAuthTokenSeed, Seed};
use serde_json::{Value, json};

use crate::common::{self, T0, assert_error, enc};

const CLIENT_ID: &str = "app.paysync";
const CANARY_SECRET: &str = "canary-client-secret-5d1e";
const CANARY_REFRESH: &str = "canary-refresh-token-0b7c";

fn seed() -> Seed {
    let mut seed = Seed::demo();
    seed.oauth_apps.push(OAuthAppSeed {
        client_id: CLIENT_ID.into(),
        client_secret: CANARY_SECRET.into(),
        scopes: Some(vec!["pay_system".into(), "sale".into()]),
    });
    seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
        refresh_token: CANARY_REFRESH.into(),
        client_id: CLIENT_ID.into(),
        user_id: Some(7),
    });
    seed.oauth_tokens
        .push(OAuthTokenSeed::new("seed-access-token"));
    seed
}

fn refresh_url(portal: &common::Portal, client_secret: &str, refresh_token: &str) -> String {
    format!(
        "{}?grant_type=refresh_token&client_id={CLIENT_ID}&client_secret={}&refresh_token={}",
        portal.emulator.oauth_endpoint(),
        enc(client_secret),
        enc(refresh_token)
    )
}

async fn refresh(portal: &common::Portal, refresh_token: &str) -> (u16, Value) {
    portal
        .get(&refresh_url(portal, CANARY_SECRET, refresh_token))
        .await
}

/// `scope` called with an access token.
async fn call_with(portal: &common::Portal, token: &str) -> (u16, Value) {
    portal
        .post_json(
            &format!("{}scope", portal.emulator.rest_endpoint()),
            json!({"auth": token}),
        )
        .await
}

fn text(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .to_owned()
}

#[tokio::test]
async fn refresh_rotates_and_the_new_access_token_works() {
    let (portal, _clock) = common::start_virtual(seed());
    let endpoint = portal.emulator.oauth_endpoint();
    assert_eq!(
        endpoint,
        format!("{}/oauth/token/", portal.emulator.base_url())
    );

    let (status, body) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let access = text(&body, "access_token");
    let rotated = text(&body, "refresh_token");
    assert_ne!(rotated, CANARY_REFRESH);
    assert_eq!(body["expires"], json!(T0 as u64 + 3600));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["client_endpoint"], portal.emulator.rest_endpoint());
    assert_eq!(body["server_endpoint"], "https://oauth.bitrix.info/rest/");
    assert_eq!(body["domain"], "oauth.bitrix.info");
    assert_eq!(body["scope"], "pay_system,sale");
    assert_eq!(body["status"], "L");
    assert_eq!(body["user_id"], 7);
    assert!(body["member_id"].as_str().is_some_and(|m| !m.is_empty()));

    let (status, body) = call_with(&portal, &access).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!(["pay_system", "sale"]))
    );

    // The old refresh token is spent; the rotated one works once.
    let reused = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(
        (reused.0, &reused.1["error"]),
        (400, &json!("invalid_grant"))
    );
    let (status, body) = refresh(&portal, &rotated).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(text(&body, "access_token"), access);
    let (status, _) = call_with(&portal, &access).await;
    assert_eq!(
        status, 200,
        "the previous access token lives until it expires"
    );
    assert_eq!(refresh(&portal, &rotated).await.0, 400);

    assert_eq!(portal.emulator.token_refreshes(), 2);
    assert_eq!(portal.emulator.refresh_requests(), 4);
}

#[tokio::test]
async fn bad_clients_and_malformed_requests_are_refused() {
    let portal = common::start(seed());
    let endpoint = portal.emulator.oauth_endpoint();
    let wrong_secret = portal
        .get(&refresh_url(&portal, "not-the-secret", CANARY_REFRESH))
        .await;
    assert_eq!(
        (wrong_secret.0, &wrong_secret.1["error"]),
        (401, &json!("invalid_client"))
    );
    let unknown_client = portal
        .get(&format!(
            "{endpoint}?grant_type=refresh_token&client_id=app.other&client_secret=x&refresh_token=y"
        ))
        .await;
    assert_eq!(unknown_client.1["error"], "invalid_client");
    let missing = portal
        .get(&format!(
            "{endpoint}?grant_type=refresh_token&client_id={CLIENT_ID}"
        ))
        .await;
    assert_error(
        &missing,
        400,
        "invalid_request",
        "Missing parameter: client_secret",
    );
    let other_grant = portal
        .get(&format!(
            "{endpoint}?grant_type=authorization_code&client_id={CLIENT_ID}&code=c"
        ))
        .await;
    assert_eq!(
        (other_grant.0, &other_grant.1["error"]),
        (400, &json!("invalid_request"))
    );
    let unknown_token = refresh(&portal, "never-issued").await;
    assert_eq!(
        (unknown_token.0, &unknown_token.1["error"]),
        (400, &json!("invalid_grant"))
    );
    // Refusals did not spend the real refresh token.
    assert_eq!(refresh(&portal, CANARY_REFRESH).await.0, 200);
    assert_eq!(portal.emulator.token_refreshes(), 1);
    assert_eq!(portal.emulator.refresh_requests(), 6);
}

#[tokio::test]
async fn access_tokens_expire_by_the_clock_and_on_demand() {
    let (portal, clock) = common::start_virtual(seed());
    let (_, body) = refresh(&portal, CANARY_REFRESH).await;
    let access = text(&body, "access_token");
    let rotated = text(&body, "refresh_token");

    clock.advance(Duration::from_secs(3599));
    assert_eq!(call_with(&portal, &access).await.0, 200);
    clock.advance(Duration::from_secs(1));
    let expired = call_with(&portal, &access).await;
    assert_error(
        &expired,
        401,
        "expired_token",
        "The access token provided has expired",
    );
    let unknown = call_with(&portal, "no-such-token").await;
    assert_error(&unknown, 401, "NO_AUTH_FOUND", "Wrong authorization data");

    // Seed tokens never expire on their own, only on demand.
    clock.advance(Duration::from_secs(30 * 86_400));
    assert_eq!(call_with(&portal, "seed-access-token").await.0, 200);
    assert!(portal.emulator.expire_access_token("seed-access-token"));
    assert!(!portal.emulator.expire_access_token("no-such-token"));
    assert_eq!(
        call_with(&portal, "seed-access-token").await.1["error"],
        "expired_token"
    );

    // A shorter lifetime applies to tokens issued from now on.
    portal.emulator.set_token_lifetime(Duration::from_secs(60));
    let (status, body) = refresh(&portal, &rotated).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 60);
    let fresh = text(&body, "access_token");
    assert_eq!(call_with(&portal, &fresh).await.0, 200);
    portal.emulator.expire_all_access_tokens();
    assert_eq!(call_with(&portal, &fresh).await.1["error"], "expired_token");
}

#[tokio::test]
async fn oauth_secrets_never_reach_the_log() {
    let portal = common::start(seed());
    let (_, body) = refresh(&portal, CANARY_REFRESH).await;
    let access = text(&body, "access_token");
    let rotated = text(&body, "refresh_token");
    refresh(&portal, CANARY_REFRESH).await; // refused: reused
    portal
        .get(&refresh_url(&portal, "wrong-secret-canary", &rotated))
        .await;
    portal
        .post_form(
            &portal.emulator.oauth_endpoint(),
            &format!(
                "grant_type=refresh_token&client_id={CLIENT_ID}&client_secret={CANARY_SECRET}&refresh_token={rotated}"
            ),
        )
        .await;
    call_with(&portal, &access).await;

    let log = portal.emulator.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].method, "oauth.token");
    assert_eq!(
        log[0].params,
        json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
               "client_secret": "<redacted>", "refresh_token": "<redacted>"})
    );
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 400, 401, 200, 200]
    );
    let dump = format!(
        "{log:?} {} {:?}",
        serde_json::to_string(&log).expect("serialises"),
        portal.emulator
    );
    for secret in [
        CANARY_SECRET,
        CANARY_REFRESH,
        "wrong-secret-canary",
        &access,
        &rotated,
    ] {
        assert!(!dump.contains(secret), "{secret} leaked: {dump}");
    }
}

#[tokio::test]
async fn only_faults_that_name_the_token_endpoint_reach_it() {
    let portal = common::start(seed());
    portal.emulator.inject(Fault::html(502));
    let (status, body) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(status, 200, "an unnamed fault is for the portal: {body}");
    portal.emulator.clear_faults();

    portal
        .emulator
        .inject(Fault::html(502).method("oauth.token").times(1));
    let response = portal
        .http()
        .get(refresh_url(
            &portal,
            CANARY_SECRET,
            &text(&body, "refresh_token"),
        ))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(portal.emulator.refresh_requests(), 2);
    assert_eq!(portal.emulator.token_refreshes(), 1);
    let (status, _) = refresh(&portal, &text(&body, "refresh_token")).await;
    assert_eq!(status, 200, "the faulted request did not spend the token");
}

/// Refresh tokens live 180 days by the portal's clock: the seeded one counts from the
/// start, a rotated one from its refresh; `refresh_token_lifetime` changes it.
#[tokio::test]
async fn refresh_tokens_expire_after_180_days() {
    let day = Duration::from_secs(86_400);
    let (portal, clock) = common::start_virtual(seed());
    clock.advance(179 * day);
    let (status, body) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let rotated = text(&body, "refresh_token");
    clock.advance(180 * day - Duration::from_secs(1));
    let (status, body) = refresh(&portal, &rotated).await;
    assert_eq!(status, 200, "{body}");
    let rotated = text(&body, "refresh_token");
    clock.advance(180 * day);
    assert_error(
        &refresh(&portal, &rotated).await,
        400,
        "invalid_grant",
        "Invalid refresh token (unknown, already used or expired)",
    );

    let (portal, clock) = common::start_virtual(seed());
    clock.advance(180 * day);
    let (status, body) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));

    let mut short = seed();
    short.refresh_token_lifetime = Some(60);
    let (portal, clock) = common::start_virtual(short);
    clock.advance(Duration::from_secs(60));
    let (status, _) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(status, 400);
}

/// The token endpoint's `client_endpoint`: this portal's REST base, or what the seed or
/// the handle sets (a portal that moved).
#[tokio::test]
async fn the_client_endpoint_can_name_another_portal() {
    let mut moved = seed();
    moved.client_endpoint = Some("https://moved.bitrix24.com/rest/".into());
    let (portal, _clock) = common::start_virtual(moved);
    let (status, body) = refresh(&portal, CANARY_REFRESH).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_endpoint"], "https://moved.bitrix24.com/rest/");
    let rotated = text(&body, "refresh_token");

    portal.emulator.set_client_endpoint(None);
    let (_, body) = refresh(&portal, &rotated).await;
    assert_eq!(
        body["client_endpoint"],
        json!(portal.emulator.rest_endpoint())
    );
    let rotated = text(&body, "refresh_token");
    portal
        .emulator
        .set_client_endpoint(Some("http://127.0.0.1:1/rest/".into()));
    let (_, body) = refresh(&portal, &rotated).await;
    assert_eq!(body["client_endpoint"], "http://127.0.0.1:1/rest/");
}

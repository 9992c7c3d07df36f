//! OAuth: an expired access token is refreshed once, the rotated pair is saved to the
//! token file, a rejected refresh token ends the run clearly.

use std::sync::Arc;

use paysync::bitrix::{Client, Credentials, RefreshConfig, Request};
use paysync_emulator::{OAuthAppSeed, OAuthRefreshTokenSeed, OAuthTokenSeed, Seed};

use crate::limits::{Virtual, virtual_world};
use crate::support::{World, manifest};

const CLIENT_ID: &str = "app.paysync.1";
const CLIENT_SECRET: &str = "CANARY-client-secret-51ab";
const ACCESS: &str = "CANARY-access-0c77";
const REFRESH: &str = "CANARY-refresh-93de";

fn oauth_seed() -> Seed {
    let mut seed = Seed::demo();
    seed.oauth_apps.push(OAuthAppSeed {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        scopes: None,
    });
    seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
        refresh_token: REFRESH.into(),
        client_id: CLIENT_ID.into(),
        user_id: None,
    });
    seed.oauth_tokens.push(OAuthTokenSeed {
        client_id: Some(CLIENT_ID.into()),
        ..OAuthTokenSeed::new(ACCESS)
    });
    seed
}

fn oauth_run(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w
        .paysync()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", ACCESS)
        .env("PAYSYNC_REFRESH_TOKEN", REFRESH)
        .env("PAYSYNC_CLIENT_ID", CLIENT_ID)
        .env("PAYSYNC_CLIENT_SECRET", CLIENT_SECRET)
        .env("PAYSYNC_OAUTH_URL", w.portal.oauth_endpoint())
        .env("PAYSYNC_TOKEN_FILE", w.path("tokens.json"))
        .env("RUST_LOG", "trace")
        .arg("-vv")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for secret in [CLIENT_SECRET, ACCESS, REFRESH] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stdout}\n{stderr}"
        );
    }
    (out.status.code().unwrap(), stdout, stderr)
}

#[test]
fn an_expired_token_is_refreshed_once_and_the_rotated_pair_is_kept() {
    let w = World::with_seed(oauth_seed());
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    assert!(w.portal.expire_access_token(ACCESS));

    let (code, _, stderr) = oauth_run(&w, &["apply", "--auto-approve", "m.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(w.portal.token_refreshes(), 1);
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    let tokens = w.read("tokens.json");
    let saved: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    let rotated = saved["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, REFRESH, "the refresh token rotates");
    assert!(!w.read("paysync.state.json").contains(&rotated));
    assert!(!w.read("paysync.state.json").contains(ACCESS));

    // The next run: its access token expired too; the env still holds the old, now dead,
    // refresh token, but the token file has the rotated one.
    w.portal.expire_all_access_tokens();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let (code, _, stderr) = oauth_run(&w, &["apply", "--auto-approve", "m.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(w.portal.token_refreshes(), 2);
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("TEST")
    );
}

#[test]
fn a_rejected_refresh_token_asks_to_reauthorise() {
    let w = World::with_seed(oauth_seed());
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.expire_access_token(ACCESS);
    // Use up the seeded refresh token, as a previous run whose token file was lost would.
    let first = oauth_run(&w, &["plan", "--refresh", "m.yaml"]);
    assert_eq!(first.0, 0, "{}", first.2);
    std::fs::remove_file(w.path("tokens.json")).unwrap();
    w.portal.expire_all_access_tokens();
    w.portal.clear_requests();

    let (code, _, stderr) = oauth_run(&w, &["apply", "--auto-approve", "m.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("invalid_grant") && stderr.contains("re-authorise"),
        "{stderr}"
    );
    assert!(w.updates().is_empty());
}

#[test]
fn two_simultaneous_expirations_cause_one_refresh() {
    let (w, clock) = virtual_world(oauth_seed());
    w.portal.expire_access_token(ACCESS);
    let refresh = RefreshConfig::new(CLIENT_ID, CLIENT_SECRET, REFRESH)
        .unwrap()
        .with_token_url(&w.portal.oauth_endpoint())
        .unwrap();
    let credentials = Credentials::oauth(&w.portal.base_url(), ACCESS, Some(refresh)).unwrap();
    let client = Client::new(credentials)
        .unwrap()
        .with_clock(Arc::new(Virtual(clock)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let get = |ps| {
        Request::settings_get(paysync::model::Target {
            pay_system: ps,
            person_type: 1,
        })
    };
    let (r11, r12) = (get(11), get(12));
    let (a, b, c) = runtime
        .block_on(async { tokio::join!(client.call(&r11), client.call(&r12), client.call(&r11)) });
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(w.portal.token_refreshes(), 1);
    assert_eq!(w.portal.refresh_requests(), 1);
    assert_eq!(client.stats().refreshes, 1);
}

#[test]
fn errors_of_a_failed_refresh_read_well() {
    let w = World::with_seed(oauth_seed());
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.expire_access_token(ACCESS);
    let out = w
        .paysync()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", ACCESS)
        .args(["plan", "--refresh", "m.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PAYSYNC_REFRESH_TOKEN"), "{stderr}");
    assert!(!stderr.contains(ACCESS), "{stderr}");
}

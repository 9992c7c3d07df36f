//! OAuth: an expired access token is refreshed once, the rotated pair is saved to the
//! token file, a rejected refresh token ends the run clearly; the refresh answer's
//! `client_endpoint` moves the following calls (and later runs) when it is the portal's
//! host, and is refused otherwise; an old refresh token is warned about; `paysync auth
//! refresh` renews the pair on demand.

use std::sync::Arc;
use std::time::Duration;

use paysync::bitrix::{Client, Credentials, RefreshConfig, Request};
use paysync_emulator::{EmulatorHandle, OAuthAppSeed, OAuthRefreshTokenSeed, OAuthTokenSeed, Seed};

use crate::rate_limits::{Virtual, virtual_world};
use crate::support::{Cmd, Outcome, World, manifest};

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

/// paysync with the OAuth pair and refresh credentials for `portal`, refreshing at
/// `token_server`'s token endpoint; no token file.
fn oauth(w: &World, portal: &EmulatorHandle, token_server: &EmulatorHandle) -> Cmd {
    w.cmd()
        .offline()
        .env("PAYSYNC_PORTAL_URL", portal.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", ACCESS)
        .env("PAYSYNC_REFRESH_TOKEN", REFRESH)
        .env("PAYSYNC_CLIENT_ID", CLIENT_ID)
        .env("PAYSYNC_CLIENT_SECRET", CLIENT_SECRET)
        .env("PAYSYNC_OAUTH_URL", token_server.oauth_endpoint())
}

fn oauth_run(w: &World, args: &[&str]) -> (i32, String, String) {
    let o = run_against(w, &w.portal, &w.portal, true, args);
    (o.code, o.stdout, o.stderr)
}

/// paysync with OAuth credentials for `portal` and the token endpoint of `token_server`
/// (the token file `tokens.json` of the world), at trace level with `verbose`, else at
/// the default level. Asserts that no secret reached stdout or stderr, including the
/// tokens the token file holds (the rotated ones).
fn run_against(
    w: &World,
    portal: &EmulatorHandle,
    token_server: &EmulatorHandle,
    verbose: bool,
    args: &[&str],
) -> Outcome {
    let mut cmd = oauth(w, portal, token_server).env("PAYSYNC_TOKEN_FILE", w.path("tokens.json"));
    if verbose {
        cmd = cmd.env("RUST_LOG", "trace").arg("-vv");
    }
    let o = cmd.args(args).run();
    let mut secrets = vec![
        CLIENT_SECRET.to_owned(),
        ACCESS.to_owned(),
        REFRESH.to_owned(),
    ];
    if let Ok(saved) = serde_json::from_str::<serde_json::Value>(&w.read("tokens.json")) {
        for field in ["access_token", "refresh_token"] {
            secrets.extend(saved[field].as_str().map(str::to_owned));
        }
    }
    for secret in &secrets {
        assert!(
            !o.stdout.contains(secret.as_str()) && !o.stderr.contains(secret.as_str()),
            "{secret} leaked:\n{}\n{}",
            o.stdout,
            o.stderr
        );
    }
    o
}

/// The token file as JSON.
fn saved(w: &World) -> serde_json::Value {
    serde_json::from_str(&w.read("tokens.json")).expect("the token file is JSON")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const DAY: i64 = 86_400;

/// A token file as an earlier run left it: the seeded pair, obtained `days` ago
/// (`None`: a file written before paysync recorded it).
fn write_token_file(w: &World, days: Option<i64>) {
    let mut json = serde_json::json!({"access_token": ACCESS, "refresh_token": REFRESH});
    if let Some(days) = days {
        json["refresh_token_obtained_at"] = (unix_now() - days * DAY).into();
    }
    w.write("tokens.json", &json.to_string());
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
        .cmd()
        .offline()
        .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", ACCESS)
        .args(["plan", "--refresh", "m.yaml"])
        .run();
    assert_eq!(out.code, 1);
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("PAYSYNC_REFRESH_TOKEN"), "{stderr}");
    assert!(!stderr.contains(ACCESS), "{stderr}");
}

/// Acceptance (issue 12, item 5): a refresh answer naming another `client_endpoint`
/// (here: a second portal on the same host, as a portal moved to another port) — the
/// next call goes there, the token file keeps it, and a later run calls it directly.
#[test]
fn a_refresh_answer_with_another_client_endpoint_moves_the_next_calls() {
    // The old address: it knows the (expired) access token only.
    let mut old_seed = Seed::demo();
    old_seed.oauth_tokens.push(OAuthTokenSeed::new(ACCESS));
    let w = World::with_seed(old_seed);
    // The new one: its token endpoint answers its own /rest/ as client_endpoint.
    let new = EmulatorHandle::start(oauth_seed()).unwrap();
    assert!(w.portal.expire_access_token(ACCESS));
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );

    let o = run_against(
        &w,
        &w.portal,
        &new,
        true,
        &["apply", "--auto-approve", "m.yaml"],
    );
    o.expect_code(0);
    assert_eq!(new.token_refreshes(), 1);
    assert_eq!(
        new.setting(11, 1, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("REGULAR"),
        "the write went to the client_endpoint"
    );
    assert_eq!(w.portal.setting(11, 1, "PS_WORK_MODE_IFRAME"), None);
    let old_calls = w.portal.requests();
    assert!(
        old_calls.iter().all(|r| r.status == 401),
        "only the refused call reached the old address: {old_calls:?}"
    );
    assert!(
        o.stderr.contains(&format!(
            "the OAuth server named the portal's REST address {} (client_endpoint): the \
             following calls go there",
            new.addr()
        )),
        "{}",
        o.stderr
    );
    assert_eq!(saved(&w)["client_endpoint"], new.rest_endpoint());

    // A later run: the token file's access token and endpoint; nothing goes to the old
    // address.
    w.portal.clear_requests();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    run_against(
        &w,
        &w.portal,
        &new,
        false,
        &["apply", "--auto-approve", "m.yaml"],
    )
    .expect_code(0);
    assert!(w.portal.requests().is_empty(), "{:?}", w.portal.requests());
    assert_eq!(
        new.setting(11, 1, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("TEST")
    );
    assert_eq!(
        new.token_refreshes(),
        1,
        "the stored access token still works"
    );
}

/// A `client_endpoint` on another host (an attacker's, or a look-alike) is refused with
/// a warning naming the host: calls stay on the portal, the token file does not keep it,
/// and one in the token file is ignored too.
#[test]
fn a_client_endpoint_on_another_host_is_refused() {
    let refused = |offered: &dyn Fn(u16) -> String, host: &str| {
        let w = World::with_seed(oauth_seed());
        w.write(
            "m.yaml",
            &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
        );
        let port = w.portal.addr().port();
        w.portal.set_client_endpoint(Some(offered(port)));
        assert!(w.portal.expire_access_token(ACCESS));
        let o = run_against(
            &w,
            &w.portal,
            &w.portal,
            false,
            &["apply", "--auto-approve", "m.yaml"],
        );
        o.expect_code(0);
        assert_eq!(w.portal.token_refreshes(), 1);
        assert!(
            o.stderr.contains(&format!(
                "ignored the refresh answer's client_endpoint: client_endpoint {host}"
            )) && o
                .stderr
                .contains(&format!("calls stay on 127.0.0.1:{port}")),
            "{}",
            o.stderr
        );
        assert!(
            saved(&w).get("client_endpoint").is_none(),
            "{}",
            w.read("tokens.json")
        );
        assert_eq!(
            w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
            Some("REGULAR"),
            "the retried calls went to the portal"
        );
        w
    };
    refused(&|_| "https://evil.example/rest/".to_owned(), "evil.example");
    // Loopback, but another host name than the configured 127.0.0.1.
    refused(
        &|port| format!("http://localhost:{port}/rest/"),
        "localhost",
    );
    // A look-alike of a cloud portal, for an on-premise (here: loopback) one.
    let w = refused(
        &|_| "https://acme.bitrix24.com/rest/".to_owned(),
        "acme.bitrix24.com",
    );

    // A token file naming another host: ignored, with a warning; calls go to the portal.
    let mut json = saved(&w);
    json["client_endpoint"] = "https://evil.example/rest/".into();
    w.write("tokens.json", &json.to_string());
    w.portal.clear_requests();
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(
        o.stderr
            .contains("the token file's client_endpoint is not used: client_endpoint evil.example"),
        "{}",
        o.stderr
    );
    assert!(!w.portal.requests().is_empty());
}

/// A token file whose refresh token is older than 150 days: every run that connects
/// warns, naming the age and `paysync auth refresh`; a file that does not record the
/// age says so at info level only; `auth refresh` records a new age and the warning goes.
#[test]
fn an_old_refresh_token_is_warned_about() {
    let w = World::with_seed(oauth_seed());
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    write_token_file(&w, Some(160));
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(
        o.stderr.contains("was obtained 160 days ago")
            && o.stderr
                .contains("stop working after 180 days (about 20 left)")
            && o.stderr.contains("paysync auth refresh"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("tokens.json"), "{}", o.stderr);

    write_token_file(&w, Some(149));
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(!o.stderr.contains("days ago"), "{}", o.stderr);

    // An older file without the field: nothing at the default level, a note with -v.
    write_token_file(&w, None);
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(!o.stderr.contains("refresh token"), "{}", o.stderr);
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        true,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(
        o.stderr
            .contains("does not record when its refresh token was obtained"),
        "{}",
        o.stderr
    );

    // Renewed: the file records when, and the warning is gone.
    write_token_file(&w, Some(170));
    let o = run_against(&w, &w.portal, &w.portal, false, &["auth", "refresh"]);
    o.expect_code(0);
    assert!(o.stderr.contains("obtained 170 days ago"), "{}", o.stderr);
    let obtained = saved(&w)["refresh_token_obtained_at"].as_i64().unwrap();
    assert!((unix_now() - obtained).abs() < 60, "{obtained}");
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["plan", "--refresh", "m.yaml"],
    );
    o.expect_code(0);
    assert!(!o.stderr.contains("days ago"), "{}", o.stderr);
}

/// `paysync auth refresh`: one request to the token endpoint, none to the portal; the
/// rotated pair lands in the token file with its age; nothing secret is printed;
/// `--if-older-than` skips a young token; it refuses without a token file or refreshable
/// credentials before sending anything, and exits 1 when the file cannot be written.
#[test]
fn auth_refresh_renews_the_pair_on_demand() {
    let w = World::with_seed(oauth_seed());
    let o = run_against(&w, &w.portal, &w.portal, true, &["auth", "refresh"]);
    o.expect_code(0);
    assert_eq!(w.portal.token_refreshes(), 1);
    assert!(
        w.portal
            .requests()
            .iter()
            .all(|r| r.method == "oauth.token"),
        "nothing but the token endpoint: {:?}",
        w.portal.requests()
    );
    let first = saved(&w);
    assert_ne!(first["refresh_token"], REFRESH);
    assert_ne!(first["access_token"], ACCESS);
    assert!(first["refresh_token_obtained_at"].is_i64(), "{first}");
    assert!(first["expires"].is_i64(), "{first}");
    assert!(
        o.stdout.starts_with(&format!(
            "Refreshed the OAuth tokens for {} and saved them to ",
            w.portal.addr()
        )) && o.stdout.contains("The access token is valid until ")
            && o.stdout.contains("The refresh token works until about "),
        "{}",
        o.stdout
    );
    // The token file's pair is the one used (the env's refresh token is dead by now).
    let o = run_against(&w, &w.portal, &w.portal, false, &["auth", "refresh"]);
    o.expect_code(0);
    assert_eq!(w.portal.token_refreshes(), 2);
    assert_ne!(saved(&w)["refresh_token"], first["refresh_token"]);

    // Not due yet.
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["auth", "refresh", "--if-older-than", "30"],
    );
    o.expect_code(0);
    assert!(
        o.stdout.contains("is 0 days old") && o.stdout.contains("not refreshed"),
        "{}",
        o.stdout
    );
    assert_eq!(w.portal.refresh_requests(), 2);
    write_token_file(&w, Some(40));
    // (the seeded refresh token was used up above: this refresh is refused, proving
    // that --if-older-than 30 lets a 40-day-old token through)
    let o = run_against(
        &w,
        &w.portal,
        &w.portal,
        false,
        &["auth", "refresh", "--if-older-than", "30"],
    );
    o.expect_code(1);
    assert!(
        o.stderr.contains("invalid_grant") && o.stderr.contains("re-authorise"),
        "{}",
        o.stderr
    );
    assert_eq!(w.portal.refresh_requests(), 3);

    // No token file: refused before anything is sent.
    let w = World::with_seed(oauth_seed());
    let o = oauth(&w, &w.portal, &w.portal)
        .args(["auth", "refresh"])
        .run();
    o.expect_code(1);
    assert!(
        o.stderr.contains("auth refresh needs PAYSYNC_TOKEN_FILE")
            && o.stderr.contains("nothing was sent"),
        "{}",
        o.stderr
    );
    assert_eq!(w.portal.refresh_requests(), 0);
    // A webhook: nothing to refresh.
    let o = w.run(&["auth", "refresh"]);
    o.expect_code(1);
    assert!(o.stderr.contains("incoming webhook"), "{}", o.stderr);
    // A token file that cannot be written (its directory is missing): nothing is
    // refreshed, so the refresh token is not spent on a pair that would be lost.
    let o = oauth(&w, &w.portal, &w.portal)
        .env("PAYSYNC_TOKEN_FILE", w.path("no-such-dir/tokens.json"))
        .args(["auth", "refresh"])
        .run();
    o.expect_code(1);
    assert!(
        o.stderr.contains("cannot create its lock file")
            && o.stderr
                .contains("nothing was refreshed, so the refresh token still works"),
        "{}",
        o.stderr
    );
    o.assert_hides(&[ACCESS, REFRESH, CLIENT_SECRET]);
    assert_eq!(w.portal.token_refreshes(), 0, "nothing was refreshed");
}

/// The emulator's refresh tokens expire after 180 days (virtual clock): paysync's
/// refresh then fails with invalid_grant and asks to re-authorise.
#[test]
fn a_refresh_token_past_180_days_is_refused() {
    let (w, clock) = virtual_world(oauth_seed());
    clock.advance(Duration::from_secs(180 * DAY as u64));
    let o = run_against(&w, &w.portal, &w.portal, false, &["auth", "refresh"]);
    o.expect_code(1);
    assert!(
        o.stderr.contains("invalid_grant") && o.stderr.contains("re-authorise"),
        "{}",
        o.stderr
    );
    assert_eq!(w.portal.token_refreshes(), 0);
}

/// Regression: two runs sharing a token file refreshed with the same refresh token; the
/// second was refused (`invalid_grant`, "re-authorise the app") while the file held a
/// working pair. Refreshes now take turns on the token file's lock, and the run that
/// waited takes the pair the other saved.
#[test]
fn a_refresh_waits_for_another_run_sharing_the_token_file_and_takes_its_pair() {
    const ACCESS2: &str = "CANARY-access-second-5e1a";
    const REFRESH2: &str = "CANARY-refresh-second-77c0";
    let mut seed = oauth_seed();
    // The other run already rotated REFRESH away: only its new pair works.
    seed.oauth_refresh_tokens.clear();
    seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
        refresh_token: REFRESH2.into(),
        client_id: CLIENT_ID.into(),
        user_id: None,
    });
    seed.oauth_tokens.push(OAuthTokenSeed {
        client_id: Some(CLIENT_ID.into()),
        ..OAuthTokenSeed::new(ACCESS2)
    });
    let w = World::with_seed(seed);
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.expire_access_token(ACCESS);
    let tokens = serde_json::json!({"access_token": ACCESS, "refresh_token": REFRESH});
    w.write("tokens.json", &tokens.to_string());
    // The other run holds the token file's lock while it refreshes.
    let lock = std::fs::File::create(w.path("tokens.json.lock")).unwrap();
    lock.lock().unwrap();
    let mut cmd = w.cmd().into_std();
    cmd.env_remove("PAYSYNC_WEBHOOK_URL")
        .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
        .env("PAYSYNC_CLIENT_ID", CLIENT_ID)
        .env("PAYSYNC_CLIENT_SECRET", CLIENT_SECRET)
        .env("PAYSYNC_OAUTH_URL", w.portal.oauth_endpoint())
        .env("PAYSYNC_TOKEN_FILE", w.path("tokens.json"))
        .args(["plan", "--refresh", "m.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Our run met the expired token (its first call answered) ...
    let started = std::time::Instant::now();
    while w.portal.requests_received() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "paysync never called the portal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // ... while the other run saves its new pair and lets go.
    let rotated = serde_json::json!({"access_token": ACCESS2, "refresh_token": REFRESH2});
    w.write("tokens.json", &rotated.to_string());
    lock.unlock().unwrap();
    let out = Outcome::from(child.wait_with_output().unwrap());
    out.expect_code(0);
    assert!(!out.stderr.contains("re-authorise"), "{}", out.stderr);
    assert_eq!(
        w.portal.refresh_requests(),
        0,
        "the saved pair was taken, not refreshed again"
    );
    for secret in [ACCESS, ACCESS2, REFRESH, REFRESH2, CLIENT_SECRET] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
}

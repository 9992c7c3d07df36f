//! Tests of credentials: URL rules, the environment lookup, client endpoints.

use super::lookup::credentials_from_lookup;
use super::names::*;
use super::*;

const CANARY: &str = "CANARYCODE123";

fn base_of(c: &Credentials) -> String {
    c.base().to_string()
}

#[test]
fn https_webhook_is_accepted_and_gets_a_trailing_slash() {
    let c = Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/abc123").unwrap();
    assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/1/abc123/");
    assert_eq!(c.portal(), "https://example.bitrix24.com");
    let c = Credentials::from_webhook_url("https://example.bitrix24.com/rest/17/abc123/").unwrap();
    assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/17/abc123/");
    let c = Credentials::from_webhook_url("https://portal.example:8443/rest/1/x/").unwrap();
    assert_eq!(c.portal(), "https://portal.example:8443");
}

#[test]
fn http_is_accepted_only_for_loopback() {
    for ok in [
        "http://127.0.0.1:8080/rest/1/code/",
        "http://127.0.0.5/rest/1/code/",
        "http://[::1]:9000/rest/1/code/",
        "http://localhost:3000/rest/1/code/",
        "http://LOCALHOST/rest/1/code/",
    ] {
        let c = Credentials::from_webhook_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(c.is_loopback(), "{ok}");
    }
    let c = Credentials::from_webhook_url("http://127.0.0.1:8080/rest/1/code/").unwrap();
    assert_eq!(c.portal(), "http://127.0.0.1:8080");
    let c = Credentials::from_webhook_url("http://[::1]:9000/rest/1/code/").unwrap();
    assert_eq!(c.portal(), "http://[::1]:9000");

    for bad in [
        "http://example.bitrix24.com/rest/1/CANARYCODE123/",
        "http://10.0.0.1/rest/1/CANARYCODE123/",
        "http://128.0.0.1/rest/1/CANARYCODE123/",
        "http://[::2]/rest/1/CANARYCODE123/",
        "http://localhost.example.com/rest/1/CANARYCODE123/",
        "ftp://127.0.0.1/rest/1/CANARYCODE123/",
    ] {
        let err = Credentials::from_webhook_url(bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::InsecureScheme { .. }),
            "{bad}: {err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("/rest/1/***/"), "{text}");
    }
}

#[test]
fn bad_paths_are_refused_without_showing_the_code() {
    for bad in [
        "https://example.bitrix24.com/",
        "https://example.bitrix24.com/rest/",
        "https://example.bitrix24.com/rest/1/",
        "https://example.bitrix24.com/rest/x/CANARYCODE123/",
        "https://example.bitrix24.com/rest/1/CANARYCODE123/profile",
        "https://example.bitrix24.com/rest/1/CANARYCODE123/crm.deal.add.json",
        "https://example.bitrix24.com/api/1/CANARYCODE123/",
        "https://example.bitrix24.com/CANARYCODE123",
        "https://example.bitrix24.com/rest/1/CANARY%20CODE123/",
    ] {
        let err = Credentials::from_webhook_url(bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::BadWebhookPath { .. }),
            "{bad}: {err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains("CANARY"), "{text}");
    }
    let err =
        Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/CANARYCODE123/profile")
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("https://example.bitrix24.com/rest/1/***/***"),
        "{err}"
    );
}

#[test]
fn a_numeric_code_is_masked_too() {
    let err = Credentials::from_webhook_url("http://example.com/rest/1/987654321/").unwrap_err();
    assert!(!err.to_string().contains("987654321"), "{err}");
    assert!(
        err.to_string().contains("http://example.com/rest/1/***/"),
        "{err}"
    );
}

#[test]
fn user_info_query_and_fragment_are_refused_and_masked() {
    for bad in [
        "https://user:CANARYCODE123@example.com/rest/1/abc/",
        "https://example.com/rest/1/abc/?auth=CANARYCODE123",
        "https://example.com/rest/1/abc/#CANARYCODE123",
    ] {
        let err = Credentials::from_webhook_url(bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::UnexpectedUrlParts { .. }),
            "{bad}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains(CANARY), "{err}");
    }
}

#[test]
fn unparsable_urls_are_not_echoed() {
    for bad in [
        "CANARYCODE123",
        "https://",
        "example.com/rest/1/CANARYCODE123/",
        "",
    ] {
        let err = Credentials::from_webhook_url(bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidUrl { .. }),
            "{bad}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains(CANARY), "{err}");
    }
}

#[test]
fn credentials_never_show_the_code() {
    let c = Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/CANARYCODE123/")
        .unwrap();
    let text = format!("{c} {c:?} {c:#?} {}", c.portal());
    assert!(!text.contains(CANARY), "{text}");
    assert!(text.contains("https://example.bitrix24.com"), "{text}");

    let t =
        Credentials::from_access_token("https://example.bitrix24.com", "CANARYCODE123").unwrap();
    let text = format!("{t} {t:?} {t:#?} {}", t.portal());
    assert!(!text.contains(CANARY), "{text}");
}

#[test]
fn access_token_portal_forms() {
    for ok in [
        "https://example.bitrix24.com",
        "https://example.bitrix24.com/",
        "https://example.bitrix24.com/rest/",
        "https://example.bitrix24.com/rest",
    ] {
        let c = Credentials::from_access_token(ok, "tok").unwrap();
        assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/", "{ok}");
        assert_eq!(c.portal(), "https://example.bitrix24.com");
        assert_eq!(c.access_token().unwrap().expose(), "tok");
    }
    assert!(matches!(
        Credentials::from_access_token("https://example.bitrix24.com/other", "t"),
        Err(ConfigError::BadPortalPath { .. })
    ));
    assert!(matches!(
        Credentials::from_access_token("http://example.bitrix24.com", "t"),
        Err(ConfigError::InsecureScheme { .. })
    ));
    assert!(matches!(
        Credentials::from_access_token("https://example.bitrix24.com", " "),
        Err(ConfigError::MissingAccessToken { .. })
    ));
}

fn env(
    vars: &[(&'static str, &str)],
) -> impl Fn(&'static str) -> Result<Option<String>, ConfigError> {
    let vars: Vec<(&'static str, String)> =
        vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    move |name| {
        Ok(vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone()))
    }
}

#[test]
fn environment_lookup() {
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[(ENV_WEBHOOK_URL, "https://p.example/rest/1/c")]),
    )
    .unwrap();
    assert!(matches!(c, Credentials::Webhook { .. }));

    // The webhook wins over OAuth variables.
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_WEBHOOK_URL, "https://p.example/rest/1/c/"),
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
        ]),
    )
    .unwrap();
    assert_eq!(c.portal(), "https://p.example");

    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_WEBHOOK_URL, ""),
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
        ]),
    )
    .unwrap();
    assert!(matches!(c, Credentials::AccessToken { .. }));

    assert!(matches!(
        credentials_from_lookup(&Variables::own(), env(&[])),
        Err(ConfigError::Missing { .. })
    ));
    assert!(matches!(
        credentials_from_lookup(&Variables::own(), env(&[(ENV_ACCESS_TOKEN, "tok")])),
        Err(ConfigError::MissingPortalUrl { .. })
    ));
    assert!(matches!(
        credentials_from_lookup(
            &Variables::own(),
            env(&[(ENV_PORTAL_URL, "https://q.example")])
        ),
        Err(ConfigError::MissingAccessToken { .. })
    ));
    let err = credentials_from_lookup(
        &Variables::own(),
        env(&[(ENV_WEBHOOK_URL, "http://example.com/rest/1/CANARYCODE123/")]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("PAYSYNC_WEBHOOK_URL (http://example.com/rest/1/***/)")
    );
}

fn refresh_of(c: &Credentials) -> &RefreshConfig {
    c.refresh().expect("refresh configured")
}

#[test]
fn oauth_refresh_from_the_environment() {
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_REFRESH_TOKEN, "ref"),
            (ENV_CLIENT_ID, "app.1"),
            (ENV_CLIENT_SECRET, "sec"),
        ]),
    )
    .unwrap();
    let r = refresh_of(&c);
    assert_eq!(r.token_url().as_str(), DEFAULT_TOKEN_URL);
    assert_eq!(r.refresh_token.expose(), "ref");
    assert_eq!(r.client_secret.expose(), "sec");
    assert_eq!(r.client_id, "app.1");
    assert_eq!(r.token_file(), None);
    assert_eq!(
        c.to_string(),
        "OAuth access token (refreshable) for https://q.example"
    );

    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "http://127.0.0.1:8080"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_REFRESH_TOKEN, "ref"),
            (ENV_CLIENT_ID, "app.1"),
            (ENV_CLIENT_SECRET, "sec"),
            (ENV_OAUTH_URL, "http://127.0.0.1:8080/oauth/token/"),
            (ENV_TOKEN_FILE, "/nonexistent/dir/tokens.json"),
        ]),
    )
    .unwrap();
    let r = refresh_of(&c);
    assert_eq!(r.token_url().as_str(), "http://127.0.0.1:8080/oauth/token/");
    assert_eq!(
        r.token_file(),
        Some(Path::new("/nonexistent/dir/tokens.json"))
    );

    // No refresh variables: a plain access token.
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
        ]),
    )
    .unwrap();
    assert!(c.refresh().is_none());
}

#[test]
fn incomplete_refresh_variables_are_an_error() {
    let err = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_REFRESH_TOKEN, "CANARYCODE123"),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PAYSYNC_REFRESH_TOKEN is set but PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET are not: \
         refreshing the access token needs PAYSYNC_REFRESH_TOKEN (or a token file), \
         PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET"
    );
    let err = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_CLIENT_ID, "app"),
            (ENV_CLIENT_SECRET, "CANARYCODE123"),
        ]),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET are set but PAYSYNC_REFRESH_TOKEN is not"
        ),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(CANARY));
}

#[test]
fn the_token_endpoint_must_be_https_or_loopback() {
    let base = [
        (ENV_PORTAL_URL, "https://q.example"),
        (ENV_ACCESS_TOKEN, "tok"),
        (ENV_REFRESH_TOKEN, "ref"),
        (ENV_CLIENT_ID, "app"),
        (ENV_CLIENT_SECRET, "sec"),
    ];
    let with = |url: &'static str| {
        let mut vars = base.to_vec();
        vars.push((ENV_OAUTH_URL, url));
        credentials_from_lookup(&Variables::own(), env(&vars))
    };
    assert!(with("https://oauth.example/oauth/token/").is_ok());
    assert!(with("http://localhost:9000/oauth/token/").is_ok());
    assert!(matches!(
        with("http://oauth.example/oauth/token/"),
        Err(ConfigError::InsecureScheme { var, .. }) if var == ENV_OAUTH_URL
    ));
    assert!(matches!(
        with("https://oauth.example/oauth/token/?client_secret=CANARYCODE123"),
        Err(ConfigError::UnexpectedUrlParts { .. })
    ));
    assert!(matches!(
        RefreshConfig::new("app", " ", "ref"),
        Err(ConfigError::Empty { var }) if var == ENV_CLIENT_SECRET
    ));
}

#[test]
fn the_token_file_wins_over_the_environment_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let path_text = path.display().to_string();
    let path_text = path_text.as_str();
    let vars = [
        (ENV_PORTAL_URL, "https://q.example"),
        (ENV_ACCESS_TOKEN, "env-access"),
        (ENV_REFRESH_TOKEN, "env-refresh"),
        (ENV_CLIENT_ID, "app"),
        (ENV_CLIENT_SECRET, "sec"),
        (ENV_TOKEN_FILE, path_text),
    ];
    // No file yet: the environment's tokens, and the file is where refreshes go.
    let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
    assert_eq!(c.access_token().unwrap().expose(), "env-access");
    assert_eq!(refresh_of(&c).refresh_token.expose(), "env-refresh");
    assert_eq!(refresh_of(&c).token_file(), Some(path.as_path()));

    std::fs::write(
        &path,
        r#"{"access_token": "file-access", "refresh_token": "file-refresh", "expires": 1, "saved_at": 0}"#,
    )
    .unwrap();
    let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
    assert_eq!(c.access_token().unwrap().expose(), "file-access");
    assert_eq!(refresh_of(&c).refresh_token.expose(), "file-refresh");

    // The file makes PAYSYNC_ACCESS_TOKEN and PAYSYNC_REFRESH_TOKEN optional.
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_CLIENT_ID, "app"),
            (ENV_CLIENT_SECRET, "sec"),
            (ENV_TOKEN_FILE, path_text),
        ]),
    )
    .unwrap();
    assert_eq!(c.access_token().unwrap().expose(), "file-access");
    // A file alone, without the app's credentials: the token, not refreshable.
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_TOKEN_FILE, path_text),
        ]),
    )
    .unwrap();
    assert!(c.refresh().is_none());

    // A file that exists but is not a token file is an error, not a fallback.
    std::fs::write(&path, "CANARYCODE123").unwrap();
    let err = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap_err();
    assert!(matches!(err, ConfigError::TokenFile(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("PAYSYNC_TOKEN_FILE") && text.contains("not valid JSON"),
        "{text}"
    );
    assert!(!text.contains(CANARY), "{text}");
}

#[test]
fn client_endpoints_are_accepted_only_for_the_portal_or_a_cloud_move() {
    let cloud = Url::parse("https://acme.bitrix24.com/rest/").unwrap();
    let onprem = Url::parse("https://crm.acme.example/rest/").unwrap();
    let loopback = Url::parse("http://127.0.0.1:8080/rest/").unwrap();
    let ok = |base: &Url, raw: &str| {
        accept_client_endpoint(base, raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .to_string()
    };
    assert_eq!(
        ok(&cloud, "https://acme.bitrix24.com/rest/"),
        "https://acme.bitrix24.com/rest/"
    );
    assert_eq!(
        ok(&cloud, "https://ACME.bitrix24.com/rest"),
        "https://acme.bitrix24.com/rest/"
    );
    assert_eq!(
        ok(&cloud, "https://acme-new.bitrix24.de/rest/"),
        "https://acme-new.bitrix24.de/rest/"
    );
    assert_eq!(
        ok(&onprem, "https://crm.acme.example:8443/rest/"),
        "https://crm.acme.example:8443/rest/"
    );
    assert_eq!(
        ok(&loopback, "http://127.0.0.1:9000/rest/"),
        "http://127.0.0.1:9000/rest/"
    );

    let refused = |base: &Url, raw: &str| {
        let err = accept_client_endpoint(base, raw).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(CANARY), "{text}");
        err
    };
    assert!(matches!(
        refused(&cloud, "https://evil.example/rest/"),
        EndpointRefusal::OtherHost { .. }
    ));
    // A cloud portal is not moved to a look-alike, nor an on-premise one into the cloud.
    assert!(matches!(
        refused(&cloud, "https://acme.bitrix24.com.evil.example/rest/"),
        EndpointRefusal::OtherHost { .. }
    ));
    assert!(matches!(
        refused(&cloud, "https://a.b.bitrix24.com/rest/"),
        EndpointRefusal::OtherHost { .. }
    ));
    assert!(matches!(
        refused(&onprem, "https://acme.bitrix24.com/rest/"),
        EndpointRefusal::OtherHost { .. }
    ));
    assert!(matches!(
        refused(&cloud, "http://acme.bitrix24.com/rest/"),
        EndpointRefusal::Insecure { .. }
    ));
    assert!(matches!(
        refused(&cloud, "http://127.0.0.1/rest/"),
        EndpointRefusal::Insecure { .. }
    ));
    assert!(matches!(
        refused(&loopback, "http://localhost:9000/rest/"),
        EndpointRefusal::OtherHost { .. }
    ));
    assert!(matches!(
        refused(&cloud, "ftp://acme.bitrix24.com/rest/"),
        EndpointRefusal::Insecure { .. }
    ));
    assert!(matches!(
        refused(&cloud, "https://acme.bitrix24.com/rest/1/CANARYCODE123/"),
        EndpointRefusal::NotRest { .. }
    ));
    assert!(matches!(
        refused(&cloud, "https://acme.bitrix24.com/rest/?auth=CANARYCODE123"),
        EndpointRefusal::UnexpectedParts { .. }
    ));
    assert!(matches!(
        refused(&cloud, "https://u:CANARYCODE123@acme.bitrix24.com/rest/"),
        EndpointRefusal::UnexpectedParts { .. }
    ));
    assert!(matches!(
        refused(&cloud, "CANARYCODE123"),
        EndpointRefusal::NotAUrl
    ));
    assert_eq!(
        refused(&cloud, "https://evil.example/rest/").to_string(),
        "client_endpoint evil.example is another host than the portal acme.bitrix24.com, \
         and not a move between Bitrix24 cloud portals"
    );
    assert!(is_bitrix24_cloud_host("acme.bitrix24.com.br"));
    assert!(!is_bitrix24_cloud_host("bitrix24.com"));
}

#[test]
fn the_token_file_supplies_the_endpoint_and_the_refresh_token_age() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let path_text = path.display().to_string();
    let vars = [
        (ENV_PORTAL_URL, "https://acme.bitrix24.com"),
        (ENV_CLIENT_ID, "app"),
        (ENV_CLIENT_SECRET, "sec"),
        (ENV_TOKEN_FILE, path_text.as_str()),
    ];
    std::fs::write(
        &path,
        r#"{"access_token": "a", "refresh_token": "r", "refresh_token_obtained_at": 1700000000,
            "client_endpoint": "https://acme2.bitrix24.com/rest/"}"#,
    )
    .unwrap();
    let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
    assert_eq!(c.endpoint().as_str(), "https://acme2.bitrix24.com/rest/");
    assert_eq!(
        c.portal(),
        "https://acme.bitrix24.com",
        "the portal stays as configured"
    );
    assert_eq!(
        refresh_of(&c).refresh_origin(),
        RefreshOrigin::TokenFile {
            obtained_at: Some(1_700_000_000)
        }
    );
    // An endpoint the rule refuses is not used; an older file: age unknown.
    std::fs::write(
        &path,
        r#"{"access_token": "a", "refresh_token": "r", "client_endpoint": "https://evil.example/rest/"}"#,
    )
    .unwrap();
    let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
    assert_eq!(c.endpoint().as_str(), "https://acme.bitrix24.com/rest/");
    assert_eq!(
        refresh_of(&c).refresh_origin(),
        RefreshOrigin::TokenFile { obtained_at: None }
    );
    let c = credentials_from_lookup(
        &Variables::own(),
        env(&[
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_REFRESH_TOKEN, "ref"),
            (ENV_CLIENT_ID, "app.1"),
            (ENV_CLIENT_SECRET, "sec"),
        ]),
    )
    .unwrap();
    assert_eq!(refresh_of(&c).refresh_origin(), RefreshOrigin::Environment);
}

#[test]
fn refresh_secrets_never_show() {
    let refresh = RefreshConfig::new("CANARYCODE123", "CANARYCODE123", "CANARYCODE123")
        .unwrap()
        .with_token_file("/tmp/tokens.json");
    let c = Credentials::oauth("https://q.example", "CANARYCODE123", Some(refresh)).unwrap();
    let text = format!("{c} {c:?} {c:#?} {:?}", c.refresh());
    assert!(!text.contains(CANARY), "{text}");
    assert!(text.contains("oauth.bitrix.info"), "{text}");
}

//! Routing and authentication: webhook and OAuth routes, suffixes, NO_AUTH_FOUND,
//! unknown methods, scopes, malformed bodies.

use paysync_emulator::{AuthMode, OAuthTokenSeed, Seed};
use serde_json::json;

use crate::common::{self, assert_error};

#[tokio::test]
async fn webhook_accepts_post_get_and_method_suffixes() {
    let portal = common::demo();
    let (status, body) = portal.call("sale.paysystem.handler.list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0]["CODE"], "acmepay");
    assert!(body["time"]["start"].is_f64());
    for suffix in [".json", "/", ".json/"] {
        let (status, body) = portal
            .get(&portal.url(&format!("sale.paysystem.handler.list{suffix}")))
            .await;
        assert_eq!(status, 200, "{suffix}: {body}");
    }
    let (status, _) = portal.get(&portal.url("SALE.PaySystem.Handler.List")).await;
    assert_eq!(status, 200);
    let methods: Vec<String> = portal
        .emulator
        .requests()
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert!(
        methods.iter().all(|m| m == "sale.paysystem.handler.list"),
        "{methods:?}"
    );
}

#[tokio::test]
async fn wrong_webhook_credentials_are_no_auth_found() {
    let portal = common::demo();
    let base = portal.emulator.base_url();
    for path in [
        "/rest/1/wrong-secret/scope",
        "/rest/2/demo-webhook-code/scope",
        "/rest/x/demo-webhook-code/scope",
    ] {
        let got = portal.post_json(&format!("{base}{path}"), json!({})).await;
        assert_error(&got, 401, "NO_AUTH_FOUND", "Wrong authorization data");
    }
    let auth: Vec<AuthMode> = portal
        .emulator
        .requests()
        .into_iter()
        .map(|r| r.auth)
        .collect();
    assert_eq!(
        auth,
        [
            AuthMode::Webhook { user_id: 1 },
            AuthMode::Webhook { user_id: 2 },
            AuthMode::None
        ]
    );
}

#[tokio::test]
async fn oauth_token_from_query_json_or_form() {
    let mut seed = Seed::demo();
    seed.oauth_tokens.push(OAuthTokenSeed::new("token-123"));
    let portal = common::start(seed);
    let endpoint = format!("{}/rest/", portal.emulator.base_url());

    let (status, _) = portal
        .get(&format!("{endpoint}sale.paysystem.list?auth=token-123"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = portal
        .post_json(
            &format!("{endpoint}sale.paysystem.list.json"),
            json!({"auth": "token-123"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = portal
        .post_form(
            &format!("{endpoint}sale.paysystem.list/"),
            "auth=token-123&SELECT[]=ID",
        )
        .await;
    assert_eq!(status, 200);

    let bad = portal
        .post_json(
            &format!("{endpoint}sale.paysystem.list"),
            json!({"auth": "nope"}),
        )
        .await;
    assert_error(&bad, 401, "NO_AUTH_FOUND", "Wrong authorization data");
    let missing = portal.get(&format!("{endpoint}sale.paysystem.list")).await;
    assert_error(&missing, 401, "NO_AUTH_FOUND", "Wrong authorization data");

    let log = portal.emulator.requests();
    let modes: Vec<AuthMode> = log.iter().map(|r| r.auth).collect();
    assert_eq!(
        modes,
        [
            AuthMode::OAuth,
            AuthMode::OAuth,
            AuthMode::OAuth,
            AuthMode::OAuth,
            AuthMode::None
        ]
    );
    assert_eq!(
        log[2].params,
        json!({"SELECT": ["ID"]}),
        "auth is never recorded"
    );
}

#[tokio::test]
async fn unknown_methods_and_paths_are_method_not_found() {
    let portal = common::demo();
    let got = portal.call("sale.paysystem.nonexistent", json!({})).await;
    assert_error(&got, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
    let got = portal
        .get(&format!(
            "{}/rest/1/demo-webhook-code/",
            portal.emulator.base_url()
        ))
        .await;
    assert_error(&got, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
    let got = portal
        .get(&format!("{}/favicon.ico", portal.emulator.base_url()))
        .await;
    assert_eq!(got.0, 404);
}

#[tokio::test]
async fn webhook_scopes_are_enforced() {
    let mut seed = Seed::demo();
    seed.webhook.scopes = Some(vec!["sale".to_owned()]);
    let portal = common::start(seed);
    let got = portal.call("sale.paysystem.list", json!({})).await;
    assert_error(
        &got,
        403,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    );
    let (status, body) = portal.call("sale.persontype.list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = portal.call("scope", json!({})).await;
    assert_eq!(body["result"], json!(["sale"]));
    let (_, body) = portal
        .call(
            "method.get",
            json!({"name": "sale.paysystem.settings.update"}),
        )
        .await;
    assert_eq!(
        body["result"],
        json!({"isExisting": true, "isAvailable": false})
    );
    let (_, body) = portal
        .call("method.get", json!({"name": "no.such.method"}))
        .await;
    assert_eq!(
        body["result"],
        json!({"isExisting": false, "isAvailable": false})
    );
}

#[tokio::test]
async fn malformed_bodies_get_an_error_envelope() {
    let portal = common::demo();
    let url = portal.url("sale.paysystem.list");
    let got = portal.post_raw(&url, "application/json", "{not json").await;
    assert_eq!(got.0, 400);
    assert_eq!(got.1["error"], "INVALID_REQUEST");
    let got = portal.post_raw(&url, "application/json", "[1,2]").await;
    assert_error(
        &got,
        400,
        "INVALID_REQUEST",
        "The JSON body must be an object",
    );
    let got = portal
        .post_raw(&url, "multipart/form-data; boundary=x", "garbage")
        .await;
    assert_eq!(got.0, 400);
    assert_eq!(got.1["error"], "INVALID_REQUEST");
    // An invalid-UTF-8 form body degrades instead of failing.
    let (status, _) = portal
        .post_raw(
            &url,
            "application/x-www-form-urlencoded",
            vec![0xff_u8, b'=', 0xfe],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(portal.emulator.requests().len(), 4);
}

#[test]
fn plain_test_functions_can_use_the_emulator() {
    let portal = paysync_emulator::Emulator::start(Seed::demo()).expect("starts");
    let clone = portal.clone();
    assert!(portal.webhook_url().ends_with("/rest/1/demo-webhook-code/"));
    assert!(portal.webhook_url().starts_with(&portal.base_url()));
    drop(portal);
    // The server keeps running while a clone lives; shutdown stops it.
    let addr = clone.addr();
    let mut open = std::net::TcpStream::connect(addr).expect("the server runs");
    clone.shutdown();
    // The connection opened before is closed by the server going away. (Connecting
    // anew is no proof: another test's server may have the port by then.)
    use std::io::{Read, Write};
    let _ = open.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    open.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(open.read(&mut buf), Ok(0) | Err(_)),
        "still answering"
    );
}

#[tokio::test]
async fn oauth_apps_cannot_touch_another_app_s_handler() {
    let mut seed = Seed::demo();
    for (token, app) in [("tok-a", "app.a"), ("tok-b", "app.b")] {
        seed.oauth_tokens.push(OAuthTokenSeed {
            access_token: token.to_owned(),
            client_id: Some(app.to_owned()),
            scopes: None,
        });
    }
    let portal = common::start(seed);
    let rest = format!("{}/rest/", portal.emulator.base_url());
    let portal = &portal;
    let call = |method: &str, token: &str, mut params: serde_json::Value| {
        params["auth"] = json!(token);
        let url = format!("{rest}{method}");
        async move { portal.post_json(&url, params).await }
    };
    let (status, body) = call(
        "sale.paysystem.handler.add",
        "tok-a",
        json!({"NAME": "A", "CODE": "apay", "SETTINGS": {"CODES": {"K": {}}, "FORM_DATA": {"ACTION_URI": "https://a.example"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        "sale.paysystem.add",
        "tok-a",
        json!({"NAME": "A card", "BX_REST_HANDLER": "apay", "PERSON_TYPE_ID": 1, "ENTITY_REGISTRY_TYPE": "ORDER"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_u64().expect("id");
    let settings = json!({"ID": id, "SETTINGS": {"K": {"TYPE": "VALUE", "VALUE": "v"}}});

    let got = call("sale.paysystem.settings.update", "tok-b", settings.clone()).await;
    assert_error(&got, 403, "ACCESS_DENIED", "Access denied!");
    let got = call("sale.paysystem.handler.delete", "tok-b", json!({"ID": 2})).await;
    assert_error(&got, 403, "ACCESS_DENIED", "Access denied!");
    let (status, _) = call("sale.paysystem.settings.update", "tok-a", settings.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = portal
        .call("sale.paysystem.settings.update", settings)
        .await;
    assert_eq!(status, 200, "webhooks bypass the ownership check");
}

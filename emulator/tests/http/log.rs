//! The request log: what was received, decoded, how it authenticated, what was answered;
//! and that no credential ever lands in it.

use paysync_emulator::{AuthMode, OAuthTokenSeed, RecordedRequest, RecordedSubCall, Seed};
use serde_json::json;

use crate::common::{self, enc};

#[tokio::test]
async fn every_request_is_recorded_in_order() {
    let portal = common::demo();
    portal
        .call("sale.paysystem.list", json!({"SELECT": ["ID"]}))
        .await;
    portal
        .get(&portal.url("Sale.PaySystem.Settings.Get.json?ID=11&PERSON_TYPE_ID=1"))
        .await;
    portal
        .call("batch", json!({"cmd": {"k": "sale.persontype.get?id=1"}}))
        .await;
    let log = portal.emulator.requests();
    assert_eq!(
        log[0],
        RecordedRequest {
            http_method: "POST".into(),
            method: "sale.paysystem.list".into(),
            params: json!({"SELECT": ["ID"]}),
            auth: AuthMode::Webhook { user_id: 1 },
            batch: Vec::new(),
            status: 200,
        }
    );
    assert_eq!(
        (log[1].http_method.as_str(), log[1].method.as_str()),
        ("GET", "sale.paysystem.settings.get")
    );
    assert_eq!(log[1].params, json!({"ID": "11", "PERSON_TYPE_ID": "1"}));
    assert_eq!(
        log[2].batch,
        [RecordedSubCall {
            key: "k".into(),
            method: "sale.persontype.get".into(),
            params: json!({"id": "1"})
        }]
    );
    portal.emulator.clear_requests();
    assert!(portal.emulator.requests().is_empty());
}

#[tokio::test]
async fn credentials_never_reach_the_log() {
    let canary_secret = "canary-webhook-secret-7f3a";
    let canary_token = "canary-access-token-91c2";
    let mut seed = Seed::demo();
    seed.webhook.secret = canary_secret.to_owned();
    seed.oauth_tokens.push(OAuthTokenSeed::new(canary_token));
    let portal = common::start(seed);
    let rest = format!("{}/rest/", portal.emulator.base_url());

    portal.call("scope", json!({})).await;
    portal
        .post_json(&format!("{rest}scope"), json!({"auth": canary_token}))
        .await;
    portal
        .get(&format!("{rest}scope?auth={canary_token}"))
        .await;
    let sub = format!("scope?auth={canary_token}&full=1");
    portal
        .post_json(
            &format!("{rest}batch"),
            json!({"auth": canary_token, "cmd": {"a": sub}}),
        )
        .await;
    portal
        .post_form(
            &format!("{rest}batch"),
            &format!("auth={canary_token}&cmd[a]={}", enc(&sub)),
        )
        .await;

    let log = portal.emulator.requests();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|r| r.status == 200), "{log:?}");
    let dump = format!(
        "{log:?} {}",
        serde_json::to_string(&log).expect("serialises")
    );
    assert!(!dump.contains(canary_secret), "{dump}");
    assert!(!dump.contains(canary_token), "{dump}");
    assert_eq!(log[3].batch[0].params, json!({"full": "1"}));
}

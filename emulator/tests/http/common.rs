//! Shared helpers: a small client that returns `(status, json)` for each encoding.

use paysync_emulator::{Clock, EmulatorHandle, PersonTypeSeed, Seed, VirtualClock};
use serde_json::Value;

/// 2026-01-01T00:00:00Z, where virtual clocks start.
pub const T0: f64 = 1_767_225_600.0;

pub struct Portal {
    pub emulator: EmulatorHandle,
    http: reqwest::Client,
}

/// Starts the demo portal.
pub fn demo() -> Portal {
    start(Seed::demo())
}

pub fn start(seed: Seed) -> Portal {
    let emulator = EmulatorHandle::start(seed).expect("emulator starts");
    Portal {
        emulator,
        http: reqwest::Client::new(),
    }
}

/// Starts a portal on a virtual clock standing at [`T0`].
pub fn start_virtual(seed: Seed) -> (Portal, VirtualClock) {
    let clock = VirtualClock::new(T0);
    let emulator = EmulatorHandle::start_with_clock(seed, Clock::Virtual(clock.clone()))
        .expect("emulator starts");
    let portal = Portal {
        emulator,
        http: reqwest::Client::new(),
    };
    (portal, clock)
}

/// The demo seed with `n` extra ORDER person types (ids 101..).
pub fn seed_with_person_types(n: u64) -> Seed {
    let mut seed = Seed::demo();
    for i in 0..n {
        seed.person_types.push(PersonTypeSeed {
            id: 101 + i,
            name: format!("Type {i}"),
            sort: Some(1000 + i as i64),
            code: None,
            registry_type: None,
            active: None,
            xml_id: None,
        });
    }
    seed
}

/// `application/x-www-form-urlencoded` encoding of one value (space as `+`).
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn finish(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"));
    (status, json)
}

impl Portal {
    /// The shared client (follows redirects, no timeout).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, method: &str) -> String {
        format!("{}{method}", self.emulator.webhook_url())
    }

    /// POST a JSON body to the webhook URL.
    pub async fn call(&self, method: &str, params: Value) -> (u16, Value) {
        self.post_json(&self.url(method), params).await
    }

    pub async fn post_json(&self, url: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("request");
        finish(response).await
    }

    pub async fn post_raw(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let response = self
            .http
            .post(url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        finish(response).await
    }

    pub async fn post_form(&self, url: &str, body: &str) -> (u16, Value) {
        self.post_raw(url, "application/x-www-form-urlencoded", body.to_owned())
            .await
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        let response = self.http.get(url).send().await.expect("request");
        finish(response).await
    }

    /// `settings.get` result for (pay system, person type).
    pub async fn settings_get(&self, id: u64, person_type: u64) -> Value {
        let (status, body) = self
            .call(
                "sale.paysystem.settings.get",
                serde_json::json!({"ID": id, "PERSON_TYPE_ID": person_type}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["result"].clone()
    }
}

/// Asserts an error envelope.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str, description: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
}

//! Parameter decoding: JSON, form, multipart and query bracket notation all mean the
//! same thing; pay-system methods upper-case keys recursively, handler methods do not.

use serde_json::json;

use crate::common::{self, enc};

fn some(t: &str, v: &str) -> Option<(Option<String>, Option<String>)> {
    Some((Some(t.to_owned()), Some(v.to_owned())))
}

#[tokio::test]
async fn json_form_multipart_and_query_encodings_agree() {
    let portal = common::demo();
    let url = portal.url("sale.paysystem.settings.update");

    let (status, body) = portal
        .call(
            "sale.paysystem.settings.update",
            json!({"ID": 11, "PERSON_TYPE_ID": 1, "SETTINGS": {"REST_SERVICE_ID_IFRAME": {"TYPE": "VALUE", "VALUE": "json & co"}}}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");

    let form = format!(
        "ID=11&PERSON_TYPE_ID=2&SETTINGS[REST_SERVICE_ID_IFRAME][TYPE]=VALUE&SETTINGS[REST_SERVICE_ID_IFRAME][VALUE]={}",
        enc("form & co/100%")
    );
    let (status, body) = portal.post_form(&url, &form).await;
    assert_eq!(status, 200, "{body}");

    let query = format!(
        "{url}?ID=12&SETTINGS%5BREST_SERVICE_ID_IFRAME%5D%5BTYPE%5D=VALUE&SETTINGS[REST_SERVICE_ID_IFRAME][VALUE]=q%2Bx+y"
    );
    let (status, body) = portal.get(&query).await;
    assert_eq!(status, 200, "{body}");

    let boundary = "XyZ";
    let part = |name: &str, value: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let multipart = [
        part("ID", "12"),
        part("PERSON_TYPE_ID", "2"),
        part("SETTINGS[REST_SERVICE_ID_IFRAME][TYPE]", "VALUE"),
        part("SETTINGS[REST_SERVICE_ID_IFRAME][VALUE]", "multi part"),
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\r\nfile\r\n"),
        format!("--{boundary}--\r\n"),
    ]
    .concat();
    let (status, body) = portal
        .post_raw(
            &url,
            &format!("multipart/form-data; boundary={boundary}"),
            multipart,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let e = &portal.emulator;
    assert_eq!(
        e.setting(11, 1, "REST_SERVICE_ID_IFRAME"),
        some("VALUE", "json & co")
    );
    assert_eq!(
        e.setting(11, 2, "REST_SERVICE_ID_IFRAME"),
        some("VALUE", "form & co/100%")
    );
    assert_eq!(
        e.setting(12, 0, "REST_SERVICE_ID_IFRAME"),
        some("VALUE", "q+x y")
    );
    assert_eq!(
        e.setting(12, 2, "REST_SERVICE_ID_IFRAME"),
        some("VALUE", "multi part")
    );
    let log = e.requests();
    assert_eq!(
        log[3].params,
        json!({"ID": "12", "PERSON_TYPE_ID": "2", "SETTINGS": {"REST_SERVICE_ID_IFRAME": {"TYPE": "VALUE", "VALUE": "multi part"}}}),
        "file parts are not parameters"
    );
}

#[tokio::test]
async fn query_and_body_merge_with_body_winning() {
    let portal = common::demo();
    let url = format!(
        "{}?ID=999&PERSON_TYPE_ID=1",
        portal.url("sale.paysystem.settings.get")
    );
    let (status, body) = portal.post_json(&url, json!({"ID": 11})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        portal.emulator.requests()[0].params,
        json!({"ID": 11, "PERSON_TYPE_ID": "1"})
    );
}

#[tokio::test]
async fn pay_system_methods_upper_case_keys_recursively() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "sale.paysystem.settings.update",
            json!({"id": "11", "person_type_id": 1, "settings": {"rest_service_key_iframe": {"type": "VALUE", "value": "k-1"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        portal.emulator.setting(11, 1, "REST_SERVICE_KEY_IFRAME"),
        some("VALUE", "k-1")
    );
    let result = portal.settings_get(11, 1).await;
    assert_eq!(
        result["REST_SERVICE_KEY_IFRAME"],
        json!({"TYPE": "VALUE", "VALUE": "k-1"})
    );
    // The log keeps what the client sent.
    assert_eq!(
        portal.emulator.requests()[0].params["settings"]["rest_service_key_iframe"]["value"],
        "k-1"
    );
}

#[tokio::test]
async fn handler_methods_upper_case_only_top_level_keys() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "sale.paysystem.handler.add",
            json!({
                "name": "Lower", "code": "lowerpay",
                "settings": {"IFRAME_DATA": {"ACTION_URI": "https://x.example"}, "CODES": {"mixed_Case": {"NAME": "n"}}, "CURRENCY": []}
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_u64().expect("int id");
    let (_, list) = portal.call("sale.paysystem.handler.list", json!({})).await;
    let added = list["result"]
        .as_array()
        .expect("list")
        .iter()
        .find(|h| h["CODE"] == "lowerpay")
        .cloned();
    let added = added.expect("listed");
    assert_eq!(added["ID"], id.to_string());
    assert_eq!(added["SORT"], "100");
    assert_eq!(
        added["SETTINGS"]["CODES"],
        json!({"mixed_Case": {"NAME": "n"}})
    );
    assert_eq!(added["SETTINGS"]["CURRENCY"], json!([]));
}

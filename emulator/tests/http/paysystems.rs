//! Handlers and pay systems: list shapes and validation, handler CODE uniqueness,
//! delete refused while in use, registry-type checks on add.

use serde_json::{Value, json};

use crate::common::{self, assert_error};

fn ids(body: &Value) -> Vec<u64> {
    body["result"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["ID"].as_u64())
        .collect()
}

#[tokio::test]
async fn list_returns_everything_with_int_fields() {
    let portal = common::demo();
    let (status, body) = portal.call("sale.paysystem.list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [1, 11, 12]);
    assert!(
        body.get("total").is_none() && body.get("next").is_none(),
        "not paginated"
    );
    let acme = &body["result"][1];
    assert_eq!(acme["PERSON_TYPE_ID"], 1);
    assert_eq!(acme["SORT"], 100);
    assert_eq!(acme["ACTION_FILE"], "acmepay");
    assert_eq!(acme["XML_ID"], "acme_card_b2c");
    assert_eq!(acme["ENTITY_REGISTRY_TYPE"], "ORDER");
    // The current source's fields: no logo under either name (the older source's
    // LOGOTIP, shown as LOGOTYPE, is gone); TARIF is shown as TARIFF.
    assert!(
        acme.get("LOGOTYPE").is_none()
            && acme.get("LOGOTIP").is_none()
            && acme.get("TARIFF").is_some()
    );
    assert_eq!(body["result"][0]["IS_CASH"], "Y");
}

#[tokio::test]
async fn list_select_filter_and_order() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "sale.paysystem.list",
            json!({"select": ["id", "NAME", "tariff"], "filter": {"=ACTION_FILE": "acmepay"}, "order": {"ID": "desc"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [12, 11]);
    let keys: Vec<&String> = body["result"][0].as_object().expect("row").keys().collect();
    assert_eq!(keys, ["ID", "NAME", "TARIFF"]);

    let (_, body) = portal
        .call(
            "sale.paysystem.list",
            json!({"FILTER": {"@ID": [1, 12], "!ACTION_FILE": "cash"}}),
        )
        .await;
    assert_eq!(ids(&body), [12]);
    let (_, body) = portal
        .get(&format!(
            "{}?FILTER[%25NAME]=companies&SELECT[]=ID",
            portal.url("sale.paysystem.list")
        ))
        .await;
    assert_eq!(body["result"], json!([{"ID": 12}]));
}

#[tokio::test]
async fn list_rejects_unknown_fields() {
    let portal = common::demo();
    let list = |params| portal.call("sale.paysystem.list", params);
    assert_error(
        &list(json!({"SELECT": ["ID", "CODE"]})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "CODE not allowed for select",
    );
    assert_error(
        &list(json!({"FILTER": {">=CODE": "x"}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "CODE not allowed for filter",
    );
    assert_error(
        &list(json!({"ORDER": {"CODE": "ASC"}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "CODE not allowed for order",
    );
    // No logo field in the list (only the older source had LOGOTIP, shown as LOGOTYPE).
    for field in ["LOGOTYPE", "LOGOTIP"] {
        assert_error(
            &list(json!({"SELECT": ["ID", field]})).await,
            400,
            "ERROR_CHECK_FAILURE",
            &format!("{field} not allowed for select"),
        );
    }
    assert_error(
        &list(json!({"FILTER": {"LOGOTYPE": "x"}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "LOGOTYPE not allowed for filter",
    );
}

#[tokio::test]
async fn handler_codes_are_unique_and_delete_waits_for_pay_systems() {
    let portal = common::demo();
    let settings = json!({"CODES": {"KEY": {"NAME": "Key"}}, "CHECKOUT_DATA": {"ACTION_URI": "https://c.example"}});
    let add = |code: &str| {
        portal.call(
            "sale.paysystem.handler.add",
            json!({"NAME": "N", "CODE": code, "SETTINGS": settings.clone()}),
        )
    };
    let got = add("ACMEPAY").await;
    assert_error(
        &got,
        400,
        "ERROR_HANDLER_ALREADY_EXIST",
        "Handler already exists!",
    );
    let (status, body) = add("otherpay").await;
    assert_eq!(status, 200, "{body}");
    let other = body["result"].as_u64().expect("id");

    let got = portal
        .call(
            "sale.paysystem.handler.update",
            json!({"ID": other, "FIELDS": {"CODE": "acmepay"}}),
        )
        .await;
    assert_error(
        &got,
        400,
        "ERROR_HANDLER_ALREADY_EXIST",
        "Handler already exists!",
    );
    let (status, _) = portal
        .call(
            "sale.paysystem.handler.update",
            json!({"ID": other, "FIELDS": {"NAME": "Renamed", "SORT": 5}}),
        )
        .await;
    assert_eq!(status, 200);
    let got = portal
        .call(
            "sale.paysystem.handler.update",
            json!({"ID": 99, "FIELDS": {"NAME": "x"}}),
        )
        .await;
    assert_error(&got, 400, "ERROR_HANDLER_NOT_FOUND", "Handler not found");

    let got = portal
        .call("sale.paysystem.handler.delete", json!({"ID": 1}))
        .await;
    assert_error(
        &got,
        400,
        "ERROR_PAY_SYSTEM_DELETE",
        "Pay system with handler ACMEPAY exists!",
    );
    for id in [11, 12] {
        let (status, body) = portal
            .call("sale.paysystem.delete", json!({"ID": id}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = portal
        .call("sale.paysystem.handler.delete", json!({"ID": 1}))
        .await;
    assert_eq!(status, 200);
    let (_, body) = portal.call("sale.paysystem.handler.list", json!({})).await;
    assert_eq!(
        body["result"],
        json!([{"ID": other.to_string(), "NAME": "Renamed", "CODE": "otherpay", "SORT": "5", "SETTINGS": settings}])
    );
}

#[tokio::test]
async fn handler_add_validates_settings() {
    let portal = common::demo();
    let add = |params| portal.call("sale.paysystem.handler.add", params);
    assert_error(
        &add(json!({"CODE": "x"})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter NAME is not defined",
    );
    assert_error(
        &add(json!({"NAME": "n", "CODE": "x", "SETTINGS": {"CODES": {}}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter SETTINGS[FORM_DATA] or SETTINGS[CHECKOUT_DATA] or SETTINGS[IFRAME_DATA] is not defined",
    );
    assert_error(
        &add(json!({"NAME": "n", "CODE": "x", "SETTINGS": {"CODES": {}, "IFRAME_DATA": {"FIELDS": {}}}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter SETTINGS[IFRAME_DATA][ACTION_URI] is not defined",
    );
    assert_error(
        &add(json!({"NAME": "n", "CODE": "x", "SETTINGS": {"CODES": {}, "FORM_DATA": {"ACTION_URI": "u"}, "CLIENT_TYPE": "b2x"}})).await,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter value SETTINGS[CLIENT_TYPE] is invalid",
    );
}

#[tokio::test]
async fn pay_system_add_checks_the_registry_type_and_writes_settings() {
    let portal = common::demo();
    let base = json!({"NAME": "Card", "BX_REST_HANDLER": "acmepay", "PERSON_TYPE_ID": 1});
    // ENTITY_REGISTRY_TYPE defaults to CRM_INVOICE; the demo person types are ORDER.
    let got = portal.call("sale.paysystem.add", base.clone()).await;
    assert_error(
        &got,
        400,
        "ERROR_PERSON_TYPE_NOT_FOUND",
        "Incorrect person type id!",
    );
    let got = portal
        .call(
            "sale.paysystem.add",
            json!({"NAME": "Card", "BX_REST_HANDLER": "nopay", "PERSON_TYPE_ID": 1}),
        )
        .await;
    assert_error(&got, 400, "ERROR_HANDLER_NOT_FOUND", "Handler not found");
    let got = portal
        .call("sale.paysystem.add", json!({"NAME": "Card"}))
        .await;
    assert_error(
        &got,
        400,
        "ERROR_CHECK_FAILURE",
        "Parameter BX_REST_HANDLER is not defined",
    );

    let mut params = base;
    params["ENTITY_REGISTRY_TYPE"] = json!("ORDER");
    params["XML_ID"] = json!("card_new");
    params["SETTINGS"] = json!({"rest_service_key_iframe": {"TYPE": "VALUE", "VALUE": "k"}});
    let (status, body) = portal.call("sale.paysystem.add", params).await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_u64().expect("int id");
    assert_eq!(id, 13);
    assert_eq!(
        portal.emulator.setting(id, 1, "REST_SERVICE_KEY_IFRAME"),
        Some((Some("VALUE".into()), Some("k".into())))
    );
    let (_, body) = portal
        .call(
            "sale.paysystem.list",
            json!({"FILTER": {"XML_ID": "card_new"}}),
        )
        .await;
    let row = &body["result"][0];
    assert_eq!(
        (
            row["ACTIVE"].as_str(),
            row["NEW_WINDOW"].as_str(),
            row["PSA_NAME"].as_str()
        ),
        (Some("N"), Some("N"), Some("Card"))
    );
    // The defaults sale.paysystem.add sets (bitrix24-api.md §5.5).
    for (field, value) in [
        ("HAVE_PREPAY", "N"),
        ("HAVE_RESULT", "N"),
        ("HAVE_ACTION", "N"),
        ("HAVE_PAYMENT", "N"),
        ("HAVE_RESULT_RECEIVE", "Y"),
    ] {
        assert_eq!(row[field].as_str(), Some(value), "{field}: {row}");
    }

    let (status, _) = portal
        .call(
            "sale.paysystem.update",
            json!({"ID": id, "FIELDS": {"ACTIVE": "Y", "PERSON_TYPE_ID": 2}}),
        )
        .await;
    assert_eq!(status, 200);
    let got = portal
        .call(
            "sale.paysystem.update",
            json!({"ID": id, "FIELDS": {"PERSON_TYPE_ID": 77}}),
        )
        .await;
    assert_error(
        &got,
        400,
        "ERROR_PERSON_TYPE_NOT_FOUND",
        "Incorrect person type id!",
    );
    let got = portal
        .call("sale.paysystem.update", json!({"ID": 77, "FIELDS": {}}))
        .await;
    assert_error(
        &got,
        400,
        "ERROR_PAY_SYSTEM_NOT_FOUND",
        "Pay system not found",
    );
    let (_, body) = portal
        .call(
            "sale.paysystem.list",
            json!({"FILTER": {"ID": id}, "SELECT": ["ACTIVE", "PERSON_TYPE_ID"]}),
        )
        .await;
    assert_eq!(
        body["result"],
        json!([{"ACTIVE": "Y", "PERSON_TYPE_ID": 2}])
    );
}

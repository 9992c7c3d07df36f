//! `sale.persontype.list/get`: camelCase, pages of 50, `total`/`next`, numeric errors.

use serde_json::{Value, json};

use crate::common;

fn page_ids(body: &Value) -> Vec<u64> {
    body["result"]["personTypes"]
        .as_array()
        .expect("personTypes")
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

#[tokio::test]
async fn list_pages_by_fifty() {
    let portal = common::start(common::seed_with_person_types(118));
    let (status, first) = portal.call("sale.persontype.list", json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["total"].as_u64(), first["next"].as_u64()),
        (Some(120), Some(50))
    );
    assert_eq!(page_ids(&first).len(), 50);
    assert_eq!(
        first["result"]["personTypes"][0],
        json!({"id": 1, "name": "Individual", "code": null, "sort": "100", "active": "Y", "xmlId": null})
    );

    let (_, second) = portal
        .get(&format!("{}?start=50", portal.url("sale.persontype.list")))
        .await;
    assert_eq!(second["next"], 100);
    let (_, last) = portal
        .call("sale.persontype.list", json!({"start": 100}))
        .await;
    assert_eq!(page_ids(&last).len(), 20);
    assert!(last.get("next").is_none(), "{last}");
    assert_eq!(last["total"], 120);
    let keys: Vec<&String> = last.as_object().expect("body").keys().collect();
    assert_eq!(keys, ["result", "total", "time"]);

    let (_, no_count) = portal
        .call("sale.persontype.list", json!({"start": -1}))
        .await;
    assert_eq!(
        (no_count["total"].as_u64(), no_count.get("next")),
        (Some(0), None)
    );
}

#[tokio::test]
async fn list_filters_orders_and_selects_in_camel_case() {
    let portal = common::demo();
    let (status, body) = portal
        .call(
            "sale.persontype.list",
            json!({"select": ["id", "name"], "filter": {">sort": 100}, "order": {"id": "desc"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["personTypes"],
        json!([{"id": 2, "name": "Company"}])
    );
    let (status, body) = portal
        .call(
            "sale.persontype.list",
            json!({"filter": {"registryType": "ORDER"}}),
        )
        .await;
    assert_eq!(status, 400, "the registry type is hidden: {body}");
}

#[tokio::test]
async fn get_returns_one_person_type_or_a_numeric_error() {
    let portal = common::demo();
    let (status, body) = portal.call("sale.persontype.get", json!({"id": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["personType"]["name"], "Company");
    assert_eq!(body["result"]["personType"]["sort"], "200");
    let (status, body) = portal.call("sale.persontype.get", json!({"id": 9})).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!(200_740_400_001_u64)),
        "{body}"
    );
    let (status, body) = portal.call("sale.persontype.get", json!({"ID": 2})).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!(100)),
        "camelCase only: {body}"
    );
}

//! The portal's handlers and pay systems as the object planner compares them (issue 24):
//! `sale.paysystem.handler.list` (every handler, whole `SETTINGS`) and
//! `sale.paysystem.list` (the fields a `PaySystem` manifest manages), read in one batch;
//! payer types only when a pay system names one by `xmlId`/`code`. Reads only.
//!
//! Everything read is untrusted: each field's text is scrubbed of secrets and cut
//! ([`live_text`]) before it becomes part of a plan; renderers escape it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::parse::{id, items, text};
use crate::bitrix::envelope::BatchEntry;
use crate::bitrix::request::{METHOD_HANDLER_LIST, METHOD_PAY_SYSTEM_LIST};
use crate::bitrix::{Client, ClientError, Request};
use crate::model::objects::{Fields, PERSON_TYPE_FIELD, flatten_into};
use crate::plan::objects::{LiveObject, LiveObjects};
use crate::untrusted::live_text;

/// The pay-system fields read (`SELECT`): those a manifest manages, the identity, the ID.
pub const PAY_SYSTEM_SELECT: &[&str] = &[
    "ID",
    "NAME",
    "XML_ID",
    "ACTION_FILE",
    "PERSON_TYPE_ID",
    "ENTITY_REGISTRY_TYPE",
    "ACTIVE",
    "NEW_WINDOW",
    "DESCRIPTION",
];

/// `sale.paysystem.list` with the fields [`PAY_SYSTEM_SELECT`] names.
pub fn pay_system_objects_request() -> Request {
    Request::new(
        METHOD_PAY_SYSTEM_LIST,
        json!({"SELECT": PAY_SYSTEM_SELECT, "ORDER": {"ID": "ASC"}}),
    )
}

/// Reads the portal's handlers and pay systems (and the payer types `desired` names
/// portably, when `portable`), for [`crate::plan::objects::compute`] and apply.
pub async fn read_objects(client: &Client, portable: bool) -> Result<LiveObjects, ClientError> {
    tracing::info!("reading handlers and pay systems (declared objects)");
    let commands = vec![
        (
            "handlers".to_owned(),
            Request::new(METHOD_HANDLER_LIST, json!({})),
        ),
        ("pay_systems".to_owned(), pay_system_objects_request()),
    ];
    let outcome = client.batch(&commands, false).await?;
    let answer = |key: &str, method: &str| match outcome.entries.get(key) {
        Some(BatchEntry::Ok(result)) => Ok(result.clone()),
        Some(BatchEntry::Failed(error)) => Err(ClientError::Portal {
            method: method.to_owned(),
            error: error.clone(),
        }),
        _ => Err(super::read::decode(
            method,
            "the batch gave no answer for it".into(),
        )),
    };
    let handlers = parse_handler_objects(&answer("handlers", METHOD_HANDLER_LIST)?)
        .map_err(|why| super::read::decode(METHOD_HANDLER_LIST, why))?;
    let mut pay_systems = parse_pay_system_objects(&answer("pay_systems", METHOD_PAY_SYSTEM_LIST)?)
        .map_err(|why| super::read::decode(METHOD_PAY_SYSTEM_LIST, why))?;
    // A list with more pages than the first (the docs say there are none): the rest.
    if let Some(next) = outcome.next.get("pay_systems") {
        for page in
            super::read::read_pages(client, pay_system_objects_request().from_start(*next)).await?
        {
            for (xml_id, found) in parse_pay_system_objects(&page)
                .map_err(|why| super::read::decode(METHOD_PAY_SYSTEM_LIST, why))?
            {
                pay_systems.entry(xml_id).or_default().extend(found);
            }
        }
    }
    let mut person_types = BTreeMap::new();
    if portable {
        let catalog = super::read::fetch(client, true).await?;
        for (id, p) in catalog.person_types.iter().flatten() {
            if let Some(x) = &p.xml_id {
                person_types.entry(format!("xmlId:{x}")).or_insert(*id);
            }
            if let Some(c) = &p.code {
                person_types.entry(format!("code:{c}")).or_insert(*id);
            }
        }
    }
    Ok(LiveObjects {
        handlers,
        pay_systems,
        person_types,
    })
}

/// `handler.list`'s result, by `CODE`: each handler's `NAME`, `SORT` and whole
/// `SETTINGS`, flattened like a declared handler's.
pub fn parse_handler_objects(result: &Value) -> Result<BTreeMap<String, LiveObject>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the handler list is not a list".into());
    }
    let mut out = BTreeMap::new();
    for item in items(result) {
        let (Some(id), Some(code)) = (id(item.get("ID")), text(item.get("CODE"))) else {
            return Err("a handler has no ID or CODE".into());
        };
        let mut fields = Fields::new();
        if let Some(name) = text(item.get("NAME")) {
            fields.insert("NAME".into(), name);
        }
        if let Some(sort) = text(item.get("SORT")) {
            fields.insert("SORT".into(), sort);
        }
        if let Some(settings) = item.get("SETTINGS") {
            flatten_into("SETTINGS", settings, &mut fields);
        }
        out.insert(
            code,
            LiveObject {
                id,
                fields: untrusted(fields),
            },
        );
    }
    Ok(out)
}

/// `sale.paysystem.list`'s result, by `XML_ID` (pay systems without one are left out):
/// the fields a `PaySystem` manifest manages, `ACTION_FILE` as `BX_REST_HANDLER`.
pub fn parse_pay_system_objects(
    result: &Value,
) -> Result<BTreeMap<String, Vec<LiveObject>>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the pay system list is not a list".into());
    }
    let mut out: BTreeMap<String, Vec<LiveObject>> = BTreeMap::new();
    for item in items(result) {
        let Some(id) = id(item.get("ID")) else {
            return Err("a pay system has no ID".into());
        };
        let Some(xml_id) = text(item.get("XML_ID")).filter(|x| !x.is_empty()) else {
            continue;
        };
        let mut fields = Fields::new();
        for (field, key) in [
            ("NAME", "NAME"),
            ("BX_REST_HANDLER", "ACTION_FILE"),
            (PERSON_TYPE_FIELD, "PERSON_TYPE_ID"),
            ("ENTITY_REGISTRY_TYPE", "ENTITY_REGISTRY_TYPE"),
            ("ACTIVE", "ACTIVE"),
            ("NEW_WINDOW", "NEW_WINDOW"),
            ("DESCRIPTION", "DESCRIPTION"),
        ] {
            if let Some(value) = text(item.get(key)) {
                fields.insert(field.into(), value);
            }
        }
        out.entry(xml_id).or_default().push(LiveObject {
            id,
            fields: untrusted(fields),
        });
    }
    Ok(out)
}

/// Each field's text scrubbed of secrets and cut.
fn untrusted(fields: Fields) -> Fields {
    fields
        .into_iter()
        .map(|(k, v)| (live_text(&k), live_text(&v)))
        .collect()
}

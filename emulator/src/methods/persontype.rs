//! `sale.persontype.list/get` (bitrix24-api.md §5.12): lower camelCase parameters and
//! fields, `sort` as a string, `list` paged by 50 with `start`/`next`/`total`, and numeric
//! error codes. The registry type stays hidden, as in Bitrix.

use serde_json::{Map, Value, json};

use super::call::Call;
use super::filter::{Condition, is_descending, sort_rows};
use crate::envelope::{ApiError, Output};
use crate::php;
use crate::portal::{PersonType, Portal};

/// The fixed page size of Bitrix list methods.
const PAGE_SIZE: usize = 50;

const FIELDS: &[&str] = &["id", "name", "code", "sort", "active", "xmlId"];

fn row(pt: &PersonType) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("id".into(), json!(pt.id));
    row.insert("name".into(), json!(pt.name));
    row.insert(
        "code".into(),
        pt.code.clone().map_or(Value::Null, Value::String),
    );
    row.insert("sort".into(), json!(pt.sort.to_string()));
    row.insert("active".into(), json!(pt.active));
    row.insert(
        "xmlId".into(),
        pt.xml_id.clone().map_or(Value::Null, Value::String),
    );
    row
}

fn unknown_field(field: &str) -> ApiError {
    ApiError::new(400, 0_u64, format!("Unknown field definition `{field}`"))
}

fn check_fields<'a>(mut fields: impl Iterator<Item = &'a str>) -> Result<(), ApiError> {
    match fields.find(|f| !FIELDS.contains(f)) {
        Some(field) => Err(unknown_field(field)),
        None => Ok(()),
    }
}

pub(super) fn list(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    let select: Vec<String> = call
        .get("select")
        .map(|v| {
            php::array_values(v)
                .into_iter()
                .filter_map(php::string)
                .collect()
        })
        .unwrap_or_default();
    check_fields(select.iter().map(String::as_str))?;
    let conditions: Vec<Condition> = match call.get("filter") {
        Some(Value::Object(filter)) => filter.iter().map(|(k, v)| Condition::parse(k, v)).collect(),
        _ => Vec::new(),
    };
    check_fields(conditions.iter().map(|c| c.field.as_str()))?;
    let order: Vec<(String, bool)> = match call.get("order") {
        Some(Value::Object(order)) => order
            .iter()
            .map(|(k, v)| (k.clone(), is_descending(v)))
            .collect(),
        _ => Vec::new(),
    };
    check_fields(order.iter().map(|(f, _)| f.as_str()))?;

    let mut rows: Vec<Map<String, Value>> = portal
        .store
        .person_types
        .values()
        .map(row)
        .filter(|r| conditions.iter().all(|c| c.matches(r)))
        .collect();
    sort_rows(&mut rows, &order, "id");

    let start = php::int(call.get("start")).unwrap_or(0);
    // start=-1 switches the count off: first page, total 0, no next.
    let count = start >= 0;
    let offset = usize::try_from(start).unwrap_or(0);
    let total = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(PAGE_SIZE)
        .map(|r| {
            if select.is_empty() {
                Value::Object(r)
            } else {
                Value::Object(r.into_iter().filter(|(k, _)| select.contains(k)).collect())
            }
        })
        .collect();
    let next_start = offset.saturating_add(PAGE_SIZE);
    let next = (count && next_start < total).then_some(next_start as u64);
    let total = if count { total as u64 } else { 0 };
    Ok(Output::paged(json!({"personTypes": page}), total, next))
}

pub(super) fn get(portal: &mut Portal, call: &Call<'_>) -> Result<Output, ApiError> {
    if !php::isset(call.get("id")) {
        return Err(ApiError::new(
            400,
            100_u64,
            "Could not find value for parameter {id}",
        ));
    }
    let person_type = php::id(call.get("id"))
        .and_then(|id| portal.store.person_types.get(&id))
        .ok_or_else(|| ApiError::new(400, 200_740_400_001_u64, "person type does not exist"))?;
    Ok(Output::new(
        json!({"personType": Value::Object(row(person_type))}),
    ))
}

//! `batch` (bitrix24-api.md §8): up to 50 `key → "method?query"` sub-calls run in order,
//! each decoded exactly like a form body, with `halt`, `$result[key][field]` and
//! `$error[key][field]` substitution (after decoding, so percent-encoding does not protect
//! a value that looks like a reference),
//! nested batch refused per entry, and the five result maps (each `[]` when empty).
//! A failed sub-call appears in `result_error` only: no `result_time` entry (the docs'
//! examples of failed batches show `result_time: []`).
//! More than 50 sub-calls: per-entry `ERROR_BATCH_LENGTH_EXCEEDED` for the entries beyond
//! 50 (the default, as batch.md says), or a whole-request 400, per the seed switch.

use serde_json::{Map, Value, json};

use crate::envelope::{ApiError, Output, Timing};
use crate::fault::normalize_method;
use crate::php;
use crate::portal::{Caller, Portal};
use crate::record::RecordedSubCall;
use crate::seed::BatchLengthMode;

/// How a sub-call is run: [`super::execute`], passed in by the dispatcher (so that this
/// file and the method table do not import each other).
pub(super) type Execute = fn(
    &mut Portal,
    &Caller,
    &str,
    &Map<String, Value>,
    bool,
    &mut Vec<RecordedSubCall>,
) -> Result<Output, ApiError>;

/// Bitrix's maximum number of sub-calls in one batch.
pub(crate) const MAX_BATCH: usize = 50;

fn length_exceeded() -> ApiError {
    ApiError::new(
        400,
        "ERROR_BATCH_LENGTH_EXCEEDED",
        "Max batch length exceeded",
    )
}

/// A decoded `cmd` entry.
struct SubCall {
    key: String,
    method: String,
    params: Map<String, Value>,
}

/// Splits `method?query` and decodes the query like a form body (percent-decoding once).
fn decode(key: String, command: Option<String>) -> SubCall {
    let command = command.unwrap_or_default();
    let (method, query) = command.split_once('?').unwrap_or((command.as_str(), ""));
    let mut params = php::parse_query(query);
    params.remove("auth");
    SubCall {
        key,
        method: normalize_method(method),
        params,
    }
}

/// The `cmd` entries in the order given (an object's key order or a list's index order).
fn commands(cmd: Option<&Value>) -> Vec<(String, Option<String>)> {
    match cmd {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), php::string(v)))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), php::string(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A batch's sub-calls decoded like [`run`] does, for request-scope fault matching and
/// the log of a faulted request (before anything runs, so no `$result` substitution).
pub(crate) fn decode_sub_calls(raw: &Map<String, Value>) -> Vec<RecordedSubCall> {
    commands(raw.get("cmd"))
        .into_iter()
        .map(|(k, c)| {
            let sub = decode(k, c);
            RecordedSubCall {
                key: sub.key,
                method: sub.method,
                params: Value::Object(sub.params),
            }
        })
        .collect()
}

pub(super) fn run(
    portal: &mut Portal,
    caller: &Caller,
    raw: &Map<String, Value>,
    sub_calls: &mut Vec<RecordedSubCall>,
    execute: Execute,
) -> Result<Output, ApiError> {
    let halt = php::truthy(raw.get("halt"));
    let decoded: Vec<SubCall> = commands(raw.get("cmd"))
        .into_iter()
        .map(|(k, c)| decode(k, c))
        .collect();
    sub_calls.extend(decoded.iter().map(|s| RecordedSubCall {
        key: s.key.clone(),
        method: s.method.clone(),
        params: Value::Object(s.params.clone()),
    }));
    if decoded.len() > MAX_BATCH && portal.batch_length_mode == BatchLengthMode::Reject {
        return Err(length_exceeded());
    }

    let mut result = Map::new();
    let mut result_error = Map::new();
    let mut result_total = Map::new();
    let mut result_next = Map::new();
    let mut result_time = Map::new();
    for (index, sub) in decoded.into_iter().enumerate() {
        if index >= MAX_BATCH {
            result_error.insert(sub.key, length_exceeded().body());
            if halt {
                break;
            }
            continue;
        }
        let timing = Timing::start(&portal.clock);
        let params = substitute_map(
            sub.params,
            &References {
                results: &result,
                errors: &result_error,
            },
        );
        match execute(portal, caller, &sub.method, &params, true, &mut Vec::new()) {
            Ok(output) => {
                if let Some(total) = output.total {
                    result_total.insert(sub.key.clone(), json!(total));
                }
                if let Some(next) = output.next {
                    result_next.insert(sub.key.clone(), json!(next));
                }
                result.insert(sub.key.clone(), output.result);
                result_time.insert(sub.key, timing.finish_sub_call());
            }
            Err(error) => {
                // No `result_time` entry: only calls that succeeded are timed.
                result_error.insert(sub.key, error.body());
                if halt {
                    break;
                }
            }
        }
    }
    Ok(Output::new(json!({
        "result": php::php_list_if_sequential(result),
        "result_error": php::php_list_if_sequential(result_error),
        "result_total": php::php_list_if_sequential(result_total),
        "result_next": php::php_list_if_sequential(result_next),
        "result_time": php::php_list_if_sequential(result_time),
    })))
}

/// The maps a `$result[...]` or `$error[...]` reference reads from: the earlier
/// sub-calls' results and errors.
struct References<'a> {
    results: &'a Map<String, Value>,
    errors: &'a Map<String, Value>,
}

impl<'a> References<'a> {
    /// The reference prefixes, each with the map it reads from.
    fn prefixes(&self) -> [(&'static str, &'a Map<String, Value>); 2] {
        [("$result", self.results), ("$error", self.errors)]
    }
}

fn substitute_map(params: Map<String, Value>, refs: &References<'_>) -> Map<String, Value> {
    params
        .into_iter()
        .map(|(k, v)| (k, substitute(v, refs)))
        .collect()
}

/// Replaces `$result[key][field]...` and `$error[key][field]...` references in string
/// leaves with earlier results or errors.
fn substitute(value: Value, refs: &References<'_>) -> Value {
    match value {
        Value::String(s) if s.contains("$result[") || s.contains("$error[") => {
            substitute_str(s, refs)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| substitute(v, refs)).collect())
        }
        Value::Object(map) => Value::Object(substitute_map(map, refs)),
        other => other,
    }
}

/// The reference starting at `start`, if any: its path, end offset and the map it reads.
fn reference_at<'m>(
    s: &str,
    start: usize,
    refs: &References<'m>,
) -> Option<(Vec<String>, usize, &'m Map<String, Value>)> {
    refs.prefixes().into_iter().find_map(|(prefix, map)| {
        parse_reference(s, start, prefix).map(|(path, end)| (path, end, map))
    })
}

fn substitute_str(s: String, refs: &References<'_>) -> Value {
    // A value that is exactly one reference takes the referenced value itself (even a list).
    if let Some((path, end, map)) = reference_at(&s, 0, refs)
        && end == s.len()
        && let Some(found) = resolve(map, &path)
    {
        return found.clone();
    }
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(offset) = s[pos..].find('$') {
        let start = pos + offset;
        out.push_str(&s[pos..start]);
        match reference_at(&s, start, refs) {
            Some((path, end, map)) => {
                match resolve(map, &path)
                    .filter(|v| !v.is_array() && !v.is_object())
                    .and_then(php::string)
                {
                    Some(text) => out.push_str(&text),
                    None => out.push_str(&s[start..end]),
                }
                pos = end;
            }
            None => {
                out.push('$');
                pos = start + 1;
            }
        }
    }
    out.push_str(&s[pos..]);
    Value::String(out)
}

/// Parses `<prefix>[a][b]...` at `start`; returns the path and the end offset.
fn parse_reference(s: &str, start: usize, prefix: &str) -> Option<(Vec<String>, usize)> {
    let mut rest = s.get(start..)?.strip_prefix(prefix)?;
    let mut end = start + prefix.len();
    let mut path = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        path.push(inner[..close].to_owned());
        end += close + 2;
        rest = &inner[close + 1..];
    }
    (!path.is_empty()).then_some((path, end))
}

fn resolve<'a>(results: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = results.get(first)?;
    for segment in rest {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_substituted() {
        let results = match json!({"list": [{"ID": 11}], "add": 5}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let errors = match json!({"bad": {"error": "ACCESS_DENIED"}}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let refs = References {
            results: &results,
            errors: &errors,
        };
        let substitute = |v: Value, _: &Map<String, Value>| substitute(v, &refs);
        assert_eq!(
            substitute(json!("$error[bad][error]"), &results),
            json!("ACCESS_DENIED")
        );
        assert_eq!(
            substitute(
                json!("e=$error[bad][error], r=$result[add], $5 $"),
                &results
            ),
            json!("e=ACCESS_DENIED, r=5, $5 $")
        );
        assert_eq!(
            substitute(json!("$error[add]"), &results),
            json!("$error[add]")
        );
        assert_eq!(
            substitute(json!("$result[list][0][ID]"), &results),
            json!(11)
        );
        assert_eq!(
            substitute(json!("id=$result[add];x"), &results),
            json!("id=5;x")
        );
        assert_eq!(
            substitute(json!("$result[missing][0]"), &results),
            json!("$result[missing][0]")
        );
        assert_eq!(
            substitute(json!("$result[list"), &results),
            json!("$result[list")
        );
        assert_eq!(
            substitute(json!("$result[list]"), &results),
            json!([{"ID": 11}])
        );
    }

    #[test]
    fn commands_are_decoded_like_form_bodies() {
        let sub = decode(
            "a".into(),
            Some(
                "Sale.PaySystem.Settings.Update.json?ID=11&SETTINGS[K][VALUE]=a%26b+c&auth=tok"
                    .into(),
            ),
        );
        assert_eq!(sub.method, "sale.paysystem.settings.update");
        assert_eq!(
            Value::Object(sub.params),
            json!({"ID": "11", "SETTINGS": {"K": {"VALUE": "a&b c"}}})
        );
    }
}

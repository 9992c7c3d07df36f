//! Reading the portal's answers: the success and error envelopes (bitrix24-api.md
//! §1.4–1.6), `batch` results (§8) and the `settings.get` payload (§5.9).
//!
//! Everything here is a pure function of a status code and bytes or a JSON value, so it
//! is tested without a network. Errors describe shapes and never quote a body or a
//! setting value: both can hold secrets (and an HTML error page is noise).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::codes::CompactString;
use crate::model::{LiveSetting, LiveSettings};
use crate::untrusted::portal_text;

/// An error the portal reported: `{"error": CODE, "error_description": TEXT}`, either as
/// the whole answer (`http_status` set) or for one `batch` sub-call (`http_status` None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalError {
    /// The portal's code, e.g. `ACCESS_DENIED`; numeric codes (`sale.persontype.*`) as
    /// their decimal text.
    pub code: String,
    /// The portal's description; empty when it gave none.
    pub description: String,
    /// The HTTP status of the answer that carried the error; None inside a batch.
    pub http_status: Option<u16>,
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.description.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.description)
        }
    }
}

impl std::error::Error for PortalError {}

impl PortalError {
    /// Reads `{"error", "error_description"}`; None when there is no usable `error`.
    fn from_envelope(object: &Map<String, Value>, http_status: Option<u16>) -> Option<PortalError> {
        // Both are shown to people and logged: untrusted text, scrubbed, cut and escaped
        // here, where they enter (a portal or proxy may quote the request, secrets and all).
        let code = match object.get("error")? {
            Value::String(s) => portal_text(s),
            Value::Number(n) => number_text(n),
            Value::Null => return None,
            other => portal_text(&other.to_string()),
        };
        let description = match object.get("error_description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => portal_text(s),
            Some(other) => portal_text(&other.to_string()),
        };
        Some(PortalError {
            code,
            description,
            http_status,
        })
    }
}

/// Why an answer could not be read as a successful call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The portal reported an error.
    #[error("{0}")]
    Portal(PortalError),
    /// The body is not JSON (a proxy's HTML page, for example). The body is not kept.
    #[error("portal answered HTTP {status} with a non-JSON body")]
    NotJson { status: u16 },
    /// The body is empty.
    #[error("portal answered HTTP {status} with an empty body")]
    EmptyBody { status: u16 },
    /// JSON, but neither a success nor an error envelope.
    #[error("portal answered HTTP {status} with JSON that has neither `result` nor `error`")]
    NoResult { status: u16 },
    /// The `result` does not have the shape the method documents.
    #[error("unexpected shape of the portal's answer: {detail}")]
    Shape { detail: String },
}

impl CallError {
    fn shape(detail: impl Into<String>) -> CallError {
        CallError::Shape {
            detail: detail.into(),
        }
    }
}

/// Where a list continues: the envelope's `next` (the `start` of the next page) and
/// `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Page {
    pub next: Option<u64>,
    pub total: Option<u64>,
}

/// The execution-time fields of a success envelope's `time` (bitrix24-api.md §1.5, §9.2).
/// Both are optional: which fields appear varies by method and environment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timing {
    /// Seconds of execution this method has used over the sliding 10-minute window.
    pub operating: Option<f64>,
    /// Unix time when the oldest one-minute bucket leaves `operating`.
    pub operating_reset_at: Option<f64>,
    /// A list method's `next`: the `start` of the next page, when there is one.
    pub next: Option<u64>,
    /// A list method's `total`: how many rows the list has.
    pub total: Option<u64>,
}

impl Timing {
    /// Reads `time` leniently: a missing or odd `time`, or a field that is not a number
    /// (or a numeric string), counts as absent.
    fn from_envelope(object: &Map<String, Value>) -> Timing {
        let count = |name: &str| match object.get(name) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let (next, total) = (count("next"), count("total"));
        let Some(Value::Object(time)) = object.get("time") else {
            return Timing {
                next,
                total,
                ..Timing::default()
            };
        };
        let number = |name: &str| {
            match time.get(name) {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|x| x.is_finite() && *x >= 0.0)
        };
        Timing {
            operating: number("operating"),
            operating_reset_at: number("operating_reset_at"),
            next,
            total,
        }
    }
}

/// Reads an answer: the `result` of a success envelope, or why there is none. An `error`
/// field wins over `result`; a `result` only counts with a 2xx status.
pub fn parse_response(status: u16, body: &[u8]) -> Result<Value, CallError> {
    parse_envelope(status, body).map(|(result, _)| result)
}

/// [`parse_response`], also returning the envelope's [`Timing`].
pub fn parse_envelope(status: u16, body: &[u8]) -> Result<(Value, Timing), CallError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CallError::EmptyBody { status });
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Err(CallError::NotJson { status });
    };
    let Value::Object(mut object) = json else {
        return Err(CallError::NoResult { status });
    };
    if let Some(error) = PortalError::from_envelope(&object, Some(status)) {
        return Err(CallError::Portal(error));
    }
    let timing = Timing::from_envelope(&object);
    match object.remove("result") {
        Some(result) if (200..300).contains(&status) => Ok((result, timing)),
        _ => Err(CallError::NoResult { status }),
    }
}

/// What became of each sub-call of a `batch`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchOutcome {
    pub entries: BTreeMap<String, BatchEntry>,
    /// `result_next`: for a list sub-call with more rows, the `start` of its next page.
    pub next: BTreeMap<String, u64>,
}

/// One sub-call's fate.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchEntry {
    /// It ran and returned this `result`.
    Ok(Value),
    /// It ran and failed (no HTTP status of its own).
    Failed(PortalError),
    /// It is in neither map: with `halt`, an earlier sub-call failed and it never ran.
    NotRun,
}

/// Reads a `batch` call's `result` for the given keys. Each of the five maps may be an
/// object or `[]` (PHP's empty array); a map whose keys are `0..n` arrives as a JSON
/// list and is read by position. A key in `result_error` failed, one in `result`
/// succeeded, and one in neither never ran. Keys the portal returned but the caller did
/// not ask about are ignored.
pub fn parse_batch_result(keys: &[String], result: &Value) -> Result<BatchOutcome, CallError> {
    let empty = Map::new();
    let outer = match result {
        Value::Object(map) => map,
        Value::Array(items) if items.is_empty() => &empty,
        other => {
            return Err(CallError::shape(format!(
                "batch result is {}, expected an object",
                kind(other)
            )));
        }
    };
    let results = keyed_map(outer, "result")?;
    let errors = keyed_map(outer, "result_error")?;
    for name in ["result_total", "result_time"] {
        keyed_map(outer, name)?;
    }
    let next = keyed_map(outer, "result_next")?
        .into_iter()
        .filter(|(key, _)| keys.contains(key))
        .filter_map(|(key, value)| {
            let start = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }?;
            Some((key, start))
        })
        .collect();

    let mut entries = BTreeMap::new();
    for key in keys {
        let entry = if let Some(error) = errors.get(key.as_str()) {
            BatchEntry::Failed(sub_call_error(key, error)?)
        } else if let Some(value) = results.get(key.as_str()) {
            BatchEntry::Ok((*value).clone())
        } else {
            BatchEntry::NotRun
        };
        entries.insert(key.clone(), entry);
    }
    Ok(BatchOutcome { entries, next })
}

/// One of the batch maps as key → value: missing or `null` is empty, a list is keyed by
/// position.
fn keyed_map<'a>(
    outer: &'a Map<String, Value>,
    name: &str,
) -> Result<BTreeMap<String, &'a Value>, CallError> {
    match outer.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), v)).collect()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect()),
        Some(other) => Err(CallError::shape(format!(
            "batch `{name}` is {}, expected an object",
            kind(other)
        ))),
    }
}

fn sub_call_error(key: &str, error: &Value) -> Result<PortalError, CallError> {
    let parsed = match error {
        Value::Object(object) => PortalError::from_envelope(object, None),
        Value::String(code) => Some(PortalError {
            code: portal_text(code),
            description: String::new(),
            http_status: None,
        }),
        _ => None,
    };
    parsed.ok_or_else(|| {
        CallError::shape(format!(
            "batch `result_error` entry {key:?} is {}, expected {{error, error_description}}",
            kind(error)
        ))
    })
}

/// Reads a `sale.paysystem.settings.get` result into code → setting, codes upper-cased.
///
/// Both documented shapes are accepted (bitrix24-api.md §5.9): `CODE → {"TYPE", "VALUE"}`
/// (either may be null or missing; a numeric VALUE, e.g. a property ID, becomes its
/// decimal text) and the docs' `CODE → "string"`, read as a value with an unknown source
/// (`source_known: false`, as is a bare `null`). `[]` is an empty map. Errors name the
/// code and the JSON type, never the value.
pub fn parse_settings(result: &Value) -> Result<LiveSettings, CallError> {
    let object = match result {
        Value::Object(map) => map,
        Value::Array(items) if items.is_empty() => return Ok(LiveSettings::default()),
        other => {
            return Err(CallError::shape(format!(
                "settings are {}, expected an object of setting codes",
                kind(other)
            )));
        }
    };
    // Room for every code at once: grown by doubling, a million settings left a third of
    // their room unused (issue 22.2).
    let mut settings = LiveSettings::with_capacity(object.len());
    for (code, value) in object {
        let setting = match value {
            Value::Object(fields) => LiveSetting {
                source: field_text(code, "TYPE", fields.get("TYPE"))?,
                value: field_text(code, "VALUE", fields.get("VALUE"))?,
                source_known: true,
            },
            Value::String(s) => LiveSetting {
                source: None,
                value: Some(s.as_str().into()),
                source_known: false,
            },
            Value::Number(n) => LiveSetting {
                source: None,
                value: Some(number_text(n).into()),
                source_known: false,
            },
            Value::Null => LiveSetting {
                source: None,
                value: None,
                source_known: false,
            },
            other => {
                return Err(CallError::shape(format!(
                    "setting {} is {}, expected {{TYPE, VALUE}} or a string",
                    portal_text(code),
                    kind(other)
                )));
            }
        };
        let upper = code.to_uppercase();
        if settings.insert(upper.clone(), setting).is_some() {
            return Err(CallError::shape(format!(
                "setting {} appears twice in different letter case",
                portal_text(&upper)
            )));
        }
    }
    Ok(settings)
}

fn field_text(
    code: &str,
    field: &str,
    value: Option<&Value>,
) -> Result<Option<CompactString>, CallError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str().into())),
        Some(Value::Number(n)) => Ok(Some(number_text(n).into())),
        Some(other) => Err(CallError::shape(format!(
            "setting {}: {field} is {}, expected a string",
            portal_text(code),
            kind(other)
        ))),
    }
}

/// A JSON number as PHP would print an integer: `200040300010`, not `2.0004030001e11`.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e18 => format!("{f:.0}"),
            _ => n.to_string(),
        }
    }
}

/// The JSON type of a value, for error messages that must not quote it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(items) if items.is_empty() => "an empty list",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn success_envelope() {
        let body = br#"{"result": {"A": 1}, "time": {"start": 1.5, "operating": 0}}"#;
        assert_eq!(parse_response(200, body), Ok(json!({"A": 1})));
        assert_eq!(parse_response(200, br#"{"result": true}"#), Ok(json!(true)));
        assert_eq!(
            parse_response(200, br#"{"result": false}"#),
            Ok(json!(false))
        );
        assert_eq!(parse_response(200, br#"{"result": []}"#), Ok(json!([])));
        assert_eq!(parse_response(200, br#"{"result": null}"#), Ok(Value::Null));
        assert_eq!(
            parse_response(200, br#"{"result": {"personTypes": []}, "total": 0}"#),
            Ok(json!({"personTypes": []}))
        );
    }

    #[test]
    fn timing_fields_are_optional_and_lenient() {
        let timing = |body: &[u8]| parse_envelope(200, body).unwrap().1;
        assert_eq!(
            timing(
                br#"{"result": 1, "time": {"start": 1.5, "operating": 12.25, "operating_reset_at": 1700000600}}"#
            ),
            Timing {
                operating: Some(12.25),
                operating_reset_at: Some(1_700_000_600.0),
                ..Timing::default()
            }
        );
        assert_eq!(
            timing(br#"{"result": 1, "time": {"operating": 0}}"#),
            Timing {
                operating: Some(0.0),
                operating_reset_at: None,
                ..Timing::default()
            }
        );
        assert_eq!(
            timing(br#"{"result": 1, "time": {"operating": "3.5", "operating_reset_at": "x"}}"#),
            Timing {
                operating: Some(3.5),
                operating_reset_at: None,
                ..Timing::default()
            }
        );
        for body in [
            &br#"{"result": 1}"#[..],
            br#"{"result": 1, "time": []}"#,
            br#"{"result": 1, "time": {"operating": null, "operating_reset_at": -5}}"#,
        ] {
            assert_eq!(timing(body), Timing::default());
        }
        // A list's `next` and `total` are kept.
        let page = timing(br#"{"result": [], "total": 60, "next": 50}"#);
        assert_eq!((page.next, page.total), (Some(50), Some(60)));
    }

    #[test]
    fn error_envelope_with_a_string_code() {
        let body = br#"{"error":"ACCESS_DENIED","error_description":"Access denied"}"#;
        let err = parse_response(403, body).unwrap_err();
        let expected = PortalError {
            code: "ACCESS_DENIED".into(),
            description: "Access denied".into(),
            http_status: Some(403),
        };
        assert_eq!(err, CallError::Portal(expected.clone()));
        assert_eq!(expected.to_string(), "ACCESS_DENIED: Access denied");
        assert_eq!(err.to_string(), "ACCESS_DENIED: Access denied");
    }

    #[test]
    fn error_envelope_with_a_numeric_code() {
        let body = br#"{"error":200040300010,"error_description":"Access Denied"}"#;
        let Err(CallError::Portal(e)) = parse_response(400, body) else {
            panic!("expected a portal error");
        };
        assert_eq!(e.code, "200040300010");
        assert_eq!(e.http_status, Some(400));
        assert_eq!(e.to_string(), "200040300010: Access Denied");
        let Err(CallError::Portal(e)) = parse_response(400, br#"{"error":0}"#) else {
            panic!("expected a portal error");
        };
        assert_eq!(e.code, "0");
        assert_eq!(e.description, "");
        assert_eq!(e.to_string(), "0");
    }

    #[test]
    fn an_error_wins_over_a_result_even_with_200() {
        let body = br#"{"result":null,"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}"#;
        let Err(CallError::Portal(e)) = parse_response(200, body) else {
            panic!("expected a portal error");
        };
        assert_eq!(e.code, "QUERY_LIMIT_EXCEEDED");
        assert_eq!(e.http_status, Some(200));
    }

    #[test]
    fn html_body_is_reported_without_its_content() {
        let body =
            b"<html><head><title>502 Bad Gateway</title></head><body>SECRET-ish page</body></html>";
        let err = parse_response(502, body).unwrap_err();
        assert_eq!(err, CallError::NotJson { status: 502 });
        assert_eq!(
            err.to_string(),
            "portal answered HTTP 502 with a non-JSON body"
        );
        assert!(!format!("{err:?}").contains("SECRET"));
    }

    #[test]
    fn empty_and_odd_bodies() {
        assert_eq!(
            parse_response(200, b""),
            Err(CallError::EmptyBody { status: 200 })
        );
        assert_eq!(
            parse_response(504, b" \n"),
            Err(CallError::EmptyBody { status: 504 })
        );
        assert_eq!(
            parse_response(500, br#"{"result": 1, "time": {}"#),
            Err(CallError::NotJson { status: 500 })
        );
        assert_eq!(
            parse_response(200, br#"{"time": {}}"#),
            Err(CallError::NoResult { status: 200 })
        );
        assert_eq!(
            parse_response(200, br#"[1, 2]"#),
            Err(CallError::NoResult { status: 200 })
        );
        assert_eq!(
            parse_response(200, br#""ok""#),
            Err(CallError::NoResult { status: 200 })
        );
        // A result with a failure status is not a success.
        assert_eq!(
            parse_response(500, br#"{"result": 1}"#),
            Err(CallError::NoResult { status: 500 })
        );
        assert_eq!(
            parse_response(200, br#"{"time": {}}"#)
                .unwrap_err()
                .to_string(),
            "portal answered HTTP 200 with JSON that has neither `result` nor `error`"
        );
    }

    #[test]
    fn batch_with_php_empty_maps() {
        let result = json!({
            "result": {"a": true, "b": {"X": {"TYPE": "VALUE", "VALUE": "1"}}},
            "result_error": [], "result_total": [], "result_next": [], "result_time": []
        });
        let outcome = parse_batch_result(&keys(&["a", "b"]), &result).unwrap();
        assert_eq!(outcome.entries["a"], BatchEntry::Ok(json!(true)));
        assert_eq!(
            outcome.entries["b"],
            BatchEntry::Ok(json!({"X": {"TYPE": "VALUE", "VALUE": "1"}}))
        );

        let all_empty = json!({"result": [], "result_error": [], "result_total": [],
                               "result_next": [], "result_time": []});
        let outcome = parse_batch_result(&keys(&["a"]), &all_empty).unwrap();
        assert_eq!(outcome.entries["a"], BatchEntry::NotRun);
        let outcome = parse_batch_result(&keys(&["a"]), &json!([])).unwrap();
        assert_eq!(outcome.entries["a"], BatchEntry::NotRun);
    }

    #[test]
    fn batch_mixed_ok_failed_and_not_run() {
        let result = json!({
            "result": {"first": true},
            "result_error": {"second": {"error": "ACCESS_DENIED", "error_description": "Access denied"}},
            "result_total": [],
            "result_next": [],
            "result_time": {"first": {"start": 1.0, "finish": 1.1, "duration": 0.1}}
        });
        let outcome = parse_batch_result(&keys(&["first", "second", "third"]), &result).unwrap();
        assert_eq!(outcome.entries.len(), 3);
        assert_eq!(outcome.entries["first"], BatchEntry::Ok(json!(true)));
        assert_eq!(
            outcome.entries["second"],
            BatchEntry::Failed(PortalError {
                code: "ACCESS_DENIED".into(),
                description: "Access denied".into(),
                http_status: None,
            })
        );
        assert_eq!(outcome.entries["third"], BatchEntry::NotRun);
    }

    #[test]
    fn batch_result_false_is_still_ok_at_this_layer() {
        let result = json!({"result": {"u": false}, "result_error": [], "result_total": [],
                            "result_next": [], "result_time": []});
        let outcome = parse_batch_result(&keys(&["u"]), &result).unwrap();
        assert_eq!(outcome.entries["u"], BatchEntry::Ok(json!(false)));
    }

    #[test]
    fn batch_maps_with_numeric_keys_arrive_as_lists() {
        let result = json!({
            "result": [true, null, {"x": 1}],
            "result_error": {"1": {"error": 100, "error_description": "id not given"}},
            "result_total": [], "result_next": [], "result_time": []
        });
        let outcome = parse_batch_result(&keys(&["0", "1", "2", "3"]), &result).unwrap();
        assert_eq!(outcome.entries["0"], BatchEntry::Ok(json!(true)));
        let BatchEntry::Failed(e) = &outcome.entries["1"] else {
            panic!("expected a failure");
        };
        assert_eq!(e.code, "100");
        assert_eq!(outcome.entries["2"], BatchEntry::Ok(json!({"x": 1})));
        assert_eq!(outcome.entries["3"], BatchEntry::NotRun);
    }

    #[test]
    fn batch_shape_errors() {
        assert!(matches!(
            parse_batch_result(&keys(&["a"]), &json!("nope")),
            Err(CallError::Shape { .. })
        ));
        assert!(matches!(
            parse_batch_result(&keys(&["a"]), &json!({"result": "x"})),
            Err(CallError::Shape { .. })
        ));
        assert!(matches!(
            parse_batch_result(&keys(&["a"]), &json!({"result_error": {"a": 5}})),
            Err(CallError::Shape { .. })
        ));
    }

    #[test]
    fn settings_object_shape() {
        let result = json!({
            "REST_SERVICE_KEY": {"TYPE": "VALUE", "VALUE": "k-123"},
            "payment_id": {"TYPE": "PAYMENT", "VALUE": "ACCOUNT_NUMBER"},
            "PS_WORK_MODE": {"TYPE": null, "VALUE": null},
            "PROP": {"TYPE": "PROPERTY", "VALUE": 42},
            "HALF": {"VALUE": "x"}
        });
        let settings = parse_settings(&result).unwrap();
        let keys: Vec<&str> = settings.keys().collect();
        assert_eq!(
            keys,
            [
                "HALF",
                "PAYMENT_ID",
                "PROP",
                "PS_WORK_MODE",
                "REST_SERVICE_KEY"
            ]
        );
        assert_eq!(
            settings["REST_SERVICE_KEY"],
            LiveSetting {
                source: Some("VALUE".into()),
                value: Some("k-123".into()),
                source_known: true
            }
        );
        assert_eq!(settings["PAYMENT_ID"].source.as_deref(), Some("PAYMENT"));
        assert_eq!(
            settings["PS_WORK_MODE"],
            LiveSetting {
                source: None,
                value: None,
                source_known: true
            }
        );
        assert_eq!(settings["PROP"].value.as_deref(), Some("42"));
        assert_eq!(settings["HALF"].source, None);
        assert!(settings["HALF"].source_known);
    }

    #[test]
    fn settings_string_shape() {
        let result = json!({"REST_SERVICE_ID_IFRAME": "snum", "ps_work_mode_iframe": "REGULAR", "EMPTY": null});
        let settings = parse_settings(&result).unwrap();
        assert_eq!(
            settings["REST_SERVICE_ID_IFRAME"],
            LiveSetting {
                source: None,
                value: Some("snum".into()),
                source_known: false
            }
        );
        assert_eq!(
            settings["PS_WORK_MODE_IFRAME"].value.as_deref(),
            Some("REGULAR")
        );
        assert_eq!(
            settings["EMPTY"],
            LiveSetting {
                source: None,
                value: None,
                source_known: false
            }
        );
    }

    #[test]
    fn settings_empty_and_bad_shapes() {
        assert!(parse_settings(&json!([])).unwrap().is_empty());
        assert!(parse_settings(&json!({})).unwrap().is_empty());
        for bad in [
            json!(["a"]),
            json!("x"),
            json!(true),
            json!({"K": ["CANARY"]}),
            json!({"K": {"TYPE": "VALUE", "VALUE": ["CANARY"]}}),
            json!({"K": {"TYPE": "VALUE", "VALUE": true}}),
            json!({"k": "CANARY", "K": "CANARY"}),
        ] {
            let err = parse_settings(&bad).unwrap_err();
            assert!(matches!(err, CallError::Shape { .. }), "{bad}");
            assert!(!format!("{err} {err:?}").contains("CANARY"), "{err}");
        }
    }
}

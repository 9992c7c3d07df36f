//! REST requests as data: a method name and its JSON parameters, built and tested without
//! a network (the kube-rs way), plus the `batch` request and the PHP query strings its
//! sub-commands are written in (bitrix24-api.md §8).
//!
//! Parameters can hold secret values (`settings.update` carries API keys), so a
//! [`Request`]'s `Debug` shows the method and the top-level parameter keys only. Nothing
//! here sends, logs or prints anything.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::encoding::encode_component;
use crate::model::Target;
use crate::secrets::Redacted;

/// The most sub-calls one `batch` request may carry (bitrix24-api.md §8).
pub const MAX_BATCH: usize = 50;

/// `sale.paysystem.settings.get`.
pub const METHOD_SETTINGS_GET: &str = "sale.paysystem.settings.get";
/// `sale.paysystem.settings.update`.
pub const METHOD_SETTINGS_UPDATE: &str = "sale.paysystem.settings.update";
/// `batch`.
pub const METHOD_BATCH: &str = "batch";
/// `sale.paysystem.handler.list` (live validation).
pub const METHOD_HANDLER_LIST: &str = "sale.paysystem.handler.list";
/// `sale.paysystem.list` (live validation).
pub const METHOD_PAY_SYSTEM_LIST: &str = "sale.paysystem.list";
/// `sale.persontype.list` (live validation).
pub const METHOD_PERSON_TYPE_LIST: &str = "sale.persontype.list";
/// The fixed page size of `sale.persontype.list` (bitrix24-api.md §5.12).
pub const PERSON_TYPE_PAGE: usize = 50;

/// One REST call: the method name and its parameters (a JSON object).
#[derive(Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub params: Value,
}

impl fmt::Debug for Request {
    /// The method and the top-level parameter keys; values can be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = match &self.params {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("params", &keys)
            .finish()
    }
}

impl Request {
    /// A request with an arbitrary method and parameters (an object).
    pub fn new(method: impl Into<String>, params: Value) -> Request {
        Request {
            method: method.into(),
            params,
        }
    }

    /// `sale.paysystem.settings.get` for one target: `{"ID", "PERSON_TYPE_ID"}`. The portal
    /// requires `PERSON_TYPE_ID`; 0 reads the pay system's default (common) settings.
    pub fn settings_get(target: Target) -> Request {
        Request::new(
            METHOD_SETTINGS_GET,
            json!({"ID": target.pay_system, "PERSON_TYPE_ID": target.person_type}),
        )
    }

    /// `sale.paysystem.handler.list`: every REST handler, not paginated, no parameters
    /// (bitrix24-api.md §5.2).
    pub fn handler_list() -> Request {
        Request::new(METHOD_HANDLER_LIST, json!({}))
    }

    /// The next page of a list request: `start` set to the envelope's `next`.
    pub fn from_start(mut self, start: u64) -> Request {
        if let Value::Object(params) = &mut self.params {
            params.insert("start".into(), json!(start));
        }
        self
    }

    /// `sale.paysystem.list`: every pay system (built-in ones too), not paginated by the
    /// source although its docs page says 50 a page (bitrix24-api.md §5.8, §10.4): pages
    /// are followed with [`Request::from_start`] when the portal gives a `next`; only
    /// the fields live validation needs.
    pub fn pay_system_list() -> Request {
        Request::new(
            METHOD_PAY_SYSTEM_LIST,
            json!({"SELECT": ["ID", "NAME", "ACTION_FILE", "XML_ID"], "ORDER": {"ID": "ASC"}}),
        )
    }

    /// One page of `sale.persontype.list` (lower-case parameters, pages of
    /// [`PERSON_TYPE_PAGE`] from `start`; bitrix24-api.md §5.12).
    pub fn person_type_list(start: usize) -> Request {
        Request::new(
            METHOD_PERSON_TYPE_LIST,
            json!({"select": ["id", "name", "code", "xmlId"], "order": {"id": "asc"}, "start": start}),
        )
    }

    /// `sale.paysystem.settings.update` for one target:
    /// `{"ID", "PERSON_TYPE_ID", "SETTINGS": {CODE: {"TYPE", "VALUE"}}}`.
    ///
    /// `PERSON_TYPE_ID` is left out for person type 0: the portal then writes the common
    /// mapping, which `settings.get` with `PERSON_TYPE_ID=0` reads (bitrix24-api.md §5.10).
    /// Codes are sent as given (the portal upper-cases them). An empty map makes a request
    /// the portal refuses with `ERROR_HANDLER_NOT_FOUND`; callers send only changes.
    pub fn settings_update(
        target: Target,
        settings: &BTreeMap<String, (String, Redacted<String>)>,
    ) -> Request {
        let mut params = Map::new();
        params.insert("ID".into(), json!(target.pay_system));
        if target.person_type != 0 {
            params.insert("PERSON_TYPE_ID".into(), json!(target.person_type));
        }
        let settings: Map<String, Value> = settings
            .iter()
            .map(|(code, (source, value))| {
                (
                    code.clone(),
                    json!({"TYPE": source, "VALUE": value.expose()}),
                )
            })
            .collect();
        params.insert("SETTINGS".into(), Value::Object(settings));
        Request::new(METHOD_SETTINGS_UPDATE, Value::Object(params))
    }

    /// This request as a `batch` sub-command: `method?query`, the query written the way
    /// PHP's `http_build_query(..., PHP_QUERY_RFC3986)` writes it.
    ///
    /// - Nesting uses bracket notation: `SETTINGS[CODE][VALUE]=...`, list items `KEY[0]=...`.
    /// - Every key segment and every value is percent-encoded **once**, RFC 3986 style:
    ///   everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX` of its UTF-8 bytes (a space is
    ///   `%20`, never `+`). The batch goes out in a JSON body, so there is no second layer.
    /// - The structural brackets are written literally, not as `%5B`/`%5D`. PHP's
    ///   `parse_str` decodes first and parses brackets after, so both spellings mean the
    ///   same; the literal one matches the docs' examples and stays readable. A bracket
    ///   inside a value (or a key) is encoded, so it cannot be taken for structure, and so
    ///   are `$`, `&`, `=`, `%`, `#` and `+`.
    /// - Like `http_build_query`: `null` and empty objects or lists are left out, booleans
    ///   become `1`/`0`, numbers their decimal text.
    /// - The method name is lower-cased, as for direct calls; a request without
    ///   parameters is just `method`.
    pub fn to_batch_command(&self) -> String {
        let mut pairs = Vec::new();
        if let Value::Object(map) = &self.params {
            for (key, value) in map {
                push_pairs(&encode_component(key), value, &mut pairs);
            }
        }
        let method = self.method.to_ascii_lowercase();
        if pairs.is_empty() {
            method
        } else {
            format!("{method}?{}", pairs.join("&"))
        }
    }
}

/// Whether the portal would take part of `text` for a batch reference: inside `batch` it
/// replaces `$result[key]...` and `$error[key]...` in a sub-call's parameters *after*
/// decoding them (bitrix24-api.md §8), so no encoding protects such a value; a request
/// carrying one must be sent on its own, not as a sub-call. Matched without regard to
/// case, which errs on the side of a direct call.
pub fn looks_like_batch_reference(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("$result[") || lower.contains("$error[")
}

/// The key of a target's command in a `batch` (`ps11_pt1`): one per target, so a
/// batch's answers are matched back to their targets.
pub fn target_key(target: Target) -> String {
    format!("ps{}_pt{}", target.pay_system, target.person_type)
}

/// The `batch` request: `{"halt": 0|1, "cmd": {key: "method?query"}}`; sub-calls run in the
/// order given.
///
/// # Panics
///
/// With more than [`MAX_BATCH`] commands or a key used twice: both are caller bugs
/// ([`super::Client::batch`] checks them and returns an error instead).
pub fn batch_request(commands: &[(String, Request)], halt: bool) -> Request {
    assert!(
        commands.len() <= MAX_BATCH,
        "a batch takes at most {MAX_BATCH} commands, got {}",
        commands.len()
    );
    let mut cmd = Map::new();
    for (key, request) in commands {
        let previous = cmd.insert(key.clone(), Value::String(request.to_batch_command()));
        assert!(previous.is_none(), "batch key {key:?} used twice");
    }
    Request::new(
        METHOD_BATCH,
        json!({"halt": u8::from(halt), "cmd": Value::Object(cmd)}),
    )
}

/// Appends `prefix=value` pairs for `value`, recursing into objects and lists with
/// `prefix[key]`.
fn push_pairs(prefix: &str, value: &Value, pairs: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => pairs.push(format!("{prefix}={}", u8::from(*b))),
        Value::Number(n) => pairs.push(format!("{prefix}={}", encode_component(&n.to_string()))),
        Value::String(s) => pairs.push(format!("{prefix}={}", encode_component(s))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                push_pairs(&format!("{prefix}[{i}]"), item, pairs);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                push_pairs(&format!("{prefix}[{}]", encode_component(key)), item, pairs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pay_system: u64, person_type: u64) -> Target {
        Target {
            pay_system,
            person_type,
        }
    }

    fn settings(entries: &[(&str, &str, &str)]) -> BTreeMap<String, (String, Redacted<String>)> {
        entries
            .iter()
            .map(|(code, source, value)| {
                (
                    (*code).to_owned(),
                    ((*source).to_owned(), Redacted::new((*value).to_owned())),
                )
            })
            .collect()
    }

    #[test]
    fn settings_get_always_sends_person_type() {
        let r = Request::settings_get(target(11, 0));
        assert_eq!(r.method, "sale.paysystem.settings.get");
        assert_eq!(r.params, json!({"ID": 11, "PERSON_TYPE_ID": 0}));
        let r = Request::settings_get(target(11, 3));
        assert_eq!(r.params, json!({"ID": 11, "PERSON_TYPE_ID": 3}));
    }

    #[test]
    fn live_validation_reads() {
        assert_eq!(
            Request::handler_list().method,
            "sale.paysystem.handler.list"
        );
        assert_eq!(Request::handler_list().params, json!({}));
        let r = Request::pay_system_list();
        assert_eq!(r.method, "sale.paysystem.list");
        assert_eq!(
            r.params["SELECT"],
            json!(["ID", "NAME", "ACTION_FILE", "XML_ID"])
        );
        let r = Request::person_type_list(50);
        assert_eq!(r.method, "sale.persontype.list");
        assert_eq!(r.params["start"], json!(50));
    }

    #[test]
    fn batch_references_are_recognised_in_any_case() {
        for text in [
            "$result[ps101_pt1]",
            "a $error[x][error] b",
            "$RESULT[k]",
            "$Error[k]",
            "$result[",
        ] {
            assert!(looks_like_batch_reference(text), "{text}");
        }
        for text in [
            "$result",
            "result[k]",
            "$ result[k]",
            "$errors[k]",
            "%24result[k]",
            "",
        ] {
            assert!(!looks_like_batch_reference(text), "{text}");
        }
    }

    #[test]
    fn settings_update_shape() {
        let s = settings(&[
            ("REST_SERVICE_KEY", "VALUE", "NEW_KEY"),
            ("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER"),
        ]);
        let r = Request::settings_update(target(11, 1), &s);
        assert_eq!(r.method, "sale.paysystem.settings.update");
        assert_eq!(
            r.params,
            json!({"ID": 11, "PERSON_TYPE_ID": 1, "SETTINGS": {
                "PAYMENT_ID": {"TYPE": "PAYMENT", "VALUE": "ACCOUNT_NUMBER"},
                "REST_SERVICE_KEY": {"TYPE": "VALUE", "VALUE": "NEW_KEY"}}})
        );
        // Key order is deterministic: ID, PERSON_TYPE_ID, SETTINGS; codes sorted.
        assert_eq!(
            serde_json::to_string(&r.params).unwrap(),
            r#"{"ID":11,"PERSON_TYPE_ID":1,"SETTINGS":{"PAYMENT_ID":{"TYPE":"PAYMENT","VALUE":"ACCOUNT_NUMBER"},"REST_SERVICE_KEY":{"TYPE":"VALUE","VALUE":"NEW_KEY"}}}"#
        );
    }

    #[test]
    fn settings_update_omits_person_type_zero() {
        let r = Request::settings_update(target(7, 0), &settings(&[("K", "VALUE", "v")]));
        assert_eq!(
            r.params,
            json!({"ID": 7, "SETTINGS": {"K": {"TYPE": "VALUE", "VALUE": "v"}}})
        );
        assert!(r.params.get("PERSON_TYPE_ID").is_none());
    }

    #[test]
    fn target_keys_are_distinct() {
        let a = target_key(Target {
            pay_system: 1,
            person_type: 12,
        });
        let b = target_key(Target {
            pay_system: 11,
            person_type: 2,
        });
        assert_ne!(a, b);
        assert_eq!(a, "ps1_pt12");
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let r = Request::settings_update(
            target(11, 1),
            &settings(&[("REST_SERVICE_KEY", "VALUE", "CANARYCODE123")]),
        );
        let text = format!("{r:?} {r:#?}");
        assert!(!text.contains("CANARYCODE123"), "{text}");
        assert!(text.contains("sale.paysystem.settings.update"), "{text}");
        assert!(text.contains("SETTINGS"), "{text}");
        let b = batch_request(&[("a".into(), r)], true);
        let text = format!("{b:?}");
        assert!(!text.contains("CANARYCODE123"), "{text}");
        assert_eq!(
            text,
            r#"Request { method: "batch", params: ["halt", "cmd"] }"#
        );
    }

    #[test]
    fn batch_command_matches_the_docs_example() {
        let r = Request::settings_update(
            target(11, 1),
            &settings(&[("REST_SERVICE_KEY", "VALUE", "NEW KEY")]),
        );
        assert_eq!(
            r.to_batch_command(),
            "sale.paysystem.settings.update?ID=11&PERSON_TYPE_ID=1\
             &SETTINGS[REST_SERVICE_KEY][TYPE]=VALUE&SETTINGS[REST_SERVICE_KEY][VALUE]=NEW%20KEY"
        );
    }

    #[test]
    fn batch_command_encodes_each_value_once() {
        let cases = [
            ("a b", "a%20b"),
            ("a&b=c", "a%26b%3Dc"),
            ("100%", "100%25"),
            ("#frag", "%23frag"),
            ("1+1", "1%2B1"),
            ("x[0]]", "x%5B0%5D%5D"),
            ("$result[a][ID]", "%24result%5Ba%5D%5BID%5D"),
            ("ключ", "%D0%BA%D0%BB%D1%8E%D1%87"),
            ("€/?:@", "%E2%82%AC%2F%3F%3A%40"),
            ("safe-._~AZaz09", "safe-._~AZaz09"),
            ("", ""),
        ];
        for (value, encoded) in cases {
            let r = Request::settings_update(target(5, 0), &settings(&[("K", "VALUE", value)]));
            assert_eq!(
                r.to_batch_command(),
                format!(
                    "sale.paysystem.settings.update?ID=5&SETTINGS[K][TYPE]=VALUE&SETTINGS[K][VALUE]={encoded}"
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn batch_command_nesting_like_http_build_query() {
        let r = Request::new(
            "sale.paysystem.list",
            json!({
                "SELECT": ["ID", "NAME"],
                "FILTER": {"=ACTION_FILE": "acme pay", "@ID": [1, 2]},
                "SKIP": null,
                "EMPTY": {},
                "FLAG": true,
                "OFF": false,
            }),
        );
        assert_eq!(
            r.to_batch_command(),
            "sale.paysystem.list?SELECT[0]=ID&SELECT[1]=NAME\
             &FILTER[%3DACTION_FILE]=acme%20pay&FILTER[%40ID][0]=1&FILTER[%40ID][1]=2\
             &FLAG=1&OFF=0"
        );
        assert_eq!(Request::new("scope", json!({})).to_batch_command(), "scope");
    }

    #[test]
    fn batch_request_shape() {
        let commands = vec![
            ("t11_1".to_owned(), Request::settings_get(target(11, 1))),
            ("t11_0".to_owned(), Request::settings_get(target(11, 0))),
        ];
        let b = batch_request(&commands, false);
        assert_eq!(b.method, "batch");
        assert_eq!(
            b.params,
            json!({"halt": 0, "cmd": {
                "t11_1": "sale.paysystem.settings.get?ID=11&PERSON_TYPE_ID=1",
                "t11_0": "sale.paysystem.settings.get?ID=11&PERSON_TYPE_ID=0"}})
        );
        // Sub-calls keep the order given.
        let keys: Vec<&String> = b.params["cmd"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["t11_1", "t11_0"]);
        assert_eq!(batch_request(&commands, true).params["halt"], json!(1));
    }

    #[test]
    fn batch_of_fifty_is_fine() {
        let commands: Vec<(String, Request)> = (0..MAX_BATCH as u64)
            .map(|i| (format!("k{i}"), Request::settings_get(target(i, 0))))
            .collect();
        let b = batch_request(&commands, false);
        assert_eq!(b.params["cmd"].as_object().unwrap().len(), MAX_BATCH);
    }

    #[test]
    #[should_panic(expected = "at most 50")]
    fn batch_of_fifty_one_panics() {
        let commands: Vec<(String, Request)> = (0..=MAX_BATCH as u64)
            .map(|i| (format!("k{i}"), Request::settings_get(target(i, 0))))
            .collect();
        batch_request(&commands, false);
    }

    #[test]
    #[should_panic(expected = "used twice")]
    fn batch_with_a_duplicate_key_panics() {
        let r = Request::settings_get(target(1, 0));
        batch_request(&[("a".into(), r.clone()), ("a".into(), r)], false);
    }
}

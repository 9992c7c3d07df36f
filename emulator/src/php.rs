//! PHP-compatible decoding and value semantics.
//!
//! Bitrix24 is a PHP application, so the emulator has to read requests the way PHP does:
//! `SETTINGS[CODE][TYPE]=VALUE` bracket notation (`parse_str` / `$_POST`), `a[]` appends,
//! sequential integer keys turn into lists, and scalars are compared loosely (`"11" == 11`).
//! This module owns those rules and nothing else: it never looks at Bitrix method names,
//! it does no I/O, and every function is total (bad input degrades, it never panics).

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

/// PHP's `max_input_nesting_level` default: deeper bracket names are dropped.
const MAX_NESTING: usize = 64;

/// A PHP array key: integer-looking strings become integers, as in PHP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PhpKey {
    Int(i64),
    Str(String),
}

impl PhpKey {
    fn parse(raw: &str) -> PhpKey {
        match canonical_int(raw) {
            Some(n) => PhpKey::Int(n),
            None => PhpKey::Str(raw.to_owned()),
        }
    }

    fn to_json_key(&self) -> String {
        match self {
            PhpKey::Int(n) => n.to_string(),
            PhpKey::Str(s) => s.clone(),
        }
    }
}

/// PHP treats a string key as an integer only in its canonical decimal form
/// (`"7"`, `"-3"`, not `"07"`, `"+7"` or `"-0"`).
fn canonical_int(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && raw != "-0";
    if canonical { raw.parse().ok() } else { None }
}

#[derive(Debug)]
enum PhpNode {
    Scalar(String),
    Array(PhpArray),
}

/// An ordered PHP array under construction.
#[derive(Debug, Default)]
struct PhpArray {
    entries: Vec<(PhpKey, PhpNode)>,
    index: HashMap<PhpKey, usize>,
    next_index: i64,
}

impl PhpArray {
    fn resolve_key(&mut self, key: Option<PhpKey>) -> PhpKey {
        key.unwrap_or(PhpKey::Int(self.next_index))
    }

    fn note_key(&mut self, key: &PhpKey) {
        if let PhpKey::Int(n) = key
            && *n >= self.next_index
        {
            self.next_index = n.saturating_add(1);
        }
    }

    fn set(&mut self, key: Option<PhpKey>, node: PhpNode) {
        let key = self.resolve_key(key);
        self.note_key(&key);
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = node,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, node));
            }
        }
    }

    /// The child array at `key`, created (or replacing a scalar, as PHP does) when needed.
    fn child_array(&mut self, key: Option<PhpKey>) -> &mut PhpArray {
        let key = self.resolve_key(key);
        let position = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.note_key(&key);
                self.index.insert(key.clone(), self.entries.len());
                self.entries
                    .push((key, PhpNode::Array(PhpArray::default())));
                self.entries.len() - 1
            }
        };
        let slot = &mut self.entries[position].1;
        if let PhpNode::Scalar(_) = slot {
            *slot = PhpNode::Array(PhpArray::default());
        }
        match slot {
            PhpNode::Array(array) => array,
            PhpNode::Scalar(_) => unreachable!("the slot was just made an array"),
        }
    }

    fn into_value(self) -> Value {
        let is_list = self
            .entries
            .iter()
            .enumerate()
            .all(|(i, (k, _))| *k == PhpKey::Int(i as i64));
        if is_list && !self.entries.is_empty() {
            Value::Array(
                self.entries
                    .into_iter()
                    .map(|(_, n)| n.into_value())
                    .collect(),
            )
        } else {
            Value::Object(self.into_map())
        }
    }

    fn into_map(self) -> Map<String, Value> {
        self.entries
            .into_iter()
            .map(|(k, n)| (k.to_json_key(), n.into_value()))
            .collect()
    }
}

impl PhpNode {
    fn into_value(self) -> Value {
        match self {
            PhpNode::Scalar(s) => Value::String(s),
            PhpNode::Array(a) => a.into_value(),
        }
    }
}

/// Builds PHP's `$_GET`/`$_POST` from `name=value` pairs in arrival order.
#[derive(Debug, Default)]
pub(crate) struct PhpParams {
    root: PhpArray,
}

impl PhpParams {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Registers one variable the way `php_register_variable_ex` does.
    pub(crate) fn insert(&mut self, name: &str, value: String) {
        let Some((base, segments)) = split_name(name) else {
            return;
        };
        if segments.len() > MAX_NESTING {
            return;
        }
        let mut current = &mut self.root;
        let base_key = Some(PhpKey::parse(&base));
        if segments.is_empty() {
            current.set(base_key, PhpNode::Scalar(value));
            return;
        }
        current = current.child_array(base_key);
        let last = segments.len() - 1;
        for (i, segment) in segments.into_iter().enumerate() {
            let key = segment.map(|s| PhpKey::parse(&s));
            if i == last {
                current.set(key, PhpNode::Scalar(value));
                return;
            }
            current = current.child_array(key);
        }
    }

    /// The decoded top-level map (PHP's superglobal is always an associative array).
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.root.into_map()
    }
}

/// Splits `a[b][][c]` into the base name and its index segments (`None` for `[]`).
/// Returns `None` when PHP would drop the variable (empty base name).
fn split_name(name: &str) -> Option<(String, Vec<Option<String>>)> {
    let name = name.trim_start_matches(' ');
    let (raw_base, mut rest) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    if raw_base.is_empty() {
        return None;
    }
    // PHP mangles spaces and dots in the top-level name into underscores.
    let mut base: String = raw_base
        .chars()
        .map(|c| if c == ' ' || c == '.' { '_' } else { c })
        .collect();
    let mut segments = Vec::new();
    while let Some(after_open) = rest.strip_prefix('[') {
        match after_open.find(']') {
            Some(close) => {
                let inner = &after_open[..close];
                segments.push(if inner.is_empty() {
                    None
                } else {
                    Some(inner.to_owned())
                });
                rest = &after_open[close + 1..];
            }
            None => {
                if segments.is_empty() {
                    // An unterminated first bracket: PHP turns it into '_' and keeps the rest.
                    base.push('_');
                    base.push_str(after_open);
                }
                break;
            }
        }
    }
    Some((base, segments))
}

/// Decodes an `application/x-www-form-urlencoded` string (or a URL query) into PHP params.
pub(crate) fn parse_query(input: &str) -> Map<String, Value> {
    let mut params = PhpParams::new();
    for (name, value) in form_urlencoded::parse(input.as_bytes()) {
        params.insert(&name, value.into_owned());
    }
    params.into_map()
}

/// `array_merge`-style override of top-level keys (later sources win).
pub(crate) fn merge_top(base: &mut Map<String, Value>, overrides: Map<String, Value>) {
    for (k, v) in overrides {
        base.insert(k, v);
    }
}

/// Upper-cases object keys: recursively (`sale.paysystem.*`, through lists too) or only
/// at the top level (`sale.paysystem.handler.*`). On a collision the later value wins and
/// keeps the first key's position, as `array_change_key_case` does.
pub(crate) fn upper_keys(map: &Map<String, Value>, recursive: bool) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let v = if recursive {
                upper_keys_deep(v)
            } else {
                v.clone()
            };
            (k.to_ascii_uppercase(), v)
        })
        .collect()
}

fn upper_keys_deep(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(upper_keys(map, true)),
        Value::Array(items) => Value::Array(items.iter().map(upper_keys_deep).collect()),
        other => other.clone(),
    }
}

/// PHP `json_encode` writes every empty array, list or map, as `[]`.
pub(crate) fn php_output(value: Value) -> Value {
    match value {
        Value::Object(map) if map.is_empty() => Value::Array(Vec::new()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, php_output(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(php_output).collect()),
        other => other,
    }
}

/// PHP `json_encode` of an array whose keys are exactly 0..n-1 is a list.
pub(crate) fn php_list_if_sequential(map: Map<String, Value>) -> Value {
    let sequential = !map.is_empty()
        && map
            .keys()
            .enumerate()
            .all(|(i, k)| canonical_int(k) == Some(i as i64));
    if sequential {
        Value::Array(map.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(map)
    }
}

/// PHP `isset()`: present and not null.
pub(crate) fn isset(value: Option<&Value>) -> bool {
    value.is_some_and(|v| !v.is_null())
}

/// PHP `empty()`.
pub(crate) fn empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty() || s == "0",
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// PHP truthiness (`(bool)$value`).
pub(crate) fn truthy(value: Option<&Value>) -> bool {
    !empty(value)
}

/// PHP `(int)$value`; `None` for a missing or null value.
pub(crate) fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Null => None,
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => Some(intval_str(s)),
        Value::Array(a) => Some(i64::from(!a.is_empty())),
        Value::Object(o) => Some(i64::from(!o.is_empty())),
    }
}

/// `intval("  42abc") == 42`, `intval("abc") == 0`.
fn intval_str(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative { -n } else { n }
}

/// An ID as PHP would look it up: `(int)` and only positive values can exist.
pub(crate) fn id(value: Option<&Value>) -> Option<u64> {
    int(value)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// PHP string conversion as it happens when a value is written to a database column.
pub(crate) fn string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(true) => Some("1".to_owned()),
        Value::Bool(false) => Some(String::new()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => Some("Array".to_owned()),
    }
}

/// The scalar items of a PHP array (list values or map values), in order.
pub(crate) fn array_values(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Loose SQL-like comparison: numerically when both sides are numeric, otherwise as
/// case-insensitive strings (MySQL's default collation). `NULL` sorts first.
pub(crate) fn loose_cmp(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (false, false) => {}
    }
    if let (Some(x), Some(y)) = (numeric(a), numeric(b)) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    let x = string(a).unwrap_or_default().to_lowercase();
    let y = string(b).unwrap_or_default().to_lowercase();
    x.cmp(&y)
}

/// Loose equality used by list filters; `NULL` equals `NULL` and the empty string.
pub(crate) fn loose_eq(field: &Value, wanted: &Value) -> bool {
    let blank = |v: &Value| v.is_null() || v.as_str() == Some("");
    if blank(field) || blank(wanted) {
        return blank(field) && blank(wanted);
    }
    loose_cmp(field, wanted) == Ordering::Equal
}

/// SQL `LIKE` with `%` and `_` wildcards, case-insensitive.
pub(crate) fn sql_like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&t, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracket_notation_builds_nested_maps_and_lists() {
        let got = parse_query(
            "ID=11&SETTINGS[REST_SERVICE_KEY][TYPE]=VALUE&SETTINGS[REST_SERVICE_KEY][VALUE]=NEW%20KEY\
             &SELECT[]=ID&SELECT[]=NAME&ORDER[0]=x&plain=a+b",
        );
        assert_eq!(
            Value::Object(got),
            json!({
                "ID": "11",
                "SETTINGS": {"REST_SERVICE_KEY": {"TYPE": "VALUE", "VALUE": "NEW KEY"}},
                "SELECT": ["ID", "NAME"],
                "ORDER": ["x"],
                "plain": "a b"
            })
        );
    }

    #[test]
    fn php_name_mangling_and_overwrites() {
        let got = parse_query("a.b=1&c=1&c[x]=2&d[x]=1&d=2&[e]=3&f[=4&g[1]=a&g[]=b&h[x]]=5");
        assert_eq!(
            Value::Object(got),
            json!({"a_b": "1", "c": {"x": "2"}, "d": "2", "f_": "4", "g": {"1": "a", "2": "b"}, "h": {"x": "5"}})
        );
    }

    #[test]
    fn too_deep_names_are_dropped() {
        let name = format!("a{}", "[x]".repeat(MAX_NESTING + 1));
        assert!(parse_query(&format!("{name}=1")).is_empty());
    }

    #[test]
    fn intval_and_empty_follow_php() {
        assert_eq!(int(Some(&json!("  42abc"))), Some(42));
        assert_eq!(int(Some(&json!("abc"))), Some(0));
        assert_eq!(int(Some(&json!(11.9))), Some(11));
        assert_eq!(int(Some(&Value::Null)), None);
        assert!(empty(Some(&json!("0"))));
        assert!(!empty(Some(&json!("false"))));
        assert!(truthy(Some(&json!("false"))));
        assert!(empty(Some(&json!({}))));
    }

    #[test]
    fn empty_maps_serialise_as_lists() {
        assert_eq!(
            php_output(json!({"a": {}, "b": [{}]})),
            json!({"a": [], "b": [[]]})
        );
    }

    #[test]
    fn upper_casing_reaches_objects_inside_lists() {
        let map = match json!({"a": [[{"b": 1}]], "c": {"d": 2}}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert_eq!(
            Value::Object(upper_keys(&map, true)),
            json!({"A": [[{"B": 1}]], "C": {"D": 2}})
        );
        assert_eq!(
            Value::Object(upper_keys(&map, false)),
            json!({"A": [[{"b": 1}]], "C": {"d": 2}})
        );
    }

    #[test]
    fn like_patterns() {
        assert!(sql_like("AcmePay", "acme%"));
        assert!(sql_like("acme", "a_me"));
        assert!(!sql_like("acme", "b%"));
    }
}

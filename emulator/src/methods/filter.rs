//! List filtering and ordering shared by `sale.paysystem.list` and `sale.persontype.list`:
//! Bitrix ORM filter keys with operator prefixes (`=`, `!=`, `>`, `@`, `%`, ...) and
//! `field → ASC|DESC` ordering, evaluated over rows held as JSON maps.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::php;

/// A filter operator (`CSqlUtil::GetFilterOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Contains,
    NotContains,
    Like,
    NotLike,
    Between,
    NotBetween,
}

/// Longest prefixes first, so `!=%` is not read as `!=`.
const PREFIXES: &[(&str, Op)] = &[
    ("!><", Op::NotBetween),
    ("!=%", Op::NotLike),
    ("!%=", Op::NotLike),
    ("!@", Op::NotIn),
    ("!=", Op::NotEq),
    ("!%", Op::NotContains),
    ("><", Op::Between),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("=%", Op::Like),
    ("%=", Op::Like),
    ("!", Op::NotEq),
    ("@", Op::In),
    ("%", Op::Contains),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("=", Op::Eq),
];

/// One `FILTER` entry: operator, field name and wanted value.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    op: Op,
    pub(super) field: String,
    value: Value,
}

impl Condition {
    pub(super) fn parse(key: &str, value: &Value) -> Condition {
        let (op, field) = PREFIXES
            .iter()
            .find_map(|(prefix, op)| key.strip_prefix(prefix).map(|rest| (*op, rest)))
            .unwrap_or((Op::Eq, key));
        Condition {
            op,
            field: field.trim().to_owned(),
            value: value.clone(),
        }
    }

    /// Renames the field (used for the `TARIFF` alias).
    pub(super) fn rename(&mut self, field: &str) {
        self.field = field.to_owned();
    }

    pub(super) fn matches(&self, row: &Map<String, Value>) -> bool {
        let actual = row.get(&self.field).unwrap_or(&Value::Null);
        let wanted: Vec<&Value> = match &self.value {
            Value::Array(_) | Value::Object(_) => php::array_values(&self.value),
            scalar => vec![scalar],
        };
        let any = |f: &dyn Fn(&Value) -> bool| wanted.iter().any(|w| f(w));
        let ordered = |w: &Value, accept: fn(Ordering) -> bool| {
            !actual.is_null() && accept(php::loose_cmp(actual, w))
        };
        let text = php::string(actual).unwrap_or_default().to_lowercase();
        match self.op {
            Op::Eq | Op::In => any(&|w| php::loose_eq(actual, w)),
            Op::NotEq | Op::NotIn => !any(&|w| php::loose_eq(actual, w)),
            Op::Gt => any(&|w| ordered(w, Ordering::is_gt)),
            Op::Ge => any(&|w| ordered(w, Ordering::is_ge)),
            Op::Lt => any(&|w| ordered(w, Ordering::is_lt)),
            Op::Le => any(&|w| ordered(w, Ordering::is_le)),
            Op::Contains => {
                any(&|w| text.contains(&php::string(w).unwrap_or_default().to_lowercase()))
            }
            Op::NotContains => {
                !any(&|w| text.contains(&php::string(w).unwrap_or_default().to_lowercase()))
            }
            Op::Like => any(&|w| php::sql_like(&text, &php::string(w).unwrap_or_default())),
            Op::NotLike => !any(&|w| php::sql_like(&text, &php::string(w).unwrap_or_default())),
            Op::Between | Op::NotBetween => {
                let inside = match wanted.as_slice() {
                    [low, high] => ordered(low, Ordering::is_ge) && ordered(high, Ordering::is_le),
                    _ => false,
                };
                inside == (self.op == Op::Between)
            }
        }
    }
}

/// Sorts rows by `(field, descending)` keys, then by `tiebreak` ascending.
pub(super) fn sort_rows(rows: &mut [Map<String, Value>], order: &[(String, bool)], tiebreak: &str) {
    rows.sort_by(|a, b| {
        let null = Value::Null;
        for (field, descending) in order {
            let x = a.get(field).unwrap_or(&null);
            let y = b.get(field).unwrap_or(&null);
            let ord = php::loose_cmp(x, y);
            if ord != Ordering::Equal {
                return if *descending { ord.reverse() } else { ord };
            }
        }
        php::loose_cmp(
            a.get(tiebreak).unwrap_or(&null),
            b.get(tiebreak).unwrap_or(&null),
        )
    });
}

/// `"DESC"` (any case) sorts descending; anything else ascending.
pub(super) fn is_descending(direction: &Value) -> bool {
    php::string(direction).is_some_and(|d| d.trim().eq_ignore_ascii_case("desc"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Map<String, Value> {
        match json!({"ID": 11, "ACTION_FILE": "acmepay", "SORT": 100, "XML_ID": null}) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn operators() {
        let r = row();
        let check = |k: &str, v: Value| Condition::parse(k, &v).matches(&r);
        assert!(check("=ACTION_FILE", json!("ACMEPAY")));
        assert!(check("ACTION_FILE", json!(["cash", "acmepay"])));
        assert!(!check("!ACTION_FILE", json!("acmepay")));
        assert!(check(">=SORT", json!("100")));
        assert!(!check(">SORT", json!(100)));
        assert!(check("@ID", json!(["11", "12"])));
        assert!(check("!@ID", json!([1])));
        assert!(check("%ACTION_FILE", json!("mep")));
        assert!(check("=%ACTION_FILE", json!("acme%")));
        assert!(check("!=%ACTION_FILE", json!("cash%")));
        assert!(check("><ID", json!([10, 12])));
        assert!(check("XML_ID", json!("")));
        assert!(!check("XML_ID", json!("x")));
    }
}

//! [`Codes`]: values by setting code, held compactly (issue 22.2) — the settings the
//! state records for a target, and those the portal returns for one. A `BTreeMap` per
//! target of one code is a tree node with room for eleven entries, most of it empty, and
//! every code in its own heap allocation; here a target's codes are one sorted list of
//! inline strings ([`CompactString`]: up to 24 bytes without an allocation). Lookups are
//! binary searches. No I/O, no other module of paysync.

use std::fmt;

pub use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Values by setting code: sorted by code, each code once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codes<V>(Vec<(CompactString, V)>);

impl<V> Default for Codes<V> {
    fn default() -> Self {
        Codes(Vec::new())
    }
}

impl<V> Codes<V> {
    /// Empty, with room for `capacity` codes.
    pub fn with_capacity(capacity: usize) -> Self {
        Codes(Vec::with_capacity(capacity))
    }

    fn position(&self, code: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(c, _)| c.as_str().cmp(code))
    }

    /// The value recorded for `code`.
    pub fn get(&self, code: &str) -> Option<&V> {
        self.position(code).ok().map(|i| &self.0[i].1)
    }

    /// Whether `code` has a value.
    pub fn contains_key(&self, code: &str) -> bool {
        self.position(code).is_ok()
    }

    /// Sets `value` for `code`, returning the value it replaces.
    pub fn insert(&mut self, code: impl Into<CompactString> + AsRef<str>, value: V) -> Option<V> {
        match self.position(code.as_ref()) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (code.into(), value));
                None
            }
        }
    }

    /// Removes `code`, returning its value.
    pub fn remove(&mut self, code: &str) -> Option<V> {
        self.position(code).ok().map(|i| self.0.remove(i).1)
    }

    /// The codes and values, sorted by code.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &V)> {
        self.into_iter()
    }

    /// The codes and values, sorted by code, the values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut V)> {
        self.0.iter_mut().map(|(c, v)| (c.as_str(), v))
    }

    /// The codes, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(c, _)| c.as_str())
    }

    /// The values, in the order of their codes.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Room for `additional` more codes, and no more.
    pub fn reserve_exact(&mut self, additional: usize) {
        self.0.reserve_exact(additional);
    }

    /// Gives back the room no code uses.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<CompactString>, V> FromIterator<(K, V)> for Codes<V> {
    /// Sorted by code; of a code given twice the last value counts (as a map's insert).
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut list: Vec<(CompactString, V)> =
            iter.into_iter().map(|(c, v)| (c.into(), v)).collect();
        // Stable: of equal codes, the later stays after the earlier; keep the later.
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(CompactString, V)> = Vec::with_capacity(list.len());
        for (code, value) in list {
            match deduped.last_mut() {
                Some(last) if last.0 == code => last.1 = value,
                _ => deduped.push((code, value)),
            }
        }
        deduped.shrink_to_fit();
        Codes(deduped)
    }
}

impl<K: Into<CompactString>, V, const N: usize> From<[(K, V); N]> for Codes<V> {
    fn from(list: [(K, V); N]) -> Self {
        list.into_iter().collect()
    }
}

/// An entry as [`Codes::iter`] gives it.
type Entry<'a, V> = (&'a str, &'a V);

impl<'a, V> IntoIterator for &'a Codes<V> {
    type Item = Entry<'a, V>;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (CompactString, V)>,
        fn(&'a (CompactString, V)) -> Entry<'a, V>,
    >;

    /// Without an allocation: a loop over every target's settings runs once per target.
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(c, v)| (c.as_str(), v))
    }
}

impl<V> std::ops::Index<&str> for Codes<V> {
    type Output = V;

    fn index(&self, code: &str) -> &V {
        self.get(code)
            .unwrap_or_else(|| panic!("no recorded code {code:?}"))
    }
}

impl<V: Serialize> Serialize for Codes<V> {
    /// A JSON object of code to value, as a map of them would be.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (code, value) in &self.0 {
            map.serialize_entry(code.as_str(), value)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Codes<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Settings<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Settings<V> {
            type Value = Codes<V>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of setting codes to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some(entry) = map.next_entry::<CompactString, V>()? {
                    list.push(entry);
                }
                Ok(list.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Settings(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_behave_as_a_sorted_map() {
        let mut s: Codes<u32> = [("B", 1), ("A", 2), ("B", 3)].into_iter().collect();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(s.get("B"), Some(&3), "the later of a code given twice");
        assert_eq!(s.insert("C", 4), None);
        assert_eq!(s.insert("A", 5), Some(2));
        assert_eq!(s.remove("B"), Some(3));
        assert_eq!(s.keys().collect::<Vec<_>>(), ["A", "C"]);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"A":5,"C":4}"#);
        let back: Codes<u32> = serde_json::from_str(r#"{"C":4,"A":5}"#).unwrap();
        assert_eq!(back, s);
    }
}

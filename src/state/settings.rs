//! [`RecordedValue`] and [`RecordedSettings`]: the settings the state records for one target, held compactly
//! (issue 22.2). A state of 200,000 targets of one code held each target's settings in a
//! `BTreeMap` — a tree node with room for eleven entries per target, most of it empty —
//! and every code, source and value in its own heap allocation. Here a target's settings
//! are one sorted list, and codes, sources and short values are kept inline
//! ([`CompactString`]: up to 24 bytes without an allocation). Lookups are binary searches.

use std::fmt;

use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fingerprint::Fingerprint;
use crate::secrets::SecretRef;

/// A recorded (last-applied) setting value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawRecordedValue")]
pub enum RecordedValue {
    /// A secret: its reference as written (`env:NAME`, `file:PATH`) and its fingerprint,
    /// `None` when not known (the next apply writes it).
    Secret {
        #[serde(rename = "type")]
        source: CompactString,
        /// Read and written by the one reference grammar: a state that records a
        /// reference paysync cannot read is refused when it is loaded, naming it. Boxed:
        /// most recorded values are plain, and a reference inline would make every one
        /// of them larger (issue 22.2).
        #[serde(serialize_with = "crate::secrets::as_text::serialize")]
        secret: Box<SecretRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<Fingerprint>,
    },
    /// A literal value or a field source. Inline up to 24 bytes ([`CompactString`]).
    Plain {
        #[serde(rename = "type")]
        source: CompactString,
        value: CompactString,
    },
}

/// [`RecordedValue`] as read, its reference still text: parsed by [`TryFrom`], so that a
/// reference paysync cannot read is named in the error (an untagged enum would only say
/// that no variant matched).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRecordedValue {
    Secret {
        #[serde(rename = "type")]
        source: CompactString,
        secret: CompactString,
        #[serde(default)]
        fingerprint: Option<Fingerprint>,
    },
    Plain {
        #[serde(rename = "type")]
        source: CompactString,
        value: CompactString,
    },
}

impl TryFrom<RawRecordedValue> for RecordedValue {
    type Error = crate::secrets::SecretRefError;

    fn try_from(raw: RawRecordedValue) -> Result<Self, Self::Error> {
        Ok(match raw {
            RawRecordedValue::Secret {
                source,
                secret,
                fingerprint,
            } => RecordedValue::Secret {
                source,
                secret: Box::new(secret.parse()?),
                fingerprint,
            },
            RawRecordedValue::Plain { source, value } => RecordedValue::Plain { source, value },
        })
    }
}

/// One target's recorded settings: sorted by code, each code once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedSettings(Vec<(CompactString, RecordedValue)>);

impl RecordedSettings {
    fn position(&self, code: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(c, _)| c.as_str().cmp(code))
    }

    /// The value recorded for `code`.
    pub fn get(&self, code: &str) -> Option<&RecordedValue> {
        self.position(code).ok().map(|i| &self.0[i].1)
    }

    /// Whether `code` is recorded.
    pub fn contains_key(&self, code: &str) -> bool {
        self.position(code).is_ok()
    }

    /// Records `value` for `code`, returning the value it replaces.
    pub fn insert(
        &mut self,
        code: impl Into<CompactString> + AsRef<str>,
        value: RecordedValue,
    ) -> Option<RecordedValue> {
        match self.position(code.as_ref()) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (code.into(), value));
                None
            }
        }
    }

    /// Forgets `code`, returning what was recorded for it.
    pub fn remove(&mut self, code: &str) -> Option<RecordedValue> {
        self.position(code).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps only the codes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut RecordedValue) -> bool) {
        self.0.retain_mut(|(c, v)| keep(c, v));
    }

    /// The codes and values, sorted by code.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &RecordedValue)> {
        self.0.iter().map(|(c, v)| (c.as_str(), v))
    }

    /// The codes and values, sorted by code, the values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut RecordedValue)> {
        self.0.iter_mut().map(|(c, v)| (c.as_str(), v))
    }

    /// The codes, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(c, _)| c.as_str())
    }

    /// The values, in the order of their codes.
    pub fn values(&self) -> impl Iterator<Item = &RecordedValue> {
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

impl<K: Into<CompactString>> FromIterator<(K, RecordedValue)> for RecordedSettings {
    /// Sorted by code; of a code given twice the last value counts (as a map's insert).
    fn from_iter<I: IntoIterator<Item = (K, RecordedValue)>>(iter: I) -> Self {
        let mut list: Vec<(CompactString, RecordedValue)> =
            iter.into_iter().map(|(c, v)| (c.into(), v)).collect();
        // Stable: of equal codes, the later stays after the earlier; keep the later.
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(CompactString, RecordedValue)> = Vec::with_capacity(list.len());
        for (code, value) in list {
            match deduped.last_mut() {
                Some(last) if last.0 == code => last.1 = value,
                _ => deduped.push((code, value)),
            }
        }
        deduped.shrink_to_fit();
        RecordedSettings(deduped)
    }
}

impl<K: Into<CompactString>, const N: usize> From<[(K, RecordedValue); N]> for RecordedSettings {
    fn from(list: [(K, RecordedValue); N]) -> Self {
        list.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a RecordedSettings {
    type Item = (&'a str, &'a RecordedValue);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a RecordedValue)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl std::ops::Index<&str> for RecordedSettings {
    type Output = RecordedValue;

    fn index(&self, code: &str) -> &RecordedValue {
        self.get(code)
            .unwrap_or_else(|| panic!("no recorded code {code:?}"))
    }
}

impl Serialize for RecordedSettings {
    /// A JSON object of code to value, as a map of them would be.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (code, value) in &self.0 {
            map.serialize_entry(code.as_str(), value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RecordedSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Settings;
        impl<'de> Visitor<'de> for Settings {
            type Value = RecordedSettings;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of codes to recorded values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some(entry) = map.next_entry::<CompactString, RecordedValue>()? {
                    list.push(entry);
                }
                Ok(list.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: &str) -> RecordedValue {
        RecordedValue::Plain {
            source: "VALUE".into(),
            value: v.into(),
        }
    }

    #[test]
    fn recorded_settings_behave_as_a_sorted_map() {
        let mut s: RecordedSettings = [("B", plain("1")), ("A", plain("2")), ("B", plain("3"))]
            .into_iter()
            .collect();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(
            s.get("B"),
            Some(&plain("3")),
            "the later of a code given twice"
        );
        assert_eq!(s.insert("C", plain("4")), None);
        assert_eq!(s.insert("A", plain("5")), Some(plain("2")));
        assert_eq!(s.remove("B"), Some(plain("3")));
        assert_eq!(s.keys().collect::<Vec<_>>(), ["A", "C"]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"A":{"type":"VALUE","value":"5"},"C":{"type":"VALUE","value":"4"}}"#
        );
        let back: RecordedSettings = serde_json::from_str(
            r#"{"C":{"type":"VALUE","value":"4"},"A":{"type":"VALUE","value":"5"}}"#,
        )
        .unwrap();
        assert_eq!(back, s);
    }
}

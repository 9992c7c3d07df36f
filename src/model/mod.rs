//! The validated domain model that every later stage works on.
//!
//! Manifests are parsed and validated into [`Desired`]; the state file is read into
//! [`crate::state::LastApplied`]; the portal is observed into [`Live`]. The planner
//! compares the three. Nothing in this module does I/O.

mod basics;
pub mod objects;

pub use basics::{Location, Origin, PersonTypeRef};

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::{Codes, CompactString};
use crate::secrets::{Redacted, SecretRef};

/// One pay system × one payer type: the unit a manifest document declares and the unit
/// of one `sale.paysystem.settings.update` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Pay system ID (`sale.paysystem.list`).
    #[serde(rename = "paySystem")]
    pub pay_system: u64,
    /// Payer type ID (`sale.persontype.list`); 0 means the pay system's default settings.
    #[serde(rename = "personType")]
    pub person_type: u64,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "paySystem {} / personType {}",
            self.pay_system, self.person_type
        )
    }
}

impl Target {
    /// The tracing span of work on this target (apply, refresh): every event logged
    /// inside it carries `pay_system` and `person_type`. At WARN level, so that it is
    /// enabled at the default log level (warnings) and a target's warning names it.
    pub fn span(self) -> tracing::Span {
        tracing::warn_span!(
            "target",
            pay_system = self.pay_system,
            person_type = self.person_type
        )
    }
}

/// The value source of a setting (Bitrix24's `TYPE`): `VALUE` for literals, or a field
/// source such as `PAYMENT`, `ORDER`, `USER`, `PROPERTY`.
pub const SOURCE_VALUE: &str = "VALUE";

/// A setting's value as declared: a literal string or a reference to a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Plain(CompactString),
    /// Boxed: a reference is about 70 bytes, and most settings are plain (issue 22).
    Secret(Box<SecretRef>),
}

/// One declared setting: `{type, value}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Bitrix24 `TYPE` (value source), upper-case, `VALUE` by default. Codes, sources
    /// and values are inline strings: most fit in 24 bytes, and a million settings held
    /// one allocation each for them (issue 22).
    pub source: CompactString,
    pub value: SettingValue,
}

/// The settings one manifest document declares for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTarget {
    /// The target; for a target named by reference, set when the reference is resolved.
    pub target: Target,
    /// How the manifest names the target, when not by IDs alone. Boxed: most targets
    /// are named by IDs, and the reference inline is about 50 bytes each (issue 13).
    pub reference: Option<Box<TargetRef>>,
    /// Where the document starts.
    pub origin: Origin,
    /// Setting code (upper-case) → declared setting, and where it is declared (with
    /// overlays, the source that set it).
    pub settings: SettingMap,
    /// Codes an overlay removes (`CODE: { remove: true }`) → where; empty once the
    /// sources are merged.
    pub removed: BTreeMap<String, Origin>,
}

impl DesiredTarget {
    /// Where `code` is declared.
    pub fn origin_of(&self, code: &str) -> Option<&Origin> {
        self.settings.origin_of(code)
    }
}

/// Everything the manifests declare, keyed by target (each target declared once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    pub targets: BTreeMap<Target, Box<DesiredTarget>>,
    /// Targets named by reference and not resolved yet ([`Desired::resolve`]), in the
    /// order declared.
    pub pending: Vec<DesiredTarget>,
    /// The handlers and pay systems the manifests declare (issue 24).
    pub objects: objects::DesiredObjects,
}

impl Desired {
    /// Where the manifests reference each secret: `file:line` of every setting naming it,
    /// in the manifests' order.
    pub fn secret_places(&self) -> BTreeMap<SecretRef, Vec<String>> {
        let mut places: BTreeMap<SecretRef, Vec<String>> = BTreeMap::new();
        for t in self.targets.values().map(|t| &**t).chain(&self.pending) {
            for (code, setting) in t.settings.iter() {
                if let SettingValue::Secret(r) = &setting.value {
                    let at = t
                        .origin_of(code)
                        .map(|o| format!("{}:{}", o.file.display(), o.line))
                        .unwrap_or_default();
                    places.entry(SecretRef::clone(r)).or_default().push(at);
                }
            }
        }
        for list in places.values_mut() {
            list.retain(|p| !p.is_empty());
            list.sort();
            list.dedup();
        }
        places
    }

    /// Every secret reference the manifests declare, each once.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        // Pending targets too: a pay system this apply creates has its settings written
        // in the same run.
        let refs: std::collections::BTreeSet<&SecretRef> = self
            .targets
            .values()
            .map(|t| &**t)
            .chain(&self.pending)
            .flat_map(|t| t.settings.values())
            .filter_map(|s| match &s.value {
                SettingValue::Secret(r) => Some(&**r),
                SettingValue::Plain(_) => None,
            })
            .collect();
        refs.into_iter().collect()
    }

    /// The value this run read for the secret the manifests declare at `target`/`code`,
    /// if it is still the one recorded (`recorded`, the same reference as written).
    pub fn secret_value<'a>(
        &self,
        target: Target,
        code: &str,
        recorded: &SecretRef,
        values: &'a BTreeMap<SecretRef, Redacted<String>>,
    ) -> Option<&'a Redacted<String>> {
        let setting = self.targets.get(&target)?.settings.get(code)?;
        match &setting.value {
            SettingValue::Secret(r) if r.same_as_written(recorded) => values.get(r),
            _ => None,
        }
    }
}

/// A setting as the portal reports it through `sale.paysystem.settings.get`.
///
/// The documented response maps codes to plain strings, the platform source to
/// `{TYPE, VALUE}` objects (bitrix24-api.md §5.9); with the string shape the source is
/// unknown and only the value can be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSetting {
    /// `TYPE`; `None` when unset or when the portal used the plain-string shape. Inline
    /// up to 24 bytes, like the value: a refresh may read a million of them (issue 22.2).
    pub source: Option<CompactString>,
    /// `VALUE`; `None` when unset.
    pub value: Option<CompactString>,
    /// False when the portal answered with the plain-string shape (no TYPE known).
    pub source_known: bool,
}

/// What the portal reported for each target that was read (`--refresh`).
/// A code missing from a target's map was not returned by the portal at all
/// (its handler does not declare it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Live {
    pub targets: BTreeMap<Target, LiveSettings>,
}

/// The settings the portal returned for one target, by code.
pub type LiveSettings = Codes<LiveSetting>;

/// Names of pay systems and payer types, by ID, as the portal gave them (untrusted text:
/// escaped by every renderer).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Names {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pay_systems: BTreeMap<u64, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub person_types: BTreeMap<u64, String>,
}

impl Names {
    pub fn pay_system(&self, id: u64) -> Option<&str> {
        self.pay_systems.get(&id).map(String::as_str)
    }

    pub fn person_type(&self, id: u64) -> Option<&str> {
        self.person_types.get(&id).map(String::as_str)
    }

    /// Adds `other`'s names where this has none.
    pub fn fill_from(&mut self, other: &Names) {
        for (id, name) in &other.pay_systems {
            self.pay_systems.entry(*id).or_insert_with(|| name.clone());
        }
        for (id, name) in &other.person_types {
            self.person_types.entry(*id).or_insert_with(|| name.clone());
        }
    }
}

/// A pay system as a manifest names it: by ID, or portably by `XML_ID`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaySystemRef {
    Id(u64),
    XmlId(String),
}

/// A target named portably (at least one side is not an ID), resolved against the portal
/// ([`crate::live::Catalog::resolve`]) or through the state's record of an earlier
/// resolution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    pub pay_system: PaySystemRef,
    pub person_type: PersonTypeRef,
}

impl fmt::Display for TargetRef {
    /// `xmlId:acme_card/1`, `xmlId:acme_card/xmlId:fiz`, `11/code:fiz`: the form
    /// `--target` takes and the state records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pay_system {
            PaySystemRef::Id(id) => write!(f, "{id}/")?,
            PaySystemRef::XmlId(x) => write!(f, "xmlId:{x}/")?,
        }
        match &self.person_type {
            PersonTypeRef::Id(id) => write!(f, "{id}"),
            PersonTypeRef::XmlId(x) => write!(f, "xmlId:{x}"),
            PersonTypeRef::Code(c) => write!(f, "code:{c}"),
            PersonTypeRef::Either(s) => write!(f, "{s}"),
        }
    }
}

impl TargetRef {
    /// The target, when both sides are IDs.
    pub fn ids(&self) -> Option<Target> {
        match (&self.pay_system, &self.person_type) {
            (PaySystemRef::Id(pay_system), PersonTypeRef::Id(person_type)) => Some(Target {
                pay_system: *pay_system,
                person_type: *person_type,
            }),
            _ => None,
        }
    }

    /// Parses `--target`: `11:1`, `11/1`, `xmlId:acme_card/fiz`, `xmlId:acme_card/1`,
    /// `xmlId:acme_card/default`, `11/code:fiz`, `xmlId:acme/xmlId:fiz`.
    pub fn parse(text: &str) -> Result<TargetRef, String> {
        let bad = || {
            format!(
                "expected PAY_SYSTEM:PERSON_TYPE (`11:1`) or a reference such as \
                 `xmlId:acme_card/1` or `xmlId:acme_card/fiz`, got {text:?}"
            )
        };
        let (ps, pt) = if let Some((ps, pt)) = text.split_once('/') {
            (ps, pt)
        } else {
            text.split_once(':')
                .filter(|(ps, _)| ps.parse::<u64>().is_ok())
                .ok_or_else(bad)?
        };
        let pay_system = match ps.strip_prefix("xmlId:") {
            Some(x) if !x.is_empty() => PaySystemRef::XmlId(x.to_owned()),
            Some(_) => return Err(bad()),
            None => PaySystemRef::Id(
                ps.parse::<u64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(bad)?,
            ),
        };
        let person_type = if pt == "default" {
            PersonTypeRef::Id(0)
        } else if let Ok(id) = pt.parse::<u64>() {
            PersonTypeRef::Id(id)
        } else if let Some(x) = pt.strip_prefix("xmlId:") {
            PersonTypeRef::XmlId(x.to_owned())
        } else if let Some(c) = pt.strip_prefix("code:") {
            PersonTypeRef::Code(c.to_owned())
        } else if !pt.is_empty() {
            PersonTypeRef::Either(pt.to_owned())
        } else {
            return Err(bad());
        };
        Ok(TargetRef {
            pay_system,
            person_type,
        })
    }

    /// Whether this (a `--target`) names the same thing as `declared` (a manifest's
    /// reference): equal, or `Either` matching an `xmlId` or a `code`.
    pub fn names(&self, declared: &TargetRef) -> bool {
        self.pay_system == declared.pay_system
            && match (&self.person_type, &declared.person_type) {
                (PersonTypeRef::Either(s), PersonTypeRef::XmlId(x) | PersonTypeRef::Code(x)) => {
                    s == x
                }
                (a, b) => a == b,
            }
    }
}

/// A target's declared settings, code → setting and where it is declared, sorted by
/// code: a sorted list rather than a map, because most targets declare a handful of
/// codes and a map node reserves room for eleven (about 1.2 KB a target;
/// `cargo bench --bench paysync -- offline`, 400 files × 500 documents × 1 code). Where a
/// code is declared is kept beside it rather than in a second list, which cost another
/// list and a copy of every code (issue 13).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingMap(Vec<(CompactString, Setting, Origin)>);

impl SettingMap {
    pub fn new() -> SettingMap {
        SettingMap(Vec::new())
    }

    fn find(&self, code: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(c, _, _)| c.as_str().cmp(code))
    }

    pub fn get(&self, code: &str) -> Option<&Setting> {
        self.find(code).ok().map(|i| &self.0[i].1)
    }

    /// Where `code` is declared.
    pub fn origin_of(&self, code: &str) -> Option<&Origin> {
        self.find(code).ok().map(|i| &self.0[i].2)
    }

    pub fn contains_key(&self, code: &str) -> bool {
        self.find(code).is_ok()
    }

    /// Sets `code`, declared at `at`, replacing an earlier value (and where it was
    /// declared); returns the earlier value.
    pub fn insert(
        &mut self,
        code: impl Into<CompactString> + AsRef<str>,
        setting: Setting,
        at: Origin,
    ) -> Option<Setting> {
        match self.find(code.as_ref()) {
            Ok(i) => {
                self.0[i].2 = at;
                Some(std::mem::replace(&mut self.0[i].1, setting))
            }
            Err(i) => {
                self.0.insert(i, (code.into(), setting, at));
                None
            }
        }
    }

    pub fn remove(&mut self, code: &str) -> Option<Setting> {
        self.find(code).ok().map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CompactString, &Setting)> {
        self.0.iter().map(|(c, s, _)| (c, s))
    }

    pub fn keys(&self) -> impl Iterator<Item = &CompactString> {
        self.0.iter().map(|(c, _, _)| c)
    }

    pub fn values(&self) -> impl Iterator<Item = &Setting> {
        self.0.iter().map(|(_, s, _)| s)
    }
}

impl std::ops::Index<&str> for SettingMap {
    type Output = Setting;
    /// The setting of `code`; panics when there is none (as a map's index does).
    fn index(&self, code: &str) -> &Setting {
        self.get(code)
            .unwrap_or_else(|| panic!("no setting {code}"))
    }
}

impl<K: Into<CompactString>> FromIterator<(K, Setting, Origin)> for SettingMap {
    /// Sorted by code; of a code given twice, the last value.
    fn from_iter<I: IntoIterator<Item = (K, Setting, Origin)>>(iter: I) -> SettingMap {
        let mut items: Vec<(CompactString, Setting, Origin)> =
            iter.into_iter().map(|(c, s, o)| (c.into(), s, o)).collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        // Keep the last of equal codes: reverse, dedup (keeps the first), reverse.
        items.reverse();
        items.dedup_by(|a, b| a.0 == b.0);
        items.reverse();
        items.shrink_to_fit();
        SettingMap(items)
    }
}

impl Extend<(CompactString, Setting, Origin)> for SettingMap {
    fn extend<I: IntoIterator<Item = (CompactString, Setting, Origin)>>(&mut self, iter: I) {
        for (code, setting, at) in iter {
            self.insert(code, setting, at);
        }
    }
}

impl IntoIterator for SettingMap {
    type Item = (CompactString, Setting, Origin);
    type IntoIter = std::vec::IntoIter<(CompactString, Setting, Origin)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a SettingMap {
    type Item = (&'a CompactString, &'a Setting);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (CompactString, Setting, Origin)>,
        fn(&'a (CompactString, Setting, Origin)) -> (&'a CompactString, &'a Setting),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(c, s, _)| (c, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_location_is_read_and_written_as_file_colon_line() {
        for text in [
            "m.yaml:3",
            "envs/prod/acme.yaml:12",
            "C:\\manifests\\a.yaml:7",
            "a:b.yaml:1",
        ] {
            let at = Location::parse(text).unwrap();
            assert_eq!(at.to_string(), text);
            let json = serde_json::to_string(&at).unwrap();
            assert_eq!(serde_json::from_str::<Location>(&json).unwrap(), at);
        }
        let at = Location::parse("a:b.yaml:12").unwrap();
        assert_eq!((&*at.file, at.line), (Path::new("a:b.yaml"), 12));
        for text in ["m.yaml", "m.yaml:", "m.yaml:x", ""] {
            assert_eq!(Location::parse(text), None, "{text:?}");
            assert!(serde_json::from_str::<Location>(&format!("{text:?}")).is_err());
        }
    }

    #[test]
    fn an_origin_past_u32_is_kept_saturated() {
        assert_eq!(Origin::narrow(7), 7);
        assert_eq!(Origin::narrow(usize::MAX), u32::MAX);
    }
}

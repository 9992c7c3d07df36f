//! The secrets of an apply (or a plan), resolved before anything is sent.

use std::collections::{BTreeMap, BTreeSet};

use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::secrets::{Redacted, ResolveError, Resolver, SecretRef};

/// Every secret a plan needs, resolved.
#[derive(Debug, Default)]
pub struct ResolvedSecrets {
    values: BTreeMap<SecretRef, Redacted<String>>,
}

impl ResolvedSecrets {
    /// What a plan reads: the values of those of `refs` whose source may be read at plan
    /// time ([`crate::secrets::SecretSource::readable_at_plan_time`], or every source with
    /// `every_source`: `plan --resolve-secrets`) and can be read
    /// now, and apart, those found empty (which apply refuses). Any other failure leaves
    /// the secret out: the plan shows it as not checked.
    pub fn at_plan_time<'a>(
        resolver: &Resolver,
        refs: impl IntoIterator<Item = &'a SecretRef>,
        every_source: bool,
    ) -> (ResolvedSecrets, BTreeSet<SecretRef>) {
        let mut values = BTreeMap::new();
        let mut empty = BTreeSet::new();
        for r in refs
            .into_iter()
            .filter(|r| every_source || r.source().readable_at_plan_time())
        {
            match resolver.resolve(r) {
                Ok(value) => {
                    values.insert(r.clone(), value);
                }
                Err(e) if e.is_empty_value() => {
                    empty.insert(r.clone());
                }
                Err(_) => {}
            }
        }
        (ResolvedSecrets { values }, empty)
    }

    /// The values of those of `refs` that can be read now; the others are left out.
    pub fn available<'a>(
        resolver: &Resolver,
        refs: impl IntoIterator<Item = &'a SecretRef>,
    ) -> ResolvedSecrets {
        ResolvedSecrets {
            values: refs
                .into_iter()
                .filter_map(|r| Some((r.clone(), resolver.resolve(r).ok()?)))
                .collect(),
        }
    }

    /// Resolves all references; on failure returns every reference that failed, with
    /// its error.
    pub fn resolve<'a>(
        resolver: &Resolver,
        refs: impl IntoIterator<Item = &'a SecretRef>,
    ) -> Result<ResolvedSecrets, Vec<(SecretRef, ResolveError)>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for r in refs {
            match resolver.resolve(r) {
                Ok(v) => {
                    values.insert(r.clone(), v);
                }
                Err(e) => errors.push((r.clone(), e)),
            }
        }
        if errors.is_empty() {
            Ok(ResolvedSecrets { values })
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, r: &SecretRef) -> Option<&Redacted<String>> {
        self.values.get(r)
    }

    /// Every resolved value, by reference.
    pub fn values(&self) -> &BTreeMap<SecretRef, Redacted<String>> {
        &self.values
    }

    /// The fingerprint to record for `r`'s value (none if `r` was not resolved, or the
    /// fingerprinter cannot make one: a keyed state without the key).
    pub fn fingerprint(&self, r: &SecretRef, fp: &Fingerprinter) -> Option<Fingerprint> {
        self.get(r).and_then(|v| fp.fingerprint(v))
    }
}

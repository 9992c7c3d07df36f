//! Secret fingerprints: how a changed secret is noticed without storing it, and without
//! letting whoever holds a state file or a saved plan test guessed secrets cheaply
//! (SPEC §5).
//!
//! A fingerprint is Argon2id (memory-hard: RFC 9106) of the secret value, salted with a
//! random per-state salt, with the parameters recorded in the state
//! ([`FingerprintScheme`]). With the default parameters ([`DEFAULT_PARAMS`]) one guess
//! costs tens of milliseconds of CPU and 64 MiB of memory (`cargo bench --bench paysync
//! -- fingerprint` prints the figure), so a low-entropy merchant password is no longer
//! found in a blink.
//!
//! When `PAYSYNC_FINGERPRINT_KEY` is set (a CI secret), the key is what makes
//! fingerprints useless to whoever holds only the state file or a saved plan: it is
//! derived once per run (Argon2id of the key with the state's salt and parameters), and
//! each secret's fingerprint is then one HMAC-SHA256 under the derived key
//! (`argon2id-key+hmac:`): hundreds of secrets cost one derivation, not hundreds.
//! Fingerprints of the earlier keyed kind (`argon2id+key:`, Argon2id per secret with the
//! key as its secret input) are still compared, and re-made as the new kind the first
//! time a run can verify the secret's value, like the format-1 migration. Neither file ever holds key material — the salt and the
//! parameters are public by design. Once a state holds keyed fingerprints it is marked
//! `keyed`, and apply refuses to run on it without the key rather than quietly go back to
//! unkeyed fingerprints.
//!
//! Without a key, each secret costs one Argon2id (what stops offline guessing of a short
//! merchant password); [`Fingerprinter::precompute`] spreads them over the cores, and
//! warns once, past [`MANY_SECRETS`], that a key makes this fast and safer.
//!
//! A [`Fingerprinter`] computes each distinct value once per run (the KDF is slow on
//! purpose) and compares recorded fingerprints of every kind it can: unkeyed, keyed (with
//! the key) and, for state format 1, the legacy HMAC-SHA256 ones (with the legacy key read
//! from that file, kept in memory only).
//!
//! Nothing here prints or logs a value, a key or a fingerprint.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::Redacted;

/// The environment variable of the optional fingerprint key.
pub const ENV_FINGERPRINT_KEY: &str = "PAYSYNC_FINGERPRINT_KEY";

/// Argon2id parameters: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostParams {
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

/// The defaults for new states: 64 MiB, 3 passes, 1 lane (about 0.1 s of CPU per value
/// on the 2-core CI machines; see BENCHMARKS.md).
pub const DEFAULT_PARAMS: CostParams = CostParams {
    m_cost: 64 * 1024,
    t_cost: 3,
    p_cost: 1,
};

/// The lowest parameters a state may record (Argon2's own minimums are lower): a state
/// file cannot make paysync fingerprint with next to no cost.
const MIN_PARAMS: CostParams = CostParams {
    m_cost: 8,
    t_cost: 1,
    p_cost: 1,
};

/// The highest a state may ask for: a hostile state file cannot make paysync allocate
/// without bound.
const MAX_M_COST: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// How fingerprints are made, recorded in the state file and in saved plans. Public by
/// design: the salt only makes precomputed tables useless.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintScheme {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Argon2 version, 19 (0x13).
    pub version: u32,
    /// Memory, KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// 16 random bytes, hex.
    pub salt: String,
    /// Whether fingerprints are keyed with `PAYSYNC_FINGERPRINT_KEY` (once set, stays).
    #[serde(default)]
    pub keyed: bool,
}

impl fmt::Debug for FingerprintScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintScheme")
            .field("algorithm", &self.algorithm)
            .field("params", &self.params())
            .field("keyed", &self.keyed)
            .finish_non_exhaustive()
    }
}

/// Why a recorded scheme cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    #[error("unknown fingerprint algorithm {0:?} (this paysync uses argon2id)")]
    Algorithm(String),
    #[error("unsupported Argon2 version {0} (this paysync uses 19)")]
    Version(u32),
    #[error("the salt must be 16 to 64 bytes in hex")]
    Salt,
    #[error(
        "Argon2 parameters out of range (memory {m_cost} KiB, {t_cost} passes, {p_cost} lanes)"
    )]
    Params {
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    },
}

impl FingerprintScheme {
    /// A new scheme: [`DEFAULT_PARAMS`] and a random salt: the 16 bytes of a version-4
    /// UUID, 122 of them random from the operating system's source (the tree's one
    /// random dependency, also behind the state's lineage), far more than a salt needs
    /// to be unique per state.
    pub fn generate() -> FingerprintScheme {
        let salt = uuid::Uuid::new_v4().into_bytes();
        FingerprintScheme::with_salt(DEFAULT_PARAMS, &salt)
    }

    /// A scheme with these parameters and salt.
    pub fn with_salt(params: CostParams, salt: &[u8]) -> FingerprintScheme {
        FingerprintScheme {
            algorithm: "argon2id".into(),
            version: 19,
            m_cost: params.m_cost,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: hex(salt),
            keyed: false,
        }
    }

    /// The Argon2id parameters.
    pub fn params(&self) -> CostParams {
        CostParams {
            m_cost: self.m_cost,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
        }
    }

    /// The scheme a format-1 state migrates to: default parameters and a salt derived from
    /// the state's lineage and its old HMAC key, so that every run migrating the same file
    /// (a plan, then the apply of its saved plan) arrives at the same scheme. The salt
    /// reveals nothing of the old key (SHA-256), and the old key is never written again.
    pub fn migrated(lineage: &str, legacy: &LegacyKey) -> FingerprintScheme {
        let mut hash = Sha256::new();
        hash.update(b"paysync state format 2 fingerprint salt\0");
        hash.update(lineage.as_bytes());
        hash.update([0]);
        hash.update(legacy.0.as_bytes());
        let digest = hash.finalize();
        FingerprintScheme::with_salt(DEFAULT_PARAMS, &digest[..16])
    }

    /// Whether both make the same fingerprints (algorithm, version, parameters and salt;
    /// `keyed` aside).
    pub fn same_derivation(&self, other: &FingerprintScheme) -> bool {
        self.algorithm == other.algorithm
            && self.version == other.version
            && self.params() == other.params()
            && self.salt == other.salt
    }

    /// Checks what a state file (or a saved plan) recorded before it is used.
    pub fn check(&self) -> Result<(), SchemeError> {
        if self.algorithm != "argon2id" {
            return Err(SchemeError::Algorithm(self.algorithm.clone()));
        }
        if self.version != 19 {
            return Err(SchemeError::Version(self.version));
        }
        let salt = unhex(&self.salt).ok_or(SchemeError::Salt)?;
        if !(16..=64).contains(&salt.len()) {
            return Err(SchemeError::Salt);
        }
        let CostParams {
            m_cost,
            t_cost,
            p_cost,
        } = self.params();
        let in_range = (MIN_PARAMS.m_cost..=MAX_M_COST).contains(&m_cost)
            && (MIN_PARAMS.t_cost..=MAX_T_COST).contains(&t_cost)
            && (MIN_PARAMS.p_cost..=MAX_P_COST).contains(&p_cost)
            && m_cost >= 8 * p_cost;
        if !in_range {
            return Err(SchemeError::Params {
                m_cost,
                t_cost,
                p_cost,
            });
        }
        Ok(())
    }
}

/// The HMAC key of state format 1, read from such a file to compare its fingerprints;
/// never written again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LegacyKey(String);

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyKey(..)")
    }
}

/// A fingerprint of a secret value: `argon2id:<hex>`, `argon2id+key:<hex>`, or (state
/// format 1) `hmac-sha256:<hex>`. Safe to store and compare, never shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

const UNKEYED: &str = "argon2id:";
/// The keyed kind before issue 22: Argon2id per secret, the key as its secret input.
const KEYED: &str = "argon2id+key:";
/// The keyed kind: HMAC-SHA256 under the key derived once per run.
const KEYED_MAC: &str = "argon2id-key+hmac:";
const LEGACY: &str = "hmac-sha256:";

/// Past this many distinct secrets fingerprinted without a key, a run says (once) that a
/// key makes it fast.
pub const MANY_SECRETS: usize = 20;

impl Fingerprint {
    /// Whether this fingerprint is keyed with `PAYSYNC_FINGERPRINT_KEY`.
    pub fn is_keyed(&self) -> bool {
        self.0.starts_with(KEYED) || self.0.starts_with(KEYED_MAC)
    }

    /// Whether this is a format-1 (HMAC-SHA256) fingerprint.
    pub fn is_legacy(&self) -> bool {
        self.0.starts_with(LEGACY)
    }
}

/// Which kind of fingerprint to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Unkeyed,
    /// Before issue 22 (compared and migrated, never made).
    Keyed,
    KeyedMac,
}

/// Computes and compares fingerprints for one run (see the module docs).
pub struct Fingerprinter {
    scheme: FingerprintScheme,
    salt: Vec<u8>,
    key: Option<Redacted<Vec<u8>>>,
    legacy: Option<LegacyKey>,
    cache: Mutex<HashMap<(Kind, String), Fingerprint>>,
    computed: AtomicUsize,
    /// The key derived with the state's salt, once per run.
    derived: OnceLock<[u8; 32]>,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fingerprinter")
            .field("scheme", &self.scheme)
            .field("keyed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The fingerprint key from where `vars` reads `PAYSYNC_FINGERPRINT_KEY` (its own name,
/// or the variable an environment of the project maps it to; an environment that does
/// not map it has none); an empty one counts as unset (with a warning: CI systems give
/// "" for a missing secret).
pub fn key_from(vars: &crate::variables::Variables) -> Option<Redacted<Vec<u8>>> {
    let variable = vars.name(ENV_FINGERPRINT_KEY)?;
    let value = std::env::var_os(variable)?;
    let value = value.to_string_lossy().into_owned();
    if value.is_empty() {
        tracing::warn!("{variable} is set but empty; it is ignored");
        return None;
    }
    crate::untrusted::remember_secret(&value);
    Some(Redacted::new(value.into_bytes()))
}

impl Fingerprinter {
    /// A fingerprinter for `scheme` (checked by the caller), keyed when `key` is given,
    /// able to compare format-1 fingerprints when `legacy` is.
    pub fn new(
        scheme: FingerprintScheme,
        key: Option<Redacted<Vec<u8>>>,
        legacy: Option<LegacyKey>,
    ) -> Fingerprinter {
        let salt = unhex(&scheme.salt).unwrap_or_default();
        Fingerprinter {
            scheme,
            salt,
            key,
            legacy,
            cache: Mutex::new(HashMap::new()),
            computed: AtomicUsize::new(0),
            derived: OnceLock::new(),
        }
    }

    /// The scheme fingerprints are made with.
    pub fn scheme(&self) -> &FingerprintScheme {
        &self.scheme
    }

    /// Whether new fingerprints are keyed.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// Whether fingerprints can be made at all: not when the state's fingerprints are
    /// keyed and the key is missing.
    pub fn can_fingerprint(&self) -> bool {
        self.key.is_some() || !self.scheme.keyed
    }

    /// How many times the KDF ran (each distinct value and kind once; the key's
    /// derivation once).
    pub fn computations(&self) -> usize {
        self.computed.load(Ordering::Relaxed)
    }

    /// The fingerprint to record for `value` now: keyed when the key is set; `None` when
    /// the state's fingerprints are keyed and the key is not set.
    pub fn fingerprint(&self, value: &Redacted<String>) -> Option<Fingerprint> {
        match (&self.key, self.scheme.keyed) {
            (Some(_), _) => Some(self.compute(Kind::KeyedMac, value)),
            (None, false) => Some(self.compute(Kind::Unkeyed, value)),
            (None, true) => None,
        }
    }

    /// Whether `recorded` is the fingerprint of `value`; `None` when this run cannot tell
    /// (a keyed fingerprint without the key, a format-1 one without its key, an unknown
    /// kind).
    pub fn matches(&self, recorded: &Fingerprint, value: &Redacted<String>) -> Option<bool> {
        let text = recorded.0.as_str();
        if text.starts_with(KEYED_MAC) {
            self.key.as_ref()?;
            Some(self.compute(Kind::KeyedMac, value) == *recorded)
        } else if text.starts_with(KEYED) {
            self.key.as_ref()?;
            Some(self.compute(Kind::Keyed, value) == *recorded)
        } else if text.starts_with(UNKEYED) {
            Some(self.compute(Kind::Unkeyed, value) == *recorded)
        } else if text.starts_with(LEGACY) {
            let legacy = self.legacy.as_ref()?;
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(legacy.0.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(value.expose().as_bytes());
            Some(format!("{LEGACY}{}", hex(&mac.finalize().into_bytes())) == text)
        } else {
            None
        }
    }

    /// Whether `recorded` is of the kind [`Fingerprinter::fingerprint`] makes now.
    pub fn is_current(&self, recorded: &Fingerprint) -> bool {
        match self.key {
            Some(_) => recorded.0.starts_with(KEYED_MAC),
            None => recorded.0.starts_with(UNKEYED),
        }
    }

    /// Fingerprints `values` ahead of use, the slow ones (unkeyed Argon2id) on every core
    /// (at most eight at a time: each takes the scheme's memory); past [`MANY_SECRETS`]
    /// of them, says once that a fingerprint key makes this fast.
    pub fn precompute<'a>(&self, values: impl IntoIterator<Item = &'a Redacted<String>>) {
        if self.key.is_some() || self.scheme.keyed {
            return;
        }
        let pending: Vec<&Redacted<String>> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = std::collections::HashSet::new();
            values
                .into_iter()
                .filter(|v| !cache.contains_key(&(Kind::Unkeyed, v.expose().clone())))
                .filter(|v| seen.insert(v.expose().clone()))
                .collect()
        };
        if pending.len() > MANY_SECRETS {
            tracing::warn!(
                "fingerprinting {} secrets with Argon2id, about 0.1 s of CPU each; setting \
                 {ENV_FINGERPRINT_KEY} makes this one derivation per run, and the fingerprints \
                 useless to whoever reads the state",
                pending.len()
            );
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8)
            .min(pending.len().max(1));
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while let Some(value) = pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                        self.compute(Kind::Unkeyed, value);
                    }
                });
            }
        });
    }

    fn compute(&self, kind: Kind, value: &Redacted<String>) -> Fingerprint {
        let cache_key = (kind, value.expose().clone());
        if let Some(found) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
        {
            return found.clone();
        }
        // Computed without the lock held, so that several values can be at once; two
        // threads computing one value would agree.
        let fingerprint = self.kdf(kind, value);
        self.computed.fetch_add(1, Ordering::Relaxed);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key, fingerprint.clone());
        fingerprint
    }

    /// A fingerprint of the kind made before issue 22, for the migration tests.
    #[cfg(test)]
    fn compute_kind_for_tests(&self, value: &Redacted<String>) -> Fingerprint {
        self.kdf(Kind::Keyed, value)
    }

    /// The key derived with the state's salt and parameters (once per run).
    fn derived_key(&self) -> &[u8; 32] {
        self.derived.get_or_init(|| {
            let key = self.key.as_ref().map_or(&[][..], |k| k.expose().as_slice());
            let mut out = [0u8; 32];
            self.argon2(&[])
                .hash_password_into(key, &self.salt, &mut out)
                .expect("the scheme's salt and parameters were checked");
            self.computed.fetch_add(1, Ordering::Relaxed);
            out
        })
    }

    /// Argon2id with the scheme's parameters and `secret` as its secret input.
    fn argon2<'k>(&self, secret: &'k [u8]) -> Argon2<'k> {
        let CostParams {
            m_cost,
            t_cost,
            p_cost,
        } = self.scheme.params();
        let params = Params::new(m_cost, t_cost, p_cost, Some(32))
            .expect("the scheme's parameters were checked");
        if secret.is_empty() {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        } else {
            Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, params)
                .expect("the key's length is within Argon2's limits")
        }
    }

    fn kdf(&self, kind: Kind, value: &Redacted<String>) -> Fingerprint {
        if kind == Kind::KeyedMac {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.derived_key())
                .expect("HMAC accepts keys of any length");
            mac.update(value.expose().as_bytes());
            return Fingerprint(format!("{KEYED_MAC}{}", hex(&mac.finalize().into_bytes())));
        }
        let secret: &[u8] = match (kind, &self.key) {
            (Kind::Keyed, Some(key)) => key.expose(),
            _ => &[],
        };
        let argon = self.argon2(secret);
        let mut out = [0u8; 32];
        argon
            .hash_password_into(value.expose().as_bytes(), &self.salt, &mut out)
            .expect("the scheme's salt and parameters were checked");
        let prefix = match kind {
            Kind::Keyed => KEYED,
            Kind::Unkeyed | Kind::KeyedMac => UNKEYED,
        };
        Fingerprint(format!("{prefix}{}", hex(&out)))
    }
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// Cheap parameters for tests that make many fingerprints (tests may record cheaper
/// parameters in their own states; the default is what the benchmark measures).
#[cfg(test)]
pub(crate) fn cheap_scheme() -> FingerprintScheme {
    FingerprintScheme::with_salt(
        CostParams {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        },
        b"0123456789abcdef",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Redacted<String> {
        Redacted::new(s.to_owned())
    }

    fn key(s: &str) -> Option<Redacted<Vec<u8>>> {
        Some(Redacted::new(s.as_bytes().to_vec()))
    }

    #[test]
    fn each_distinct_value_is_computed_once_per_run() {
        let f = Fingerprinter::new(cheap_scheme(), None, None);
        let a = f.fingerprint(&r("s3cret")).unwrap();
        assert_eq!(f.fingerprint(&r("s3cret")).unwrap(), a);
        assert_eq!(f.matches(&a, &r("s3cret")), Some(true));
        assert_eq!(f.computations(), 1);
        assert_ne!(f.fingerprint(&r("other")).unwrap(), a);
        assert_eq!(f.computations(), 2);
        assert!(a.0.starts_with("argon2id:"), "{a:?}");
        assert!(!format!("{a:?} {f:?}").contains("s3cret"));
    }

    #[test]
    fn fingerprints_are_salted_per_state() {
        let other = FingerprintScheme::with_salt(cheap_scheme().params(), b"fedcba9876543210");
        let a = Fingerprinter::new(cheap_scheme(), None, None);
        let b = Fingerprinter::new(other, None, None);
        assert_ne!(a.fingerprint(&r("v")), b.fingerprint(&r("v")));
    }

    #[test]
    fn a_key_is_derived_once_per_run_and_each_secret_is_one_mac() {
        let keyed = Fingerprinter::new(cheap_scheme(), key("k1"), None);
        let values: Vec<_> = (0..50).map(|i| r(&format!("secret-{i}"))).collect();
        let fingerprints: Vec<_> = values
            .iter()
            .map(|v| keyed.fingerprint(v).unwrap())
            .collect();
        assert_eq!(keyed.computations(), 51, "one derivation and 50 MACs");
        assert!(
            fingerprints
                .iter()
                .all(|f| f.0.starts_with(KEYED_MAC) && f.is_keyed())
        );
        // Another run, the same key and salt: the same fingerprints.
        let again = Fingerprinter::new(cheap_scheme(), key("k1"), None);
        assert_eq!(again.fingerprint(&values[7]), Some(fingerprints[7].clone()));
        // The kind made before is still compared, and re-made as the current kind.
        let mut old = keyed.compute_kind_for_tests(&values[3]);
        assert!(old.0.starts_with(KEYED) && old.is_keyed());
        assert_eq!(keyed.matches(&old, &values[3]), Some(true));
        assert_eq!(keyed.matches(&old, &values[4]), Some(false));
        assert!(!keyed.is_current(&old));
        old = keyed.fingerprint(&values[3]).unwrap();
        assert!(keyed.is_current(&old));
    }

    #[test]
    fn unkeyed_fingerprints_are_precomputed_on_every_core_once() {
        let plain = Fingerprinter::new(cheap_scheme(), None, None);
        let values: Vec<_> = (0..30).map(|i| r(&format!("v{i}"))).collect();
        let twice: Vec<_> = values.iter().chain(values.iter()).collect();
        plain.precompute(twice);
        assert_eq!(plain.computations(), 30);
        let one = Fingerprinter::new(cheap_scheme(), None, None);
        assert_eq!(plain.fingerprint(&values[9]), one.fingerprint(&values[9]));
        assert_eq!(plain.computations(), 30, "served from what was precomputed");
    }

    #[test]
    fn keyed_fingerprints_need_the_key() {
        let keyed = Fingerprinter::new(cheap_scheme(), key("k1"), None);
        let fp = keyed.fingerprint(&r("v")).unwrap();
        assert!(fp.is_keyed());
        assert_eq!(keyed.matches(&fp, &r("v")), Some(true));
        // Without the key: cannot tell; with another key: a different fingerprint.
        let without = Fingerprinter::new(cheap_scheme(), None, None);
        assert_eq!(without.matches(&fp, &r("v")), None);
        let other = Fingerprinter::new(cheap_scheme(), key("k2"), None);
        assert_eq!(other.matches(&fp, &r("v")), Some(false));
        // A keyed state without the key makes no fingerprint at all.
        let mut scheme = cheap_scheme();
        scheme.keyed = true;
        let f = Fingerprinter::new(scheme, None, None);
        assert!(!f.can_fingerprint());
        assert_eq!(f.fingerprint(&r("v")), None);
        // Unkeyed fingerprints stay comparable once the key is set.
        let plain = without.fingerprint(&r("v")).unwrap();
        assert_eq!(keyed.matches(&plain, &r("v")), Some(true));
        assert!(!keyed.is_current(&plain));
    }

    #[test]
    fn format_1_fingerprints_are_compared_with_the_legacy_key() {
        let legacy: LegacyKey = serde_json::from_str("\"0123456789abcdef\"").unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"v");
        let old = Fingerprint(format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes())));
        let f = Fingerprinter::new(cheap_scheme(), None, Some(legacy.clone()));
        assert_eq!(f.matches(&old, &r("v")), Some(true));
        assert_eq!(f.matches(&old, &r("w")), Some(false));
        assert_eq!(
            Fingerprinter::new(cheap_scheme(), None, None).matches(&old, &r("v")),
            None
        );
        // The migrated scheme is the same every time and reveals nothing of the key.
        let a = FingerprintScheme::migrated("lineage-1", &legacy);
        assert_eq!(a, FingerprintScheme::migrated("lineage-1", &legacy));
        assert_ne!(a, FingerprintScheme::migrated("lineage-2", &legacy));
        assert!(!a.salt.contains("0123456789abcdef"));
        assert_eq!(a.params(), DEFAULT_PARAMS);
    }

    #[test]
    fn recorded_schemes_are_checked() {
        assert_eq!(FingerprintScheme::generate().check(), Ok(()));
        let mut s = cheap_scheme();
        s.m_cost = u32::MAX;
        assert!(matches!(s.check(), Err(SchemeError::Params { .. })));
        let mut s = cheap_scheme();
        s.salt = "zz".into();
        assert_eq!(s.check(), Err(SchemeError::Salt));
        let mut s = cheap_scheme();
        s.algorithm = "md5".into();
        assert!(matches!(s.check(), Err(SchemeError::Algorithm(_))));
    }
}

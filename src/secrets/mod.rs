//! Secret references, their one grammar, their resolution, and the [`Redacted`] wrapper
//! that keeps resolved values out of every output.
//!
//! **One grammar.** A reference is `SOURCE:REST`; [`SecretSource`] lists the sources
//! (`env:NAME`, `file:PATH`, `sops:PATH#KEY`, `vault:MOUNT/PATH#FIELD`, `exec:NAME`), and
//! every message, the manifest schema and the parser are made from that list.
//! [`SecretRef::parse`] (with the manifest's directory, for `file:` and `sops:`) and
//! `str::parse` (a reference as recorded: in a state file or a saved plan) are the only
//! parsers; [`SecretRef`]'s `Display` is the only writer. Each source is one file here
//! with its reader; a run reads them through one [`Resolver`], which maps the sources'
//! variables through the environment and reads each SOPS file and Vault path once.
//!
//! **Adding a source**: a variant of [`SecretSource`] (its prefix, form, description and
//! whether it may be read at plan time) and of [`SecretRef`], and a file with its reader.
//! Every `match` on either is exhaustive, so the compiler lists each place that must
//! learn about it; nothing falls back to another source at run time.
//!
//! A resolved secret only ever lives inside [`Redacted`], whose `Debug` and `Display`
//! print `<redacted>`; the only way to the bytes is [`Redacted::expose`], used when a
//! request body is built. The state file and saved plans keep a fingerprint of each
//! secret ([`crate::fingerprint`]) so a changed secret is noticed without storing it.
//!
//! This module must not print or log a resolved value, and its errors never carry one.

mod command;
mod env;
pub mod exec;
mod file;
mod redacted;
mod reference;
pub mod sops;
pub mod template;
pub mod vault;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::variables::Variables;

pub use env::EnvError;
pub use file::{FileError, MAX_SECRET_FILE_BYTES};
pub use redacted::Redacted;
pub use reference::{
    SecretRef, SecretRefError, SecretSource, as_text, described_forms, forms, pattern,
};

/// Why a secret could not be resolved. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Sops(#[from] sops::SopsError),
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    /// The variable is set to `""`, or the file is empty (after the one trailing newline
    /// is stripped). CI systems turn a missing, renamed or unexposed secret into an empty
    /// variable, so an empty value is never taken as the secret (SPEC §5): clearing a key
    /// on purpose is done with a literal `value: ""`.
    #[error(
        "secret {reference} is empty (a CI system gives an empty value for a missing, renamed or \
         unexposed secret); set it, or write a literal `value: \"\"` to clear the key on purpose"
    )]
    Empty { reference: String },
}

/// A secret that could not be resolved, with where the manifests (or the saved plan)
/// reference it (`file:line`, in order).
#[derive(Debug)]
pub struct Unresolved {
    pub error: ResolveError,
    pub places: Vec<String>,
}

impl Unresolved {
    /// Secrets that could not be resolved (as [`crate::apply::ResolvedSecrets`] reports
    /// them), each with where it is referenced (`places`).
    pub fn list(
        errors: Vec<(SecretRef, ResolveError)>,
        places: &std::collections::BTreeMap<SecretRef, Vec<String>>,
    ) -> Vec<Unresolved> {
        errors
            .into_iter()
            .map(|(r, error)| Unresolved {
                places: places.get(&r).cloned().unwrap_or_default(),
                error,
            })
            .collect()
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.places.as_slice() {
            [] => write!(f, "{}", self.error),
            [one] => write!(f, "{one}: {}", self.error),
            [first, rest @ ..] => write!(
                f,
                "{first}: {} (also referenced at {})",
                self.error,
                shown_places(rest)
            ),
        }
    }
}

/// `a:1, b:2` or, past three, `a:1, b:2, c:3 and 7 more`.
pub fn shown_places(places: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = places
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if places.len() > SHOWN {
        text.push_str(&format!(" and {} more", places.len() - SHOWN));
    }
    text
}

impl ResolveError {
    /// Whether the secret was found but empty (as opposed to missing or unreadable).
    pub fn is_empty_value(&self) -> bool {
        matches!(self, ResolveError::Empty { .. })
    }
}

impl SecretRef {
    /// Reads the secret's value now, with paysync's own variables
    /// ([`Resolver::resolve`]).
    pub fn resolve(&self) -> Result<Redacted<String>, ResolveError> {
        Resolver::new(Variables::own()).resolve(self)
    }
}

/// Reads secrets for one run: the variables of the store-like sources (`sops:`'s age
/// identity, `vault:`'s address and token) through the environment's mapping, each SOPS
/// file decrypted once and each Vault path read once however many references they serve.
/// What was read stays in memory, never on disk, and goes with the resolver.
pub struct Resolver {
    vars: Variables,
    exec: exec::ExecContext,
    sops: RefCell<BTreeMap<PathBuf, Result<serde_json::Value, sops::SopsError>>>,
    vault: RefCell<VaultReads>,
}

type VaultReads = BTreeMap<
    (String, String),
    Result<serde_json::Map<String, serde_json::Value>, vault::VaultError>,
>;

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// A resolver reading variables through `vars`.
    pub fn new(vars: Variables) -> Resolver {
        Resolver {
            vars,
            exec: exec::ExecContext::default(),
            sops: RefCell::new(BTreeMap::new()),
            vault: RefCell::new(BTreeMap::new()),
        }
    }

    /// The commands `exec:` references ask, with the run's environment and portal.
    pub fn with_commands(mut self, exec: exec::ExecContext) -> Resolver {
        self.exec = exec;
        self
    }

    /// Reads `secret`'s value. An empty value is an error ([`ResolveError::Empty`]),
    /// never a value.
    pub fn resolve(&self, secret: &SecretRef) -> Result<Redacted<String>, ResolveError> {
        let value = match secret {
            SecretRef::Env { name } => env::read(name)?,
            SecretRef::File { written, path } => file::read(written, path)?,
            SecretRef::Sops { written, path, key } => {
                let mut files = self.sops.borrow_mut();
                let document = files
                    .entry(path.clone())
                    .or_insert_with(|| sops::decrypt(&self.vars, written, path))
                    .as_ref()
                    .map_err(Clone::clone)?;
                sops::lookup(document, written, key)?
            }
            SecretRef::Exec { name, argument } => {
                exec::ask(&self.exec, &secret.to_string(), name, argument.as_deref())?
            }
            SecretRef::Vault { mount, path, field } => {
                let mut reads = self.vault.borrow_mut();
                let fields = reads
                    .entry((mount.clone(), path.clone()))
                    .or_insert_with(|| vault::read(&self.vars, mount, path))
                    .as_ref()
                    .map_err(Clone::clone)?;
                match fields.get(field) {
                    Some(serde_json::Value::String(s)) => Redacted::new(s.clone()),
                    Some(serde_json::Value::Number(n)) => Redacted::new(n.to_string()),
                    Some(serde_json::Value::Bool(b)) => Redacted::new(b.to_string()),
                    Some(_) => {
                        return Err(vault::VaultError {
                            reference: format!("{mount}/{path}#{field}"),
                            message: "the field is not text".to_owned(),
                        }
                        .into());
                    }
                    None => {
                        return Err(vault::VaultError {
                            reference: format!("{mount}/{path}#{field}"),
                            message: format!("the secret has no field {field:?}"),
                        }
                        .into());
                    }
                }
            }
        };
        if value.expose().is_empty() {
            return Err(ResolveError::Empty {
                reference: secret.to_string(),
            });
        }
        crate::untrusted::remember_secret(value.expose());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn parses_references() {
        let dir = Path::new("manifests");
        assert_eq!(
            SecretRef::parse("env:ACME_KEY", dir).unwrap(),
            SecretRef::Env {
                name: "ACME_KEY".into()
            }
        );
        assert_eq!(
            SecretRef::parse("file:keys/acme.txt", dir).unwrap(),
            SecretRef::File {
                written: "keys/acme.txt".into(),
                path: dir.join("keys/acme.txt")
            }
        );
        assert!(matches!(
            SecretRef::parse("gcp:x", dir),
            Err(SecretRefError::UnknownSource { .. })
        ));
        // sops: PATH relative to the manifest, KEY in segments, a quoted one with dots.
        let sops = SecretRef::parse("sops:secrets/prod.enc.yaml#acme.\"key.v2\".x", dir).unwrap();
        assert_eq!(
            sops,
            SecretRef::Sops {
                written: "secrets/prod.enc.yaml".into(),
                path: dir.join("secrets/prod.enc.yaml"),
                key: vec!["acme".into(), "key.v2".into(), "x".into()],
            }
        );
        assert_eq!(
            sops.to_string(),
            "sops:secrets/prod.enc.yaml#acme.\"key.v2\".x"
        );
        assert_eq!(
            sops.to_string().parse::<SecretRef>().unwrap().to_string(),
            sops.to_string()
        );
        for bad in [
            "sops:f.yaml",
            "sops:#k",
            "sops:f.yaml#",
            "sops:f.yaml#a..b",
            "sops:f#\"a",
            "sops:f#a\"b\"",
        ] {
            assert!(
                matches!(
                    SecretRef::parse(bad, dir),
                    Err(SecretRefError::BadSops { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            SecretRef::parse("vault:secret/paysync/acme#api_key", dir).unwrap(),
            SecretRef::Vault {
                mount: "secret".into(),
                path: "paysync/acme".into(),
                field: "api_key".into(),
            }
        );
        for bad in [
            "vault:x",
            "vault:secret#f",
            "vault:secret/a/../b#f",
            "vault:secret/a#",
            "vault:s/a?x#f",
        ] {
            assert!(
                matches!(
                    SecretRef::parse(bad, dir),
                    Err(SecretRefError::BadVault { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            SecretRef::parse("env:1BAD", dir),
            Err(SecretRefError::BadEnvName { .. })
        ));
        assert!(matches!(
            SecretRef::parse("env:", dir),
            Err(SecretRefError::BadEnvName { .. })
        ));
        assert_eq!(
            SecretRef::parse("file:", dir),
            Err(SecretRefError::EmptyPath)
        );
    }

    #[test]
    fn redacted_never_shows_the_value() {
        let r = Redacted::new("canary-123".to_string());
        assert_eq!(format!("{r} {r:?}"), "<redacted> <redacted>");
    }

    #[test]
    fn empty_secrets_are_errors_not_values() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("empty", ""), ("newline", "\n"), ("crlf", "\r\n")] {
            std::fs::write(dir.path().join(name), text).unwrap();
            let r = SecretRef::parse(&format!("file:{name}"), dir.path()).unwrap();
            let e = r.resolve().unwrap_err();
            assert!(e.is_empty_value(), "{name}: {e}");
            assert!(
                e.to_string()
                    .contains(&format!("secret file:{name} is empty")),
                "{e}"
            );
        }
        // A value of one space is a value.
        std::fs::write(dir.path().join("space"), " \n").unwrap();
        let r = SecretRef::parse("file:space", dir.path()).unwrap();
        assert_eq!(r.resolve().unwrap().expose(), " ");
    }

    #[test]
    fn file_secret_strips_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "abc\n\n").unwrap();
        let r = SecretRef::parse("file:k", dir.path()).unwrap();
        assert_eq!(r.resolve().unwrap().expose(), "abc\n");
    }
}

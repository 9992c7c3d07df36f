//! Secret references (`env:NAME`, `file:PATH`), their resolution, fingerprints and the
//! [`Redacted`] wrapper that keeps resolved values out of every output.
//!
//! A resolved secret only ever lives inside [`Redacted`], whose `Debug` and `Display`
//! print `<redacted>`; the only way to the bytes is [`Redacted::expose`], used when a
//! request body is built. The state file and saved plans keep a fingerprint of each
//! secret ([`crate::fingerprint`]) so a changed secret is noticed without storing it.
//!
//! This module must not print or log a resolved value, and its errors never carry one.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest `file:` secret read (a certificate chain is a few KiB).
pub const MAX_SECRET_FILE_BYTES: u64 = 1 << 20;

/// A reference to a secret, as written in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum SecretRef {
    /// `env:NAME`: the value of an environment variable.
    Env { name: String },
    /// `file:PATH`: a file's contents with one trailing newline stripped. `written` is the
    /// path as it appears in the manifest (relative to the manifest); `path` is where it
    /// is read from (the manifest's directory joined with `written`).
    File { written: String, path: PathBuf },
}

/// Why a reference string is not a valid secret reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    #[error("unknown secret source in {reference:?}: expected `env:NAME` or `file:PATH`")]
    UnknownSource { reference: String },
    #[error(
        "invalid environment variable name {name:?} in `env:` reference: use letters, digits and `_`, not starting with a digit"
    )]
    BadEnvName { name: String },
    #[error("empty path in `file:` reference")]
    EmptyPath,
}

/// Why a secret could not be resolved. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// `hint`: ` (did you mean `NAME`?)` when a variable of a near name is set (names
    /// only: no value is ever looked at), else empty.
    #[error("environment variable {name} (secret env:{name}) is not set{hint}")]
    EnvMissing { name: String, hint: String },
    #[error("environment variable {name} (secret env:{name}) is not valid UTF-8")]
    EnvNotUnicode { name: String },
    #[error("cannot read secret file:{written} ({}): {error}", path.display())]
    FileUnreadable {
        written: String,
        path: PathBuf,
        error: crate::files::ReadError,
    },
    #[error("secret file:{written} ({}) is not valid UTF-8", path.display())]
    FileNotUnicode { written: String, path: PathBuf },
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
    /// Parses `env:NAME` or `file:PATH`; a `file:` path is taken relative to `manifest_dir`.
    pub fn parse(reference: &str, manifest_dir: &Path) -> Result<SecretRef, SecretRefError> {
        if let Some(name) = reference.strip_prefix("env:") {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SecretRefError::BadEnvName {
                    name: name.to_owned(),
                });
            }
            Ok(SecretRef::Env {
                name: name.to_owned(),
            })
        } else if let Some(written) = reference.strip_prefix("file:") {
            if written.is_empty() {
                return Err(SecretRefError::EmptyPath);
            }
            Ok(SecretRef::File {
                written: written.to_owned(),
                path: manifest_dir.join(written),
            })
        } else {
            Err(SecretRefError::UnknownSource {
                reference: reference.to_owned(),
            })
        }
    }

    /// Reads the secret's value now. An empty value is an error ([`ResolveError::Empty`]),
    /// never a value.
    pub fn resolve(&self) -> Result<Redacted<String>, ResolveError> {
        let value = self.read()?;
        if value.expose().is_empty() {
            return Err(ResolveError::Empty {
                reference: self.to_string(),
            });
        }
        crate::untrusted::remember_secret(value.expose());
        Ok(value)
    }

    fn read(&self) -> Result<Redacted<String>, ResolveError> {
        match self {
            SecretRef::Env { name } => match std::env::var(name) {
                Ok(value) => Ok(Redacted::new(value)),
                Err(std::env::VarError::NotPresent) => {
                    let names: Vec<String> = std::env::vars_os()
                        .filter_map(|(name, _)| name.into_string().ok())
                        .collect();
                    Err(ResolveError::EnvMissing {
                        name: name.clone(),
                        hint: crate::wording::did_you_mean(name, names.iter().map(String::as_str)),
                    })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(ResolveError::EnvNotUnicode { name: name.clone() })
                }
            },
            SecretRef::File { written, path } => {
                let bytes =
                    crate::files::read_regular(path, MAX_SECRET_FILE_BYTES).map_err(|source| {
                        ResolveError::FileUnreadable {
                            written: written.clone(),
                            path: path.clone(),
                            error: source,
                        }
                    })?;
                let mut text =
                    String::from_utf8(bytes).map_err(|_| ResolveError::FileNotUnicode {
                        written: written.clone(),
                        path: path.clone(),
                    })?;
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                Ok(Redacted::new(text))
            }
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env { name } => write!(f, "env:{name}"),
            SecretRef::File { written, .. } => write!(f, "file:{written}"),
        }
    }
}

/// A value that must never be shown: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Redacted(value)
    }
    /// The wrapped value. Call sites are the places a secret leaves the wrapper
    /// (request bodies, fingerprints); keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
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
            SecretRef::parse("vault:x", dir),
            Err(SecretRefError::UnknownSource { .. })
        ));
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

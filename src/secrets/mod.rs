//! Secret references, their one grammar, their resolution, and the [`Redacted`] wrapper
//! that keeps resolved values out of every output.
//!
//! **One grammar.** A reference is `SOURCE:REST`; [`SecretSource`] lists the sources
//! (`env:NAME`, `file:PATH`), and every message, the manifest schema and the parser are
//! made from that list. [`SecretRef::parse`] (with the manifest's directory, for
//! `file:`) and `str::parse` (a reference as recorded: in a state file or a saved plan)
//! are the only parsers; [`SecretRef`]'s `Display` is the only writer. Each source is one
//! file here (`env.rs`, `file.rs`) with its reader.
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

mod env;
mod file;
mod redacted;
mod reference;

use std::fmt;

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
    /// Reads the secret's value now. An empty value is an error ([`ResolveError::Empty`]),
    /// never a value.
    pub fn resolve(&self) -> Result<Redacted<String>, ResolveError> {
        let value = match self {
            SecretRef::Env { name } => env::read(name)?,
            SecretRef::File { written, path } => file::read(written, path)?,
        };
        if value.expose().is_empty() {
            return Err(ResolveError::Empty {
                reference: self.to_string(),
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

//! The one grammar of secret references: [`SecretSource`] lists the sources, and
//! [`SecretRef::parse`] / `str::parse` (the only parsers) and `Display` (the only
//! writer) follow it. No I/O here: reading a source is its own file's job.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a secret comes from: every source paysync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// `env:NAME`: an environment variable.
    Env,
    /// `file:PATH`: a file's contents, one trailing newline stripped; PATH relative to
    /// the manifest.
    File,
}

impl SecretSource {
    /// Every source, in the order messages list them.
    pub const ALL: &[SecretSource] = &[SecretSource::Env, SecretSource::File];

    /// The prefix before the `:` (`env`).
    pub fn prefix(self) -> &'static str {
        match self {
            SecretSource::Env => "env",
            SecretSource::File => "file",
        }
    }

    /// How a reference of this source is written (`env:NAME`).
    pub fn form(self) -> &'static str {
        match self {
            SecretSource::Env => "env:NAME",
            SecretSource::File => "file:PATH",
        }
    }

    /// What the source reads, for the schema and the docs.
    pub fn description(self) -> &'static str {
        match self {
            SecretSource::Env => "environment variable",
            SecretSource::File => {
                "file contents, one trailing newline stripped; PATH relative to the manifest"
            }
        }
    }

    /// A regular expression for a reference of this source, for the schema.
    pub fn pattern(self) -> &'static str {
        match self {
            SecretSource::Env => "env:[A-Za-z_][A-Za-z0-9_]*",
            SecretSource::File => "file:.+",
        }
    }

    /// Whether a `plan` (a pull request's, say) may read it. A source that runs a
    /// command must answer no: a pull request must never make paysync run something.
    pub fn readable_at_plan_time(self) -> bool {
        match self {
            SecretSource::Env | SecretSource::File => true,
        }
    }
}

/// The sources as messages name them: `` `env:NAME` or `file:PATH` ``.
pub fn forms() -> String {
    let forms: Vec<String> = SecretSource::ALL
        .iter()
        .map(|s| format!("`{}`", s.form()))
        .collect();
    match forms.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A regular expression matching a reference of any source, for the manifest schema.
pub fn pattern() -> String {
    let alternatives: Vec<&str> = SecretSource::ALL.iter().map(|s| s.pattern()).collect();
    format!("^({})$", alternatives.join("|"))
}

/// The sources with what each reads, for the manifest schema: `` `env:NAME`
/// (environment variable) or `file:PATH` (file contents, ...) ``.
pub fn described_forms() -> String {
    let forms: Vec<String> = SecretSource::ALL
        .iter()
        .map(|s| format!("`{}` ({})", s.form(), s.description()))
        .collect();
    forms.join(" or ")
}

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
    #[error("unknown secret source in {reference:?}: expected {}", forms())]
    UnknownSource { reference: String },
    #[error(
        "invalid environment variable name {name:?} in `env:` reference: use letters, digits and `_`, not starting with a digit"
    )]
    BadEnvName { name: String },
    #[error("empty path in `file:` reference")]
    EmptyPath,
}

impl SecretRef {
    /// Parses a reference as a manifest writes it; a `file:` path is taken relative to
    /// `manifest_dir`. The one parser: a reference recorded elsewhere is read with
    /// `str::parse` ([`std::str::FromStr`]), which is this with no directory.
    pub fn parse(reference: &str, manifest_dir: &Path) -> Result<SecretRef, SecretRefError> {
        let unknown = || SecretRefError::UnknownSource {
            reference: reference.to_owned(),
        };
        let (prefix, rest) = reference.split_once(':').ok_or_else(unknown)?;
        let source = SecretSource::ALL
            .iter()
            .find(|s| s.prefix() == prefix)
            .ok_or_else(unknown)?;
        match source {
            SecretSource::Env => parse_env(rest),
            SecretSource::File => parse_file(rest, manifest_dir),
        }
    }

    /// The source this reference reads.
    pub fn source(&self) -> SecretSource {
        match self {
            SecretRef::Env { .. } => SecretSource::Env,
            SecretRef::File { .. } => SecretSource::File,
        }
    }

    /// Whether this reference names the same secret as `other` as written (a `file:`
    /// reference is the same whatever directory its path was resolved from).
    pub fn same_as_written(&self, other: &SecretRef) -> bool {
        match (self, other) {
            (SecretRef::Env { name: a }, SecretRef::Env { name: b }) => a == b,
            (SecretRef::File { written: a, .. }, SecretRef::File { written: b, .. }) => a == b,
            (SecretRef::Env { .. } | SecretRef::File { .. }, _) => false,
        }
    }
}

impl std::str::FromStr for SecretRef {
    type Err = SecretRefError;

    /// A reference as recorded (a state file, a saved plan): [`SecretRef::parse`] with no
    /// manifest directory (a `file:` path is kept as written).
    fn from_str(reference: &str) -> Result<SecretRef, SecretRefError> {
        SecretRef::parse(reference, Path::new(""))
    }
}

/// Serde as the reference's text (`env:NAME`), parsed by the one grammar: for references
/// recorded in files paysync reads back (`#[serde(with = "crate::secrets::as_text")]`).
pub mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secrets::reference::SecretRef;

    pub fn serialize<S: Serializer>(r: &SecretRef, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(r)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretRef, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = match self {
            SecretRef::Env { name } => name,
            SecretRef::File { written, .. } => written,
        };
        write!(f, "{}:{rest}", self.source().prefix())
    }
}

/// `NAME` of `env:NAME`: letters, digits and `_`, not starting with a digit.
fn parse_env(name: &str) -> Result<SecretRef, SecretRefError> {
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
}

/// `PATH` of `file:PATH`, read from `manifest_dir`.
fn parse_file(written: &str, manifest_dir: &Path) -> Result<SecretRef, SecretRefError> {
    if written.is_empty() {
        return Err(SecretRefError::EmptyPath);
    }
    Ok(SecretRef::File {
        written: written.to_owned(),
        path: manifest_dir.join(written),
    })
}

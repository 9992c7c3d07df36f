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
    /// `sops:PATH#KEY`: a value in a SOPS-encrypted YAML or JSON file, PATH relative to
    /// the manifest, KEY a dotted path into the decrypted document.
    Sops,
    /// `vault:MOUNT/PATH#FIELD`: a field of a KV version 2 secret in Vault or OpenBao.
    Vault,
    /// `exec:NAME[#ARGUMENT]`: the answer of a command declared in `paysync.yaml`.
    Exec,
}

impl SecretSource {
    /// Every source, in the order messages list them.
    pub const ALL: &[SecretSource] = &[
        SecretSource::Env,
        SecretSource::File,
        SecretSource::Sops,
        SecretSource::Vault,
        SecretSource::Exec,
    ];

    /// The prefix before the `:` (`env`).
    pub fn prefix(self) -> &'static str {
        match self {
            SecretSource::Env => "env",
            SecretSource::File => "file",
            SecretSource::Sops => "sops",
            SecretSource::Vault => "vault",
            SecretSource::Exec => "exec",
        }
    }

    /// How a reference of this source is written (`env:NAME`).
    pub fn form(self) -> &'static str {
        match self {
            SecretSource::Env => "env:NAME",
            SecretSource::File => "file:PATH",
            SecretSource::Sops => "sops:PATH#KEY",
            SecretSource::Vault => "vault:MOUNT/PATH#FIELD",
            SecretSource::Exec => "exec:NAME",
        }
    }

    /// What the source reads, for the schema and the docs.
    pub fn description(self) -> &'static str {
        match self {
            SecretSource::Env => "environment variable",
            SecretSource::File => {
                "file contents, one trailing newline stripped; PATH relative to the manifest"
            }
            SecretSource::Sops => {
                "a value in a SOPS-encrypted YAML or JSON file, decrypted with `sops`; PATH \
                 relative to the manifest, KEY a dotted path (`acme.api_key`, a segment with \
                 dots quoted: `acme.\"key.v2\"`)"
            }
            SecretSource::Vault => {
                "a field of a KV version 2 secret in Vault or OpenBao (VAULT_ADDR, VAULT_TOKEN)"
            }
            SecretSource::Exec => {
                "the answer of the command NAME declared in paysync.yaml's `secrets.exec` \
                 (`exec:NAME#ARGUMENT` passes ARGUMENT); run by apply, never by a plan \
                 without --resolve-secrets"
            }
        }
    }

    /// A regular expression for a reference of this source, for the schema.
    pub fn pattern(self) -> &'static str {
        match self {
            SecretSource::Env => "env:[A-Za-z_][A-Za-z0-9_]*",
            SecretSource::File => "file:.+",
            SecretSource::Sops => "sops:[^#]+#.+",
            SecretSource::Vault => "vault:[^/#]+/[^#]+#.+",
            SecretSource::Exec => "exec:[A-Za-z0-9_-]+(#.+)?",
        }
    }

    /// Whether a `plan` (a pull request's, say) may read it. A source that runs a
    /// command must answer no: a pull request must never make paysync run something.
    pub fn readable_at_plan_time(self) -> bool {
        match self {
            SecretSource::Env | SecretSource::File | SecretSource::Sops | SecretSource::Vault => {
                true
            }
            SecretSource::Exec => false,
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
    /// `sops:PATH#KEY`: `written` is PATH as the manifest has it, `path` where the file is
    /// read from, `key` the segments of KEY.
    Sops {
        written: String,
        path: PathBuf,
        key: Vec<String>,
    },
    /// `vault:MOUNT/PATH#FIELD`.
    Vault {
        mount: String,
        path: String,
        field: String,
    },
    /// `exec:NAME[#ARGUMENT]`.
    Exec {
        name: String,
        argument: Option<String>,
    },
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
    #[error(
        "invalid `sops:` reference {reference:?}: {reason} (the form is sops:PATH#KEY, e.g. \
         sops:secrets/prod.enc.yaml#acme.api_key; a key segment with dots is quoted: \
         #acme.\"key.v2\")"
    )]
    BadSops { reference: String, reason: String },
    #[error(
        "invalid `vault:` reference {reference:?}: the form is vault:MOUNT/PATH#FIELD, e.g. \
         vault:secret/paysync/acme#api_key"
    )]
    BadVault { reference: String },
    #[error(
        "invalid `exec:` reference {reference:?}: the form is exec:NAME or exec:NAME#ARGUMENT, \
         NAME a command declared in paysync.yaml (letters, digits, `_`, `-`)"
    )]
    BadExec { reference: String },
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
            SecretSource::Sops => parse_sops(reference, rest, manifest_dir),
            SecretSource::Vault => parse_vault(reference, rest),
            SecretSource::Exec => parse_exec(reference, rest),
        }
    }

    /// The source this reference reads.
    pub fn source(&self) -> SecretSource {
        match self {
            SecretRef::Env { .. } => SecretSource::Env,
            SecretRef::File { .. } => SecretSource::File,
            SecretRef::Sops { .. } => SecretSource::Sops,
            SecretRef::Vault { .. } => SecretSource::Vault,
            SecretRef::Exec { .. } => SecretSource::Exec,
        }
    }

    /// The file this reference reads, for the sources that read one from the manifest's
    /// directory (`file:`, `sops:`).
    pub fn path(&self) -> Option<&Path> {
        match self {
            SecretRef::File { path, .. } | SecretRef::Sops { path, .. } => Some(path),
            SecretRef::Env { .. } | SecretRef::Vault { .. } | SecretRef::Exec { .. } => None,
        }
    }

    /// This reference reading its file from `to` (a saved plan records where the file was
    /// found); a reference without a file is returned as it is.
    pub fn with_path(self, to: PathBuf) -> SecretRef {
        match self {
            SecretRef::File { written, .. } => SecretRef::File { written, path: to },
            SecretRef::Sops { written, key, .. } => SecretRef::Sops {
                written,
                path: to,
                key,
            },
            other @ (SecretRef::Env { .. } | SecretRef::Vault { .. } | SecretRef::Exec { .. }) => {
                other
            }
        }
    }

    /// Whether this reference names the same secret as `other` as written (a `file:`
    /// reference is the same whatever directory its path was resolved from).
    pub fn same_as_written(&self, other: &SecretRef) -> bool {
        match (self, other) {
            (SecretRef::Env { name: a }, SecretRef::Env { name: b }) => a == b,
            (SecretRef::File { written: a, .. }, SecretRef::File { written: b, .. }) => a == b,
            (
                SecretRef::Sops {
                    written: a, key: x, ..
                },
                SecretRef::Sops {
                    written: b, key: y, ..
                },
            ) => a == b && x == y,
            (SecretRef::Vault { .. }, SecretRef::Vault { .. })
            | (SecretRef::Exec { .. }, SecretRef::Exec { .. }) => self == other,
            (
                SecretRef::Env { .. }
                | SecretRef::File { .. }
                | SecretRef::Sops { .. }
                | SecretRef::Vault { .. }
                | SecretRef::Exec { .. },
                _,
            ) => false,
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

    /// Of a reference, or of a box holding one.
    pub fn serialize<S: Serializer, R: std::fmt::Display>(r: &R, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(r)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretRef, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.source().prefix();
        match self {
            SecretRef::Env { name } => write!(f, "{prefix}:{name}"),
            SecretRef::File { written, .. } => write!(f, "{prefix}:{written}"),
            SecretRef::Sops { written, key, .. } => {
                write!(f, "{prefix}:{written}#{}", key_text(key))
            }
            SecretRef::Vault { mount, path, field } => {
                write!(f, "{prefix}:{mount}/{path}#{field}")
            }
            SecretRef::Exec { name, argument } => match argument {
                Some(argument) => write!(f, "{prefix}:{name}#{argument}"),
                None => write!(f, "{prefix}:{name}"),
            },
        }
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

/// `PATH#KEY` of `sops:PATH#KEY`: PATH up to the first `#`, read from `manifest_dir`;
/// KEY split into its segments.
fn parse_sops(
    reference: &str,
    rest: &str,
    manifest_dir: &Path,
) -> Result<SecretRef, SecretRefError> {
    let bad = |reason: &str| SecretRefError::BadSops {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    let (written, key) = rest
        .split_once('#')
        .ok_or_else(|| bad("no `#KEY` after the path"))?;
    if written.is_empty() {
        return Err(bad("empty path"));
    }
    let key = key_segments(key).map_err(|reason| bad(&reason))?;
    Ok(SecretRef::Sops {
        written: written.to_owned(),
        path: manifest_dir.join(written),
        key,
    })
}

/// The segments of a dotted key: `acme.api_key` → [acme, api_key]; a segment in double
/// quotes may hold dots (`acme."key.v2"`); no segment is empty.
pub(crate) fn key_segments(key: &str) -> Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut rest = key;
    loop {
        let (segment, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| "a quoted key segment is not closed".to_owned())?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            if rest[..end].contains('"') {
                return Err("a quote inside an unquoted key segment".to_owned());
            }
            (&rest[..end], &rest[end..])
        };
        if segment.is_empty() {
            return Err("an empty key segment".to_owned());
        }
        segments.push(segment.to_owned());
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.is_empty() => return Ok(segments),
            None => {
                return Err(
                    "a quoted key segment must be followed by `.` or end the key".to_owned(),
                );
            }
        }
    }
}

/// KEY as written: segments joined by dots, a segment with a dot (or a quote-free one
/// that needs it) quoted.
pub(crate) fn key_text(key: &[String]) -> String {
    key.iter()
        .map(|s| {
            if s.contains('.') || s.is_empty() {
                format!("\"{s}\"")
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `MOUNT/PATH#FIELD` of `vault:MOUNT/PATH#FIELD`.
fn parse_vault(reference: &str, rest: &str) -> Result<SecretRef, SecretRefError> {
    let bad = || SecretRefError::BadVault {
        reference: reference.to_owned(),
    };
    let (location, field) = rest.split_once('#').ok_or_else(bad)?;
    let (mount, path) = location.split_once('/').ok_or_else(bad)?;
    let clean = |s: &str| {
        !s.is_empty()
            && !s.chars().any(|c| c.is_control() || c == '?' || c == '#')
            && !s.split('/').any(|p| p.is_empty() || p == "." || p == "..")
    };
    if !clean(mount) || !clean(path) || field.is_empty() || field.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(SecretRef::Vault {
        mount: mount.to_owned(),
        path: path.to_owned(),
        field: field.to_owned(),
    })
}

/// `NAME[#ARGUMENT]` of `exec:NAME[#ARGUMENT]`.
fn parse_exec(reference: &str, rest: &str) -> Result<SecretRef, SecretRefError> {
    let (name, argument) = match rest.split_once('#') {
        Some((name, argument)) => (name, Some(argument)),
        None => (rest, None),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && argument.is_none_or(|a| !a.is_empty() && !a.chars().any(char::is_control));
    if !valid {
        return Err(SecretRefError::BadExec {
            reference: reference.to_owned(),
        });
    }
    Ok(SecretRef::Exec {
        name: name.to_owned(),
        argument: argument.map(str::to_owned),
    })
}

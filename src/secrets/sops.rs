//! `sops:PATH#KEY`: a value in a SOPS-encrypted YAML or JSON file.
//!
//! paysync runs `sops --decrypt --output-type json PATH` (argv only; `PAYSYNC_SOPS` names
//! another binary) once per file per run, however many references it serves, with a
//! timeout and a bounded output, and walks KEY through the decrypted document. The age
//! identity comes from `SOPS_AGE_KEY_FILE` / `SOPS_AGE_KEY`, read like credentials (under
//! an environment, only through its `credentials` mapping, so test and prod files are
//! encrypted to different keys); sops never sees an identity the environment does not map.
//! Every text value of a decrypted document is registered with the scrubber: the whole
//! file was secret. Nothing decrypted is written anywhere.

use std::path::Path;
use std::time::Duration;

use super::command::{self, RunError};
use super::redacted::Redacted;
use super::reference::key_text;
use crate::variables::Variables;

/// The variable naming the `sops` binary (default: `sops` on the PATH).
pub const ENV_SOPS: &str = "PAYSYNC_SOPS";
pub const ENV_AGE_KEY_FILE: &str = "SOPS_AGE_KEY_FILE";
pub const ENV_AGE_KEY: &str = "SOPS_AGE_KEY";

/// How long one decryption may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest decrypted document, in bytes.
const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// Why a `sops:` secret could not be read. Never carries a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SopsError {
    #[error("secret sops:{written}: cannot decrypt {}: {message}", path)]
    Decrypt {
        written: String,
        path: String,
        message: String,
    },
    #[error("secret sops:{written}#{key}: {message}")]
    Key {
        written: String,
        key: String,
        message: String,
    },
}

/// Decrypts `path` (as `written` in the manifest) with the identities `vars` map: the
/// document, every text value registered with the scrubber.
pub(super) fn decrypt(
    vars: &Variables,
    written: &str,
    path: &Path,
) -> Result<serde_json::Value, SopsError> {
    let fail = |message: String| SopsError::Decrypt {
        written: written.to_owned(),
        path: path.display().to_string(),
        message,
    };
    // A regular file only: sops reading a FIFO or a device would wait or never end.
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) => {
            return Err(fail(format!(
                "it is {}, not a regular file",
                crate::files::kind_of(meta.file_type())
            )));
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    let program = std::env::var_os(ENV_SOPS)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "sops".into());
    let mut command = tokio::process::Command::new(&program);
    command
        .args(["--decrypt", "--output-type", "json", "--"])
        .arg(path)
        .env_remove(ENV_AGE_KEY_FILE)
        .env_remove(ENV_AGE_KEY);
    let mut identities = 0;
    for var in [ENV_AGE_KEY_FILE, ENV_AGE_KEY] {
        let value = vars.read(var).map_err(|e| fail(e.to_string()))?;
        if let Some(value) = value {
            if var == ENV_AGE_KEY {
                crate::untrusted::remember_secret(&value);
            }
            command.env(var, value);
            identities += 1;
        }
    }
    // Under an environment, sops sees only the identities it maps: never one of sops's
    // own defaults (another environment's key in ~/.config/sops/age/keys.txt, say).
    if identities == 0
        && let Some(environment) = vars.environment()
    {
        return Err(fail(format!(
            "environment {environment} maps no age identity: map {} or {} in its `credentials`",
            ENV_AGE_KEY_FILE, ENV_AGE_KEY
        )));
    }
    let finished = command::run(command, None, TIMEOUT, MAX_DOCUMENT_BYTES).map_err(|e| {
        fail(match e {
            RunError::Start { .. } => format!("{e} (install sops, or name it with {ENV_SOPS})"),
            other => other.to_string(),
        })
    })?;
    if !finished.success {
        let hint = if identities == 0 {
            format!(
                "; no age identity was given: set {} or {}",
                vars.shown(ENV_AGE_KEY_FILE),
                vars.shown(ENV_AGE_KEY)
            )
        } else {
            String::new()
        };
        return Err(fail(format!(
            "sops exited with {}: {}{hint}",
            finished
                .code
                .map_or("a signal".to_owned(), |c| format!("code {c}")),
            command::stderr_text(&finished.stderr)
        )));
    }
    let document: serde_json::Value = serde_json::from_slice(&finished.stdout)
        .map_err(|_| fail("sops's output is not a JSON document".to_owned()))?;
    remember_texts(&document);
    Ok(document)
}

/// Registers every text value of `value` with the scrubber.
fn remember_texts(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => crate::untrusted::remember_secret(s),
        serde_json::Value::Array(items) => items.iter().for_each(remember_texts),
        serde_json::Value::Object(map) => map.values().for_each(remember_texts),
        _ => {}
    }
}

/// The value at `key` in a decrypted document: text as it is, a number or a boolean as
/// written; anything else (a mapping, a list, null, nothing) is an error naming the key.
pub(super) fn lookup(
    document: &serde_json::Value,
    written: &str,
    key: &[String],
) -> Result<Redacted<String>, SopsError> {
    let fail = |message: String| SopsError::Key {
        written: written.to_owned(),
        key: key_text(key),
        message,
    };
    let mut at = document;
    for (i, segment) in key.iter().enumerate() {
        at = match at {
            serde_json::Value::Object(map) => map.get(segment).ok_or_else(|| {
                fail(format!(
                    "the decrypted file has no key {:?} at {}",
                    segment,
                    if i == 0 {
                        "its top".to_owned()
                    } else {
                        key_text(&key[..i])
                    }
                ))
            })?,
            _ => {
                return Err(fail(format!("{} is not a mapping", key_text(&key[..i]))));
            }
        };
    }
    match at {
        serde_json::Value::String(s) => Ok(Redacted::new(s.clone())),
        serde_json::Value::Number(n) => Ok(Redacted::new(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Redacted::new(b.to_string())),
        serde_json::Value::Null => Err(fail("the value is null".to_owned())),
        _ => Err(fail(
            "the value is a mapping or a list, not text".to_owned(),
        )),
    }
}

//! `env:NAME`: a secret in an environment variable.

use super::redacted::Redacted;

/// Why an `env:` secret could not be read. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `hint`: ` (did you mean `NAME`?)` when a variable of a near name is set (names
    /// only: no value is ever looked at), else empty.
    #[error("environment variable {name} (secret env:{name}) is not set{hint}")]
    Missing { name: String, hint: String },
    #[error("environment variable {name} (secret env:{name}) is not valid UTF-8")]
    NotUnicode { name: String },
}

/// The variable's value (possibly empty: the caller refuses that).
pub(super) fn read(name: &str) -> Result<Redacted<String>, EnvError> {
    match std::env::var(name) {
        Ok(value) => Ok(Redacted::new(value)),
        Err(std::env::VarError::NotPresent) => {
            let names: Vec<String> = std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .collect();
            Err(EnvError::Missing {
                name: name.to_owned(),
                hint: crate::wording::did_you_mean(name, names.iter().map(String::as_str)),
            })
        }
        Err(std::env::VarError::NotUnicode(_)) => Err(EnvError::NotUnicode {
            name: name.to_owned(),
        }),
    }
}

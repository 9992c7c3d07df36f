//! Where a state lives: [`StateLocation`], parsed once from `--state`, an environment's
//! `state:` or `PAYSYNC_STATE`, and shown in every message about the state.
//!
//! - a path: a local file ([`StateLocation::File`]);
//! - `s3://BUCKET/KEY`: an object in an S3-compatible store ([`StateLocation::S3`]);
//! - `https://...` (plain `http://` only to a loopback address): a state service speaking
//!   the Terraform HTTP backend protocol, as GitLab-managed state does
//!   ([`StateLocation::Http`]).
//!
//! Each kind has its backend ([`super::open`]). A location never holds a credential: a URL
//! with user info is refused (the store's credentials come from variables, so they never
//! reach a message that names the location).

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;

/// Where a state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A file on the local file system (a symlink is followed to the file it names).
    File(PathBuf),
    /// The object `key` in `bucket` of an S3-compatible store.
    S3 { bucket: String, key: String },
    /// The address of a state in a Terraform-HTTP-backend service (GitLab's
    /// `/api/v4/projects/:id/terraform/state/:name`).
    Http(Box<Url>),
}

/// Why a value cannot name a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a state location: {reason}")]
pub struct LocationError {
    pub given: String,
    pub reason: String,
}

impl StateLocation {
    /// The location a command-line, project-file or `PAYSYNC_STATE` value names: an
    /// `s3://` or `http(s)://` URL, else a path (relative to the current directory, as
    /// given).
    pub fn parse(text: impl Into<PathBuf>) -> Result<StateLocation, LocationError> {
        let path = text.into();
        let Some(text) = path.to_str() else {
            return Ok(StateLocation::File(path));
        };
        let scheme = text
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let fail = |reason: &str| LocationError {
            given: text.to_owned(),
            reason: reason.to_owned(),
        };
        match scheme.as_deref() {
            Some("s3") => {
                let rest = &text["s3://".len()..];
                let (bucket, key) = rest.split_once('/').ok_or_else(|| {
                    fail(
                        "an S3 location is s3://BUCKET/KEY, with the object's key after the bucket",
                    )
                })?;
                if !valid_bucket(bucket) {
                    return Err(fail(
                        "the bucket name must be 3 to 63 lowercase letters, digits, dots or \
                         hyphens",
                    ));
                }
                if key.is_empty() || key.ends_with('/') || key.len() > 900 {
                    return Err(fail(
                        "the key must name an object (not end with `/`), at most 900 bytes",
                    ));
                }
                if key.chars().any(char::is_control) {
                    return Err(fail("the key must not hold control characters"));
                }
                Ok(StateLocation::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            }
            Some("http" | "https") => {
                let url = Url::parse(text).map_err(|_| LocationError {
                    // Not shown: a malformed URL may still hold a password.
                    given: format!("{}://...", scheme.as_deref().unwrap_or_default()),
                    reason: "not a valid URL".to_owned(),
                })?;
                if !url.username().is_empty() || url.password().is_some() {
                    let mut shown = url.clone();
                    let _ = shown.set_username("");
                    let _ = shown.set_password(None);
                    return Err(LocationError {
                        given: shown.to_string(),
                        reason: "a state URL must not hold credentials: set \
                                 PAYSYNC_STATE_USERNAME and PAYSYNC_STATE_PASSWORD instead"
                            .to_owned(),
                    });
                }
                if url.fragment().is_some() || url.query().is_some() {
                    return Err(fail("a state URL has no query or fragment"));
                }
                if url.scheme() == "http" && !crate::net::is_loopback(&url) {
                    return Err(fail(
                        "a state service is reached over https (plain http only to a loopback \
                         address)",
                    ));
                }
                Ok(StateLocation::Http(Box::new(url)))
            }
            Some(other) if !other.contains(['/', '\\', '.']) => Err(fail(&format!(
                "`{other}://` is not a kind of state paysync knows: a path, s3://BUCKET/KEY or \
                 an https:// address"
            ))),
            _ => Ok(StateLocation::File(path)),
        }
    }

    /// [`StateLocation::parse`], a relative path taken relative to `dir` (a project
    /// file's directory); URLs as they are.
    pub fn parse_in(text: &str, dir: &Path) -> Result<StateLocation, LocationError> {
        match StateLocation::parse(text)? {
            StateLocation::File(path) if path.is_relative() && !dir.as_os_str().is_empty() => {
                Ok(StateLocation::File(dir.join(path)))
            }
            other => Ok(other),
        }
    }

    /// The file, for a file location.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            StateLocation::File(path) => Some(path),
            _ => None,
        }
    }

    /// Whether the state lives outside this machine (a store shared by a team).
    pub fn is_remote(&self) -> bool {
        !matches!(self, StateLocation::File(_))
    }
}

/// S3's bucket naming rules (the DNS-compatible subset every store accepts).
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

impl From<PathBuf> for StateLocation {
    fn from(path: PathBuf) -> StateLocation {
        StateLocation::File(path)
    }
}

impl From<&Path> for StateLocation {
    fn from(path: &Path) -> StateLocation {
        StateLocation::File(path.to_owned())
    }
}

impl fmt::Display for StateLocation {
    /// As messages show it: a file as its path, an object as `s3://bucket/key`, a service
    /// as its address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(path) => write!(f, "{}", path.display()),
            StateLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            StateLocation::Http(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_objects_and_services_are_told_apart() {
        assert_eq!(
            StateLocation::parse("state/prod.json").unwrap(),
            StateLocation::File("state/prod.json".into())
        );
        assert_eq!(
            StateLocation::parse("s3://team-state/paysync/prod.json").unwrap(),
            StateLocation::S3 {
                bucket: "team-state".into(),
                key: "paysync/prod.json".into()
            }
        );
        let gitlab = "https://gitlab.com/api/v4/projects/7/terraform/state/prod";
        assert_eq!(
            StateLocation::parse(gitlab).unwrap().to_string(),
            gitlab.to_owned()
        );
        assert!(StateLocation::parse("http://127.0.0.1:8080/state").is_ok());
        for bad in [
            "s3://bucket",
            "s3://bucket/",
            "s3://Bad_Bucket/key",
            "http://gitlab.example.com/state",
            "https://user:pw@gitlab.com/state",
            "https://gitlab.com/state?x=1",
            "gs://bucket/key",
        ] {
            let error = StateLocation::parse(bad).unwrap_err();
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }
}

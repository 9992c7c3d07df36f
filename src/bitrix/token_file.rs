//! The token file (`PAYSYNC_TOKEN_FILE`): the OAuth token pair kept between runs.
//!
//! JSON `{"access_token", "refresh_token", "expires"?, "saved_at"?,
//! "refresh_token_obtained_at"?, "client_endpoint"?}` (`expires`: Unix time the access
//! token expires; `saved_at`: Unix time of the write; `refresh_token_obtained_at`: Unix
//! time the refresh token was issued, for the warning before its 180 days run out;
//! `client_endpoint`: the REST base the last refresh answer named, once accepted),
//! written atomically with mode 0600 after every successful refresh ([`super::oauth`],
//! `paysync auth refresh`), read at start by [`super::credentials`], where it takes
//! precedence over the environment's tokens, which are older. A leaf module: it knows
//! nothing of either. Files written before the last two fields existed are read as
//! "unknown" for both.
//!
//! Errors describe a bad file by field name and position, never by content.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::secrets::Redacted;

/// The environment variable naming the token file.
pub const ENV_TOKEN_FILE: &str = "PAYSYNC_TOKEN_FILE";

/// Why the token file cannot be used. `reason` never quotes its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token file {} ({ENV_TOKEN_FILE}) is not usable: {reason}", path.display())]
pub struct TokenFileError {
    pub path: PathBuf,
    pub reason: String,
}

/// The largest token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 1 << 20;

/// A token pair as stored in the token file.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub access_token: Redacted<String>,
    pub refresh_token: Redacted<String>,
    /// Unix time the access token expires, when known.
    pub expires: Option<i64>,
    /// Unix time the file was written, when known.
    pub saved_at: Option<i64>,
    /// Unix time the refresh token was obtained (issued by a refresh), when known.
    pub refresh_obtained_at: Option<i64>,
    /// The REST base (`https://<portal>/rest/`) the refresh answer named
    /// (`client_endpoint`), as accepted by [`super::credentials::accept_client_endpoint`];
    /// checked again when read. Not a secret.
    pub client_endpoint: Option<String>,
}

/// The field recording when the refresh token was obtained.
pub const OBTAINED_AT_FIELD: &str = "refresh_token_obtained_at";

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires", &self.expires)
            .field("saved_at", &self.saved_at)
            .field("refresh_obtained_at", &self.refresh_obtained_at)
            .field("client_endpoint", &self.client_endpoint)
            .finish()
    }
}

/// Reads the token file: `Ok(None)` when it does not exist; an error when it exists but
/// cannot be read or is not a token file. Error messages describe the problem by field
/// name and position, never by content.
pub fn read_token_file(path: &Path) -> Result<Option<StoredTokens>, TokenFileError> {
    let bad = |reason: String| TokenFileError {
        path: path.to_owned(),
        reason,
    };
    let text = match crate::files::read_regular(path, MAX_TOKEN_FILE_BYTES) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    // serde_json's syntax errors give a position only; type errors could quote a value,
    // so the fields are checked by hand below.
    let json: Value = serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(object) = json else {
        return Err(bad("expected a JSON object".into()));
    };
    let token = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Redacted::new(s.trim().to_owned())),
        Some(_) => Err(bad(format!("`{name}` must be a non-empty string"))),
        None => Err(bad(format!("`{name}` is missing"))),
    };
    let number = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| bad(format!("`{name}` must be a Unix time"))),
        Some(_) => Err(bad(format!("`{name}` must be a Unix time"))),
    };
    let client_endpoint = match object.get("client_endpoint") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(_) => return Err(bad("`client_endpoint` must be a URL".into())),
    };
    Ok(Some(StoredTokens {
        access_token: token("access_token")?,
        refresh_token: token("refresh_token")?,
        expires: number("expires")?,
        saved_at: number("saved_at")?,
        refresh_obtained_at: number(OBTAINED_AT_FIELD)?,
        client_endpoint,
    }))
}

/// Holds the token file's lock (`<token file>.lock`, an OS lock the kernel releases if
/// the process dies) until dropped: refreshes of runs sharing one token file take turns.
#[derive(Debug)]
pub struct TokenFileLock {
    _file: std::fs::File,
}

/// Takes the token file's lock, waiting (on the async runtime, polling) for another run's
/// refresh to finish: Bitrix24 rotates the refresh token, so two runs refreshing with the
/// same one would have the second refused (`invalid_grant`) while the file holds a
/// working pair. Whoever takes the lock second re-reads the file first. Gives up after
/// `patience` (a refresh takes one request to the token endpoint).
pub async fn lock_token_file(
    path: &Path,
    patience: std::time::Duration,
) -> std::io::Result<TokenFileLock> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(&lock_path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot create its lock file {}: {e}", lock_path.display()),
        )
    })?;
    let started = tokio::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(TokenFileLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < patience => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another run holds its lock {} for more than {}s",
                        lock_path.display(),
                        patience.as_secs()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Writes the token file atomically (temporary file, fsync, rename). The temporary file
/// is created with mode 0600 on Unix, and the rename keeps it.
pub fn write_token_file(path: &Path, tokens: &StoredTokens) -> std::io::Result<()> {
    let mut object = Map::new();
    object.insert(
        "access_token".into(),
        Value::String(tokens.access_token.expose().clone()),
    );
    object.insert(
        "refresh_token".into(),
        Value::String(tokens.refresh_token.expose().clone()),
    );
    if let Some(expires) = tokens.expires {
        object.insert("expires".into(), Value::from(expires));
    }
    if let Some(saved_at) = tokens.saved_at {
        object.insert("saved_at".into(), Value::from(saved_at));
    }
    if let Some(obtained) = tokens.refresh_obtained_at {
        object.insert(OBTAINED_AT_FIELD.into(), Value::from(obtained));
    }
    if let Some(endpoint) = &tokens.client_endpoint {
        object.insert("client_endpoint".into(), Value::String(endpoint.clone()));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(object))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    text.push('\n');
    crate::files::write_atomically(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

pub(crate) fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-token-file-2c4d";

    fn r(s: &str) -> Redacted<String> {
        Redacted::new(s.to_owned())
    }

    #[test]
    fn stored_tokens_debug_is_redacted() {
        let stored = StoredTokens {
            access_token: r(CANARY),
            refresh_token: r(CANARY),
            expires: Some(5),
            saved_at: None,
            refresh_obtained_at: None,
            client_endpoint: None,
        };
        let text = format!("{stored:?} {stored:#?}");
        assert!(!text.contains(CANARY), "{text}");
    }

    #[test]
    fn token_file_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        assert_eq!(read_token_file(&path).unwrap(), None);
        let stored = StoredTokens {
            access_token: r("A1"),
            refresh_token: r("R1"),
            expires: Some(1_700_003_600),
            saved_at: Some(1_700_000_000),
            refresh_obtained_at: Some(1_699_999_000),
            client_endpoint: Some("https://p.example/rest/".into()),
        };
        write_token_file(&path, &stored).unwrap();
        assert_eq!(read_token_file(&path).unwrap(), Some(stored));
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"access_token": "A1", "refresh_token": "R1",
                "expires": 1_700_003_600, "saved_at": 1_700_000_000,
                "refresh_token_obtained_at": 1_699_999_000,
                "client_endpoint": "https://p.example/rest/"})
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // `expires`, `saved_at` and the newer fields are optional (older files).
        std::fs::write(&path, r#"{"access_token":"A","refresh_token":"R"}"#).unwrap();
        let read = read_token_file(&path).unwrap().unwrap();
        assert_eq!((read.expires, read.saved_at), (None, None));
        assert_eq!(
            (read.refresh_obtained_at, read.client_endpoint),
            (None, None)
        );
    }

    #[test]
    fn a_bad_token_file_is_an_error_that_shows_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let cases = [
            (
                format!("{{\"access_token\": \"{CANARY}\""),
                "not valid JSON",
            ),
            (format!("[\"{CANARY}\"]"), "expected a JSON object"),
            (
                format!("{{\"access_token\": \"{CANARY}\"}}"),
                "`refresh_token` is missing",
            ),
            (
                format!("{{\"access_token\": 5, \"refresh_token\": \"{CANARY}\"}}"),
                "`access_token` must be a non-empty string",
            ),
            (
                format!("{{\"access_token\": \"{CANARY}\", \"refresh_token\": \"\"}}"),
                "`refresh_token` must be a non-empty string",
            ),
            (
                format!(
                    "{{\"access_token\": \"a\", \"refresh_token\": \"b\", \"expires\": \"{CANARY}\"}}"
                ),
                "`expires` must be a Unix time",
            ),
            (
                format!(
                    "{{\"access_token\": \"a\", \"refresh_token\": \"b\", \"refresh_token_obtained_at\": \"{CANARY}\"}}"
                ),
                "`refresh_token_obtained_at` must be a Unix time",
            ),
            (
                format!(
                    "{{\"access_token\": \"a\", \"refresh_token\": \"b\", \"client_endpoint\": [\"{CANARY}\"]}}"
                ),
                "`client_endpoint` must be a URL",
            ),
        ];
        for (content, expected) in cases {
            std::fs::write(&path, &content).unwrap();
            let err = read_token_file(&path).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(text.contains(expected), "{content}: {text}");
            assert!(text.contains("tokens.json"), "{text}");
            assert!(!text.contains(CANARY), "{text}");
        }
        // A directory cannot be read as a file.
        let err = read_token_file(dir.path()).unwrap_err();
        assert!(err.to_string().contains("cannot read it"), "{err}");
    }
}

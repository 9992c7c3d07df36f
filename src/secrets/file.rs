//! `file:PATH`: a secret in a file, PATH relative to the manifest.

use std::path::{Path, PathBuf};

use super::redacted::Redacted;

/// The largest `file:` secret read (a certificate chain is a few KiB).
pub const MAX_SECRET_FILE_BYTES: u64 = 1 << 20;

/// Why a `file:` secret could not be read. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read secret file:{written} ({}): {error}", path.display())]
    Unreadable {
        written: String,
        path: PathBuf,
        error: crate::files::ReadError,
    },
    #[error("secret file:{written} ({}) is not valid UTF-8", path.display())]
    NotUnicode { written: String, path: PathBuf },
}

/// The file's text with one trailing newline (`\n` or `\r\n`) stripped: a regular file
/// of at most [`MAX_SECRET_FILE_BYTES`].
pub(super) fn read(written: &str, path: &Path) -> Result<Redacted<String>, FileError> {
    let bytes = crate::files::read_regular(path, MAX_SECRET_FILE_BYTES).map_err(|error| {
        FileError::Unreadable {
            written: written.to_owned(),
            path: path.to_owned(),
            error,
        }
    })?;
    let mut text = String::from_utf8(bytes).map_err(|_| FileError::NotUnicode {
        written: written.to_owned(),
        path: path.to_owned(),
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Redacted::new(text))
}

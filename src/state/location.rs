//! Where a state lives: [`StateLocation`], parsed once from `--state`, an environment's
//! `state:` or `PAYSYNC_STATE`, and shown in every message about the state.
//!
//! A local file is the only kind today; the next kinds (an object store, an HTTP state
//! service) are variants here, each with its backend ([`super::open`]).

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A file on the local file system (a symlink is followed to the file it names).
    File(PathBuf),
}

impl StateLocation {
    /// The location a command-line or project-file value names. Every value is a path
    /// today (relative to the current directory, as given).
    pub fn parse(text: impl Into<PathBuf>) -> StateLocation {
        StateLocation::File(text.into())
    }

    /// The file, for a file location.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            StateLocation::File(path) => Some(path),
        }
    }
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
    /// As messages show it: a file as its path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(path) => write!(f, "{}", path.display()),
        }
    }
}

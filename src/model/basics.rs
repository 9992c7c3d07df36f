//! The leaf types the model's modules share: where something is declared ([`Origin`],
//! [`Location`]) and how a payer type is named ([`PersonTypeRef`]). No I/O.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where something was declared, for diagnostics that point back into a manifest.
///
/// The path is shared (`Arc`): every setting of a file has an origin, and one copy of the
/// path per setting was about 50 bytes each (issue 13).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: Arc<Path>,
    /// 1-based line. Lines, columns and lengths are 32-bit (a manifest is at most 4 MiB):
    /// an origin is kept for every target and every setting (issue 13).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// How many characters the thing spans from there (a key, a value); 0 for a point
    /// (the start of a document, a YAML syntax error). Diagnostics underline it.
    pub len: u32,
}

impl Origin {
    /// A line, column or length as an origin keeps it (saturating).
    pub fn narrow(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            file: Arc::from(Path::new("")),
            line: 0,
            column: 0,
            len: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A manifest file and a line in it, shown as `file:line`: where a plan says a target
/// or a code is declared. The path is shared with the target's other locations rather
/// than written out for each (issue 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: usize,
}

impl From<&Origin> for Location {
    fn from(origin: &Origin) -> Location {
        Location {
            file: origin.file.clone(),
            line: origin.line as usize,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

impl Location {
    /// Reads `file:line`; `None` without a line after the last `:`.
    pub fn parse(text: &str) -> Option<Location> {
        let (file, line) = text.rsplit_once(':')?;
        Some(Location {
            file: Arc::from(Path::new(file)),
            line: line.parse().ok()?,
        })
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Location, D::Error> {
        let text = String::deserialize(d)?;
        Location::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected `file:line`, found {text:?}"))
        })
    }
}

/// A payer type as a manifest names it: by ID (0: the pay system's common settings), or
/// portably by `xmlId` or `code`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PersonTypeRef {
    Id(u64),
    XmlId(String),
    Code(String),
    /// `xmlId` or `code` (a `--target` that does not say which).
    Either(String),
}

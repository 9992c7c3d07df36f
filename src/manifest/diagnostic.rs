//! Located, coded problems found in manifests: the user's mistakes, collected rather
//! than returned one at a time. Rendering them for people is `render::diagnostics`.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::Origin;
use crate::wording::plural;

/// Declares [`Code`] from one table, so that the variants, [`Code::ALL`], the spellings
/// and the summaries cannot disagree.
macro_rules! codes {
    ($($variant:ident = $spelling:literal: $summary:literal,)+) => {
        /// What kind of problem a [`Diagnostic`] is. Stable: tests, scripts and docs/manifests.md
        /// refer to the spelling ([`Code::as_str`], shown as `error[code]`); docs/manifests.md
        /// lists every code with its [summary](Code::summary) (a test checks it).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $summary] $variant,)+
        }

        impl Code {
            /// Every code, in the order of docs/manifests.md.
            pub const ALL: &[Code] = &[$(Code::$variant,)+];

            /// The stable spelling, e.g. `unknown-field`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $spelling,)+
                }
            }

            /// What the code means, one line (the table of docs/manifests.md).
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)+
                }
            }
        }
    };
}

codes! {
    NotFound = "not-found": "a given path does not exist",
    Unreadable = "unreadable": "a file or directory cannot be read, or is not UTF-8",
    NotAFile = "not-a-file": "a manifest path is a FIFO, a device or a socket, not a regular file",
    TooLarge = "too-large": "a manifest file is larger than 4 MiB",
    BrokenSymlink = "broken-symlink": "a symlink in a manifest directory points at nothing",
    NoManifests = "no-manifests": "the given paths hold no `.yaml`/`.yml` file",
    EmptyFile = "empty-file": "a file has no documents",
    YamlSyntax = "yaml-syntax": "not valid YAML",
    YamlUnsupported = "yaml-unsupported": "a merge key (`<<`) or another YAML feature manifests do not use",
    YamlTag = "yaml-tag": "an explicit tag (`!!binary`, `!!str`, `!name`)",
    TabIndent = "tab-indent": "a tab where YAML requires spaces",
    YamlLimit = "yaml-limit": "an alias, nesting or size budget was exceeded",
    DuplicateKey = "duplicate-key": "a key appears twice in one mapping",
    UnknownField = "unknown-field": "a field paysync does not know",
    MissingField = "missing-field": "a required field is absent",
    WrongApiVersion = "wrong-api-version": "`apiVersion` is not `paysync/v1`",
    WrongKind = "wrong-kind": "`kind` is not `PaySystemSettings`, `PaySystemHandler` or `PaySystem`",
    InvalidValue = "invalid-value": "a value of the wrong type or form",
    LowercaseCode = "lowercase-code": "a setting code that is not upper-case",
    InvalidCode = "invalid-code": "a setting code with characters other than `A-Z`, `0-9`, `_`",
    ConflictingFields = "conflicting-fields": "`value` with `secret`, `secret` with a `type` other than VALUE, two handler modes, or a delete of a pay system or handler the manifests still use",
    BadSecretRef = "bad-secret-ref": "a `secret` that is not `env:NAME` or `file:PATH`",
    BadSecretFile = "bad-secret-file": "a `file:` secret that is not a regular file",
    DuplicateTarget = "duplicate-target": "one (paySystem, personType), handler `code` or pay system `xmlId` declared twice",
    UndeclaredCode = "undeclared-code": "(`--live`/`--refresh`) a code the pay system's handler does not declare",
    InvalidOption = "invalid-option": "(`--live`/`--refresh`) an ENUM value that is not one of the handler's options",
    InvalidCheckbox = "invalid-checkbox": "(`--live`/`--refresh`) a Y/N setting with another value",
    UnknownPaySystem = "unknown-pay-system": "(`--live`/`--refresh`) no pay system with this ID",
    BuiltInPaySystem = "built-in-pay-system": "(`--live`/`--refresh`) a pay system with a built-in handler, not a REST one",
    UnknownPersonType = "unknown-person-type": "(`--live`/`--refresh`) no payer type with this ID",
    UnknownReference = "unknown-reference": "(when paysync connects) no pay system or payer type with this `xmlId`/`code`, or more than one",
    OverlayWithoutBase = "overlay-without-base": "`{ remove: true }` for a code no earlier source declares",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in the manifests, with its [`Code`].
///
/// `origin.line` and `origin.column` are 1-based; both are 0 only for problems about a
/// whole path (`not-found`, `unreadable`, `no-manifests`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub origin: Origin,
    pub help: Option<String>,
    /// Related places, e.g. where a duplicated target was first declared.
    pub notes: Vec<(Origin, String)>,
}

impl Diagnostic {
    pub(crate) fn new(code: Code, origin: Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            origin,
            help: None,
            notes: Vec::new(),
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn note(mut self, origin: Origin, note: impl Into<String>) -> Diagnostic {
        self.notes.push((origin, note.into()));
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error[{}]: {}", self.origin, self.code, self.message)
    }
}

/// Every problem found, sorted by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by origin; problems at the same place keep the order they were found in.
    pub(crate) fn sorted(mut diagnostics: Vec<Diagnostic>) -> Diagnostics {
        diagnostics.sort_by(|a, b| a.origin.cmp(&b.origin));
        Diagnostics(diagnostics)
    }

    /// How many distinct files (or paths) the problems are in.
    pub fn file_count(&self) -> usize {
        self.0
            .iter()
            .map(|d| &d.origin.file)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (problems, files) = (self.0.len(), self.file_count());
        write!(
            f,
            "{} found in {}",
            plural(problems, "problem"),
            plural(files, "manifest file")
        )
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_summarised() {
        let spellings: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            spellings.len(),
            Code::ALL.len(),
            "two codes share a spelling"
        );
        for code in Code::ALL {
            let s = code.as_str();
            assert!(
                !s.is_empty()
                    && !s.starts_with('-')
                    && !s.ends_with('-')
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s}"
            );
            assert!(!code.summary().is_empty(), "{s}");
        }
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../docs/manifests.md");
        for code in Code::ALL {
            let row = format!("| `{code}` | {} |", code.summary());
            assert!(
                readme.lines().any(|line| line == row),
                "docs/manifests.md's table of diagnostic codes lacks the row\n{row}"
            );
        }
    }
}

//! Located, coded problems found in manifests: the user's mistakes, collected rather
//! than returned one at a time. Rendering them for people is `render::diagnostics`.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::Origin;

/// One problem in the manifests.
///
/// `code` is stable (tests, scripts and documentation refer to it):
///
/// | code | problem |
/// |---|---|
/// | `not-found` | a given path does not exist |
/// | `unreadable` | a file or directory cannot be read, or is not UTF-8 |
/// | `no-manifests` | the given paths hold no `.yaml`/`.yml` file |
/// | `empty-file` | a file has no documents |
/// | `yaml-syntax` | not valid YAML |
/// | `yaml-unsupported` | a merge key (`<<`) or a custom tag (`!name`) |
/// | `tab-indent` | a tab where YAML requires spaces |
/// | `yaml-limit` | an alias, nesting or size budget was exceeded |
/// | `duplicate-key` | a key appears twice in one mapping |
/// | `unknown-field` | a field paysync does not know |
/// | `missing-field` | a required field is absent |
/// | `wrong-api-version` | `apiVersion` is not `paysync/v1` |
/// | `wrong-kind` | `kind` is not `PaySystemSettings` |
/// | `invalid-value` | a value of the wrong type or form |
/// | `lowercase-code` | a setting code that is not upper-case |
/// | `invalid-code` | a setting code with characters other than `A-Z`, `0-9`, `_` |
/// | `conflicting-fields` | `value` with `secret`, or `secret` with a `type` other than VALUE |
/// | `bad-secret-ref` | a `secret` that is not `env:NAME` or `file:PATH` |
/// | `duplicate-target` | one (paySystem, personType) declared twice |
/// | `undeclared-code`, `invalid-option`, `invalid-checkbox`, `unknown-pay-system`, `built-in-pay-system`, `unknown-person-type` | found against the portal by live validation ([`crate::live`]) |
///
/// `origin.line` and `origin.column` are 1-based; both are 0 only for problems about a
/// whole path (`not-found`, `unreadable`, `no-manifests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    pub origin: Origin,
    pub help: Option<String>,
    /// Related places, e.g. where a duplicated target was first declared.
    pub notes: Vec<(Origin, String)>,
}

impl Diagnostic {
    pub(crate) fn new(
        code: &'static str,
        origin: Origin,
        message: impl Into<String>,
    ) -> Diagnostic {
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
            "{problems} problem{} found in {files} manifest file{}",
            if problems == 1 { "" } else { "s" },
            if files == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

//! The wording of validation messages: how a value is quoted, which expected field a
//! misspelt one meant, where a node is, and the diagnostics of YAML errors and of
//! targets declared twice.

use std::path::Path;
use std::sync::Arc;

use crate::manifest::diagnostic::{Code, Diagnostic};
use crate::manifest::located::{Located, Node};
use crate::manifest::raw::{API_VERSION, KIND};
use crate::manifest::yaml::{YamlError, YamlProblem};
use crate::model::Origin;

/// The diagnostic for a document (or the rest of a file) the YAML layer could not read.
pub(crate) fn yaml_diagnostic(file: &Arc<Path>, error: YamlError) -> Diagnostic {
    let at = Origin {
        file: Arc::clone(file),
        line: Origin::narrow(error.line),
        column: Origin::narrow(error.column),
        len: Origin::narrow(error.len),
    };
    match error.problem {
        YamlProblem::Syntax(message) => Diagnostic::new(Code::YamlSyntax, at, format!("invalid YAML: {message}"))
            .help("the mistake can be before the point where the parser noticed it, e.g. an unclosed `{`, `[` or quote"),
        YamlProblem::Unsupported(message) => Diagnostic::new(Code::YamlUnsupported, at, message)
            .help("manifests use plain YAML: no merge keys (`<<`) and no custom tags (`!name`)"),
        YamlProblem::Tag(tag) => Diagnostic::new(Code::YamlTag, at, format!("YAML tag `{tag}` is not allowed in manifests"))
            .help("tags change what a value is (`!!binary` decodes base64): write the value itself, quoted if needed"),
        YamlProblem::TabIndent => Diagnostic::new(Code::TabIndent, at, "tab character in indentation")
            .help("YAML indents with spaces only: replace the tab with spaces"),
        YamlProblem::Limit(message) => Diagnostic::new(Code::YamlLimit, at, format!("the file exceeds paysync's YAML limits: {message}"))
            .help("manifests are small: look for runaway aliases (`*name`) or an unexpectedly large file"),
        YamlProblem::DuplicateKey(key) => {
            let key = key.map_or_else(|| "key".to_owned(), |k| format!("key {}", quote(&k)));
            Diagnostic::new(Code::DuplicateKey, at, format!("duplicate {key} in this mapping"))
                .help("a key may appear once: YAML tools disagree on which value would win, so paysync refuses both")
        }
        YamlProblem::UnknownField { field, expected } => {
            let list = backticked(&expected);
            let diagnostic = Diagnostic::new(Code::UnknownField, at, format!("unknown field {}, expected one of {list}", quote(&field)));
            match closest(&field, &expected) {
                Some(name) => diagnostic.help(format!("did you mean `{name}`?")),
                None => diagnostic,
            }
        }
        YamlProblem::NotAMapping => Diagnostic::new(Code::InvalidValue, at, "a manifest document must be a mapping")
            .help(format!("start the document with `apiVersion: {API_VERSION}` and `kind: {KIND}`")),
    }
}

pub(super) fn missing_help(field: &str) -> String {
    match field {
        "apiVersion" => format!("add `apiVersion: {API_VERSION}`"),
        "kind" => format!("add `kind: {KIND}`"),
        "paySystem" => "add `paySystem: <ID>`, the pay system's ID from `sale.paysystem.list`".to_owned(),
        "personType" => "add `personType: <ID>` (from `sale.persontype.list`), or 0 for the pay system's default settings".to_owned(),
        _ => "add `settings:` with the codes to manage, or `settings: {}` to manage none".to_owned(),
    }
}

/// Where `at` is, spanning what it spans.
pub(super) fn origin<T>(file: &Arc<Path>, at: &Located<T>) -> Origin {
    Origin {
        file: Arc::clone(file),
        line: Origin::narrow(at.line),
        column: Origin::narrow(at.column),
        len: Origin::narrow(at.len),
    }
}

/// How a value appears in a message.
pub(super) fn describe(node: &Node) -> String {
    match node {
        Node::Str(s) => quote(s),
        Node::Null { spelling } if spelling.is_empty() => "nothing".to_owned(),
        Node::Int { spelling, .. }
        | Node::Float { spelling }
        | Node::Bool { spelling }
        | Node::Null { spelling } => quote(spelling),
        Node::Seq(_) => "a list".to_owned(),
        Node::Map(_) => "a mapping".to_owned(),
    }
}

/// `` `a`, `b`, `c` ``: names as a message lists them.
pub(super) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` in backticks, control characters escaped, long text shortened.
pub(super) fn quote(text: &str) -> String {
    let mut quoted = String::new();
    for c in text.chars().take(60) {
        if c.is_control() {
            quoted.extend(c.escape_debug());
        } else {
            quoted.push(c);
        }
    }
    if text.chars().count() > 60 {
        quoted.push('…');
    }
    format!("`{quoted}`")
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, &c.to_lowercase()), *c))
        .filter(|&(d, _)| d <= 2.max(word.chars().count() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// A target (or reference) declared a second time, at `at`; `first` is the first.
pub(crate) fn declared_twice(
    what: &dyn std::fmt::Display,
    at: Origin,
    first: Origin,
) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateTarget,
        at,
        format!("{what} is declared more than once"),
    )
    .help("declare each target in one document: merge the settings of both")
    .note(first, "first declared here")
}

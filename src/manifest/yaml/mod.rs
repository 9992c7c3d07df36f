//! The YAML layer: every call into serde-saphyr lives in this folder (reading here,
//! writing in [`write`]), so the YAML crate can be swapped by rewriting it alone.
//!
//! It reads the documents of one manifest file with a strict profile and hands back
//! [`RawDocument`]s whose values are located [`Node`]s, plus located [`YamlError`]s for
//! the documents that could not be read. It knows nothing about what a manifest means;
//! that is [`super::validate`]'s job.
//!
//! The strict profile: duplicate keys are errors (libyaml-based parsers silently keep
//! the last one, so a reviewer could approve one value while another is applied); only
//! `true`/`false` are booleans, so `Y`, `N`, `on`, `yes` stay text; `00412` and `1_000`
//! stay text instead of becoming 412 and 1000; merge keys and unknown tags are refused;
//! alias expansion and document size have budgets.
//!
//! Documents are read one at a time: a document that fails to deserialize (unknown
//! field, duplicate key, ...) is reported and reading resumes at the next `---`. A syntax
//! error ends the file, since the parser cannot know where the next document starts.
//!
//! Writing ([`write::write_file`], for `paysync import`) goes through serde-saphyr's
//! serializer: every value double-quoted (YAML keeps it a string), each setting with a
//! type or a secret as a one-line flow map.
//!
//! Performance: a file is first read in one pass over the string, which is all a valid
//! file needs; only a file with a problem is read again document by document, the way
//! that can resume after a bad document (see [`parse`]).

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Error, MessageFormatter};

use super::located::{Located, Node};
use super::raw::{MAX_MANIFEST_BYTES, RawDocument, fields_of_kind};

pub(super) mod write;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let (r, d) = (spanned.referenced, spanned.defined);
        let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Located {
            value: spanned.value,
            line: at(r.line()),
            column: at(r.column()),
            len: at(r.span().len()),
            defined: (at(d.line()), at(d.column()), at(d.span().len())),
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Bool {
                    spelling: String::new(),
                })
            }
            fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
                Ok(Node::Int {
                    value: value.into(),
                    spelling: String::new(),
                })
            }
            fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
                Ok(Node::Int {
                    value: value.into(),
                    spelling: String::new(),
                })
            }
            fn visit_i128<E>(self, value: i128) -> Result<Node, E> {
                Ok(Node::Int {
                    value,
                    spelling: String::new(),
                })
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Float {
                    spelling: String::new(),
                })
            }
            fn visit_str<E>(self, value: &str) -> Result<Node, E> {
                Ok(Node::Str(value.to_owned()))
            }
            fn visit_string<E>(self, value: String) -> Result<Node, E> {
                Ok(Node::Str(value))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null {
                    spelling: String::new(),
                })
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null {
                    spelling: String::new(),
                })
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::Map(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Why a document (or the rest of a file) could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlProblem {
    /// Not YAML; the parser's own message.
    Syntax(String),
    /// A YAML feature manifests do not use: merge keys (`<<`), custom tags.
    Unsupported(String),
    /// An explicit tag (`!!binary`, `!!str`, `!name`), as written: tags change what a
    /// value is (`!!binary` decodes base64), so none is accepted.
    Tag(String),
    /// A tab where YAML requires spaces (indentation).
    TabIndent,
    /// An alias, nesting or size budget was exceeded.
    Limit(String),
    DuplicateKey(Option<String>),
    UnknownField {
        field: String,
        expected: Vec<&'static str>,
    },
    /// The document is a scalar or a sequence, not a mapping.
    NotAMapping,
}

/// A located [`YamlProblem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub problem: YamlProblem,
    pub line: usize,
    pub column: usize,
    /// Characters the fault spans from there; 0 when only its start is known.
    pub len: usize,
}

/// What one file holds: the documents that were read, and the errors of those that were not.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub documents: Vec<Located<RawDocument>>,
    pub errors: Vec<YamlError>,
}

/// The largest file read, in bytes: [`MAX_MANIFEST_BYTES`], checked before a file
/// is read; the document-by-document reader enforces it too.
const MAX_INPUT_BYTES: usize = MAX_MANIFEST_BYTES as usize;

/// Manifests are small; these budgets only stop hostile or runaway input.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_INPUT_BYTES),
            max_events: 200_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
            max_documents: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
            max_replay_stack_depth: 16,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        merge_keys: serde_saphyr::MergeKeyPolicy::Error,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        legacy_octal_numbers: false,
        reject_unsupported_tags: true,
        reject_tagged_field_names: true,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// Reads every document of a file's text (BOM already removed).
pub fn parse(text: &str) -> ParsedFile {
    let lines: Vec<&str> = text.lines().collect();
    let tags = tags(text);
    let mut parsed = match read_whole(text) {
        Some(parsed) => {
            // Every unit test that parses YAML also checks that the fast way agrees.
            #[cfg(test)]
            tests::assert_same_as_read_each(text, &parsed);
            parsed
        }
        None => read_each(text, &lines),
    };
    for document in &mut parsed.documents {
        let raw = &mut document.value;
        for node in raw.nodes_mut() {
            fill_spellings(node, &lines);
        }
    }
    // A file with a tag is refused whole (its documents are not used: any problem in a
    // file stops `load`), so a tagged value is never taken as decoded. The reader's own
    // complaint about an unknown tag on the same line says the same thing: once is enough.
    if !tags.is_empty() {
        parsed.errors.retain(|e| {
            !matches!(e.problem, YamlProblem::Unsupported(_))
                || !tags.iter().any(|t| t.line == e.line)
        });
    }
    parsed.errors.extend(tags);
    parsed
}

/// Every explicit tag in the text, located. Tags are invisible to the deserializer's
/// visitors (`!!binary` arrives already decoded), so the events are read once more — only
/// for text that has a `!` at all, which plain manifests rarely do.
fn tags(text: &str) -> Vec<YamlError> {
    use serde_saphyr::granit_parser::{Event, Parser};
    if !text.contains('!') {
        return Vec::new();
    }
    let mut found = Vec::new();
    for event in Parser::new_from_str(text) {
        // A syntax error is reported by the deserializer, where it always was.
        let Ok((event, span)) = event else { break };
        let tag = match &event {
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, _, tag)
            | Event::MappingStart(_, _, tag) => tag,
            _ => continue,
        };
        if let Some(tag) = tag {
            let at = span.tag_start.unwrap_or(span.start);
            let written = tag.original();
            found.push(YamlError {
                len: written.chars().count(),
                problem: YamlProblem::Tag(sanitize(&written)),
                line: at.line(),
                column: at.col() + 1,
            });
        }
    }
    found
}

/// The documents of a file without a single problem, in one pass over the string; `None`
/// when any document has a problem (or the file is one this pass cannot vouch for), so
/// that [`read_each`] reads it again and reports each problem exactly as it always has.
///
/// Why two ways: `read_with_options`, the only reader that resumes after a bad document,
/// takes an `io::Read` and decodes it character by character through a buffer; on the
/// 200,000-setting benchmark (`cargo bench --bench paysync -- offline`) that input layer
/// cost about 10% of the whole parse. `from_str_multiple_with_options` parses the string
/// in place but stops at the first problem. Valid files are the common case (and the
/// large one), so they take the fast way; a file with a problem pays for a second read.
///
/// Both run the same deserializer with the same options, so a file this pass accepts
/// gives the same documents and locations either way (in unit tests, [`parse`] checks
/// this on every file it reads this way). It must never accept a file the reader would
/// refuse, and the budgets are where they differ: the string parser counts them over the
/// whole file, the reader per document. Aliases, anchors and depth keep the reader's
/// figures here, which over the whole file is the stricter; the reader's input size cap
/// is checked here, and its alias/anchor ratio check of each document needs
/// `alias_anchor_min_aliases` aliases: this pass allows fewer than that in the whole
/// file. Documents, events and nodes are counted over the whole file with budgets raised
/// to what the size limit allows (so a valid file is parsed once, however many documents
/// it holds), and the reader's per-document event budget is kept by bounding each
/// document's text ([`MAX_WHOLE_DOCUMENT_BYTES`]).
fn read_whole(text: &str) -> Option<ParsedFile> {
    if text.len() >= MAX_INPUT_BYTES {
        return None;
    }
    let mut options = options();
    if let Some(budget) = options.budget.as_mut() {
        budget.max_aliases = budget.alias_anchor_min_aliases.saturating_sub(1);
        // The reader counts documents, events and nodes per document (it ignores
        // `max_documents`); counted over the whole file here, they are raised to what the
        // size limit allows, so that a valid file of any length is read once (issue 13: a
        // file of 1,001 documents was read twice). The per-document budgets are kept by
        // `within_document_budget` below.
        budget.max_documents = MAX_INPUT_BYTES;
        budget.max_events = WHOLE_FILE_EVENTS;
        budget.max_nodes = WHOLE_FILE_EVENTS;
    }
    let documents =
        serde_saphyr::from_str_multiple_with_options::<Located<RawDocument>, Vec<_>>(text, options)
            .ok()?;
    within_document_budget(text, &documents).then_some(ParsedFile {
        documents,
        errors: Vec::new(),
    })
}

/// Events (and nodes) the whole-file pass allows in a file: more than a file within the
/// size limit can hold (at most about 2 per byte, see [`MAX_WHOLE_DOCUMENT_BYTES`]).
const WHOLE_FILE_EVENTS: usize = 4 * MAX_INPUT_BYTES;

/// The most text one document may take for the whole-file pass to vouch for it.
///
/// The reader refuses a document of more than `max_events` (200,000) events; the
/// whole-file pass cannot count events per document, so it bounds them by the
/// document's text instead: every event but a collection's end consumes at least one
/// byte (a scalar its text; an implicit null its `,`, `:`, `?` or `-`; a collection's
/// start its `[`, `{`, `-` or first key), and each end pairs with a start, so a
/// document has at most 2 events per byte (3 allowed here for margin), plus its start
/// and end and the alias replays (at most `max_total_replayed_events`, 10,000, in the
/// whole file). 60,000 bytes × 3 + 10,000 + 2 stays under 200,000. A manifest document
/// is under a kilobyte for 20 settings, so only a document of thousands of settings
/// (or hostile input) goes to the reader, which counts exactly.
const MAX_WHOLE_DOCUMENT_BYTES: usize = 60_000;

/// Whether every document of `text` (the text from where it starts to where the next
/// one starts, so comments and `---` lines count too) is within
/// [`MAX_WHOLE_DOCUMENT_BYTES`].
fn within_document_budget(text: &str, documents: &[Located<RawDocument>]) -> bool {
    if text.len() <= MAX_WHOLE_DOCUMENT_BYTES {
        return true;
    }
    if documents.is_empty() {
        return false;
    }
    // Byte offset of each document's first line; lines end at `\n`, `\r\n` or a lone
    // `\r`, as YAML counts them.
    let mut starts = Vec::with_capacity(documents.len());
    let mut wanted = documents.iter().map(|d| d.line).peekable();
    let (mut line, bytes) = (1, text.as_bytes());
    let mut at = 0;
    while let Some(&next) = wanted.peek() {
        if next <= line {
            starts.push(at);
            wanted.next();
            continue;
        }
        match bytes[at..].iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                at += i + 1;
                if bytes[at - 1] == b'\r' && bytes.get(at) == Some(&b'\n') {
                    at += 1;
                }
                line += 1;
            }
            None => {
                // A line past the end: not expected; let the reader decide.
                return false;
            }
        }
    }
    // The first document's span includes whatever precedes it (null documents,
    // comments): more text only makes the bound more conservative.
    starts[0] = 0;
    starts.push(text.len());
    starts
        .windows(2)
        .all(|w| w[1].saturating_sub(w[0]) <= MAX_WHOLE_DOCUMENT_BYTES)
}

/// Every document of a file, one at a time, resuming after a document that cannot be
/// read; its spellings are not filled in yet.
fn read_each(text: &str, lines: &[&str]) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    let mut reader = text.as_bytes();
    for result in serde_saphyr::read_with_options::<_, Located<RawDocument>>(&mut reader, options())
    {
        match result {
            Ok(document) => parsed.documents.push(document),
            Err(error) => {
                let mut error = yaml_error(&error, lines);
                // serde knows the fields of every kind; the message names those of the
                // document's own kind (`kind:` as written, settings when there is none).
                if let YamlProblem::UnknownField { expected, .. } = &mut error.problem {
                    *expected = fields_of_kind(document_kind(lines, error.line)).to_vec();
                }
                // The deserializer stops at a document's first unknown field: the others
                // are found in its text, so that every one is reported at once.
                let more = match &error.problem {
                    YamlProblem::UnknownField { field, expected } if error.column == 1 => {
                        other_unknown_fields(lines, error.line, field, expected)
                    }
                    _ => Vec::new(),
                };
                parsed.errors.push(error);
                parsed.errors.extend(more);
            }
        }
    }
    parsed
}

/// Copies each non-string scalar's source text into its `spelling`.
fn fill_spellings(node: &mut Located<Node>, lines: &[&str]) {
    let (line, column, len) = node.defined;
    let source = || {
        let line = lines.get(line.wrapping_sub(1)).unwrap_or(&"");
        line.chars()
            .skip(column.saturating_sub(1))
            .take(len)
            .collect::<String>()
    };
    match &mut node.value {
        Node::Int { spelling, .. }
        | Node::Float { spelling }
        | Node::Bool { spelling }
        | Node::Null { spelling } => *spelling = source(),
        Node::Map(entries) => {
            for (key, value) in entries {
                fill_spellings(key, lines);
                fill_spellings(value, lines);
            }
        }
        Node::Seq(items) => {
            for item in items {
                fill_spellings(item, lines);
            }
        }
        Node::Str(_) => {}
    }
}

fn yaml_error(error: &Error, lines: &[&str]) -> YamlError {
    let (line, column, len) = error
        .location()
        .map(|l| {
            let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            (at(l.line()), at(l.column()), at(l.span().len()))
        })
        .filter(|&(line, _, _)| line > 0)
        .unwrap_or((1, 1, 0));
    let mut root = error;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = root {
        root = error;
    }
    let message = || sanitize(&serde_saphyr::UserMessageFormatter.format_message(root));
    let problem = match root {
        Error::DuplicateMappingKey { key, .. } => {
            YamlProblem::DuplicateKey(key.as_deref().map(sanitize))
        }
        Error::SerdeUnknownField {
            field, expected, ..
        } => YamlProblem::UnknownField {
            field: sanitize(field),
            expected: expected.clone(),
        },
        Error::Unexpected { expected, .. } if expected.contains("mapping") => {
            YamlProblem::NotAMapping
        }
        Error::MergeKeyNotAllowed { .. }
        | Error::UnsupportedTag { .. }
        | Error::TaggedStructFieldName { .. } => YamlProblem::Unsupported(message()),
        Error::Budget { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::IOError { .. } => YamlProblem::Limit(message()),
        _ if message().contains("tab") => {
            // The parser may notice a tab a line late or early (`while scanning a plain
            // scalar, found a tab` points at the scalar before it): the tab is shown where
            // it is, the nearest one in a line's leading blanks first, else the nearest
            // one at all.
            match tab_near(lines, line) {
                Some((line, column)) => {
                    return YamlError {
                        problem: YamlProblem::TabIndent,
                        line,
                        column,
                        len: 1,
                    };
                }
                None => YamlProblem::Syntax(message()),
            }
        }
        _ => YamlProblem::Syntax(message()),
    };
    // A key the parser reports only the start of spans its text, when it is written
    // plainly there.
    let named = match &problem {
        YamlProblem::UnknownField { field, .. } => Some(field.as_str()),
        YamlProblem::DuplicateKey(Some(key)) => Some(key.as_str()),
        _ => None,
    };
    let written_at = |name: &str| {
        let source_line = lines.get(line.checked_sub(1)?)?;
        let rest: String = source_line.chars().skip(column.checked_sub(1)?).collect();
        rest.starts_with(name).then(|| name.chars().count())
    };
    let len = match named {
        Some(name) if len == 0 => written_at(name).unwrap_or(0),
        _ => len,
    };
    YamlError {
        problem,
        line,
        column,
        len,
    }
}

/// Messages may quote the user's text: keep control characters out of the terminal.
/// The top-level keys of the document around `line` (1-based) other than `reported`
/// that are not among `expected`, each located: plain `key:` lines at the first column,
/// between the `---` (or the file's start) before `line` and the one after it.
/// The lines (`start..end`, 0-based) of the document that holds 1-based `line`.
fn document_lines(lines: &[&str], line: usize) -> (usize, usize) {
    let separator = |text: &str| {
        text == "---" || text == "..." || text.starts_with("--- ") || text.starts_with("---\t")
    };
    let at = line.saturating_sub(1).min(lines.len());
    let start = (0..at)
        .rev()
        .find(|&i| separator(lines[i]))
        .map_or(0, |i| i + 1);
    let end = (at..lines.len())
        .find(|&i| separator(lines[i]))
        .unwrap_or(lines.len());
    (start, end)
}

/// The `kind:` the document holding `line` declares at its top level, as written.
fn document_kind<'a>(lines: &[&'a str], line: usize) -> &'a str {
    let (start, end) = document_lines(lines, line);
    lines[start..end]
        .iter()
        .find_map(|l| l.strip_prefix("kind:"))
        .map_or("", |k| k.trim().trim_matches(|c| c == '"' || c == '\''))
}

fn other_unknown_fields(
    lines: &[&str],
    line: usize,
    reported: &str,
    expected: &[&'static str],
) -> Vec<YamlError> {
    let (start, end) = document_lines(lines, line);
    let mut found = Vec::new();
    for (i, text) in lines.iter().enumerate().take(end).skip(start) {
        let Some((key, _)) = text.split_once(':') else {
            continue;
        };
        let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain && i + 1 != line && key != reported && !expected.contains(&key) {
            found.push(YamlError {
                problem: YamlProblem::UnknownField {
                    field: key.to_owned(),
                    expected: expected.to_vec(),
                },
                line: i + 1,
                column: 1,
                len: key.chars().count(),
            });
        }
    }
    found
}

/// The tab nearest to `line` (1-based): in a line's leading blanks (where YAML refuses
/// it) first, else anywhere; as (line, column), both 1-based.
fn tab_near(lines: &[&str], line: usize) -> Option<(usize, usize)> {
    let in_indent = |text: &str| {
        let blanks: String = text
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        blanks.chars().position(|c| c == '\t')
    };
    let anywhere = |text: &str| text.chars().position(|c| c == '\t');
    let reported = line.max(1) - 1;
    let by_distance = |found: &dyn Fn(&str) -> Option<usize>| {
        (0..lines.len())
            .filter_map(|i| found(lines[i]).map(|column| (i.abs_diff(reported), i, column)))
            .min()
            .map(|(_, i, column)| (i + 1, column + 1))
    };
    by_distance(&in_indent).or_else(|| by_distance(&anywhere))
}

fn sanitize(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Every document of a file as JSON, for checking files against the JSON Schema.
#[cfg(test)]
pub(crate) fn to_json(text: &str) -> Result<Vec<serde_json::Value>, String> {
    serde_saphyr::from_str_multiple_with_options::<serde_json::Value, Vec<_>>(text, options())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::*;

    /// What [`read_each`] gives for a file [`read_whole`] accepted: the same documents,
    /// and no errors.
    pub(crate) fn assert_same_as_read_each(text: &str, whole: &ParsedFile) {
        let lines: Vec<&str> = text.lines().collect();
        let each = read_each(text, &lines);
        assert_eq!(
            each.errors,
            [],
            "read_whole accepted what read_each refuses:\n{text}"
        );
        assert_eq!(
            format!("{:?}", whole.documents),
            format!("{:?}", each.documents),
            "the two readers disagree on:\n{text}"
        );
    }

    fn yaml_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                yaml_files(&path, files);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }

    #[test]
    fn both_readers_agree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        yaml_files(&root.join("examples"), &mut files);
        yaml_files(&root.join("tests/fixtures"), &mut files);
        let (mut whole, mut each) = (0, 0);
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            match read_whole(text) {
                Some(parsed) => {
                    assert_same_as_read_each(text, &parsed);
                    whole += 1;
                }
                None => each += 1,
            }
        }
        assert!(
            whole > 0 && each > 0,
            "{whole} files read whole, {each} one by one"
        );
    }

    /// Files the whole-file pass must leave to the reader, so that they keep its verdict.
    #[test]
    fn what_only_the_reader_can_decide() {
        let header = "apiVersion: paysync/v1\nkind: PaySystemSettings\n";
        let document = |pay_system: u32, settings: &str| {
            format!("{header}paySystem: {pay_system}\npersonType: 1\nsettings:\n{settings}")
        };
        // The reader checks the alias/anchor ratio per document: 100 aliases of one
        // anchor fail it, even when a later document brings enough anchors to pass it
        // over the whole file.
        let aliases = format!("  A: &a x\n  B: [{}]\n", vec!["*a"; 100].join(", "));
        let anchors: String = (0..20).map(|i| format!("  C{i}: &c{i} y\n")).collect();
        let ratio = format!("{}---\n{}", document(1, &aliases), document(2, &anchors));
        assert!(read_whole(&ratio).is_none());
        assert_eq!(parse(&ratio).errors.len(), 1);
        // Over the reader's input size cap.
        let large = format!(
            "{}# {}\n",
            document(1, "  A: x\n"),
            "x".repeat(MAX_INPUT_BYTES)
        );
        assert!(read_whole(&large).is_none());
        // One document over the reader's event budget (200,000 per document): the
        // whole-file pass, whose event budget is the file's, leaves it to the reader,
        // which refuses it.
        let events = document(1, &format!("  A: [{}]\n", vec!["x"; 200_001].join(",")));
        assert!(read_whole(&events).is_none());
        assert!(
            matches!(
                &parse(&events).errors[..],
                [YamlError {
                    problem: YamlProblem::Limit(_),
                    ..
                }]
            ),
            "{:?}",
            parse(&events).errors
        );
    }

    /// Issue 13: a valid file is parsed once however many documents it holds (a file
    /// over 1,000 documents or 200,000 events used to fail the whole-file pass partway
    /// and be parsed again document by document).
    #[test]
    fn long_valid_files_are_read_whole() {
        let file = |documents: usize, codes: usize| {
            let document = |pay_system: usize| {
                let mut text = format!(
                    "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {pay_system}\npersonType: 1\nsettings:\n"
                );
                for c in 0..codes {
                    text.push_str(&format!(
                        "  CODE_{c:02}: {{ type: VALUE, value: \"{c:05}\" }}\n"
                    ));
                }
                text
            };
            (1..=documents)
                .map(document)
                .collect::<Vec<_>>()
                .join("---\n")
        };
        // Over 1,000 documents, and over 200,000 events in the file.
        for (documents, codes) in [(1_001, 1), (2_000, 20)] {
            let text = file(documents, codes);
            let whole = read_whole(&text).expect("read whole");
            assert_eq!(whole.documents.len(), documents);
        }
        // CRLF and lone CR line ends count as lines too.
        for end in ["\r\n", "\r"] {
            let text = file(1_200, 1).replace('\n', end);
            assert_eq!(
                read_whole(&text).expect("read whole").documents.len(),
                1_200
            );
        }
    }
}

//! Manifest diagnostics for people, in the style of rustc and just: the problem, where it
//! is, the user's line with a caret under the fault, help and notes, then one summary.
//!
//! ```text
//! error[unknown-field]: unknown field `setings`, expected one of `apiVersion`, ...
//!  --> manifests/acme.yaml:6:1
//!   |
//! 6 | setings:
//!   | ^^^^^^^
//!   = help: did you mean `settings`?
//! ```
//!
//! Rendered with annotate-snippets (rustc's renderer); the caret spans what
//! [`Origin::len`] says the fault spans, on its line. Source lines are read again from the
//! files; a file that cannot be read just loses its snippet. Control and invisible
//! characters of the file are shown as `?`, those of messages escaped. Output is plain
//! text unless `color` is set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Element, Group, Level, Renderer, Snippet};
use anstyle::{AnsiColor, Style};

use crate::manifest::{Code, Diagnostic, Diagnostics};
use crate::model::Origin;
use crate::plan::About;
use crate::plan::document::Header;
use crate::untrusted::{escape_controls, is_unsafe_char};
use crate::wording::plural;

/// Renders every diagnostic and a closing summary line.
pub fn render(diagnostics: &Diagnostics, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut sources = Sources::default();
    let mut out = String::new();
    for diagnostic in &diagnostics.0 {
        let report = report(diagnostic, &mut sources);
        let _ = writeln!(out, "{}\n", renderer.render(&report));
    }
    let (error, emphasis) = if color {
        let bold = Style::new().bold();
        // The red annotate-snippets gives `error[code]`.
        (bold.fg_color(Some(AnsiColor::BrightRed.into())), bold)
    } else {
        (Style::new(), Style::new())
    };
    let _ = writeln!(
        out,
        "{error}error{error:#}{emphasis}: {}{emphasis:#}",
        summary(diagnostics)
    );

    out
}

/// One diagnostic as annotate-snippets reports: the problem, where it is (the line, a
/// caret under the fault), help, then each note with its own place.
fn report<'a>(diagnostic: &'a Diagnostic, sources: &mut Sources) -> Vec<Group<'a>> {
    // A `secret:` that is not a reference may be the secret itself: show where, not what.
    let show_line = diagnostic.code != Code::BadSecretRef;
    let mut main = Level::ERROR
        .primary_title(escape_controls(&diagnostic.message))
        .id(diagnostic.code.as_str())
        .element(place(&diagnostic.origin, show_line, sources));
    if let Some(help) = &diagnostic.help {
        main = main.element(Level::HELP.message(escape_controls(help)));
    }
    let mut report = vec![main];
    for (origin, note) in &diagnostic.notes {
        report.push(
            Group::with_title(Level::NOTE.secondary_title(escape_controls(note)))
                .element(place(origin, true, sources)),
        );
    }
    report
}

/// `--> file:line:column` with the line and a caret under the fault, or only the
/// location (no line, or a problem with a whole path).
fn place<'a>(origin: &Origin, show_line: bool, sources: &mut Sources) -> Element<'a> {
    let path = origin.file.display().to_string();
    let line = (show_line && origin.line > 0)
        .then(|| sources.line(&origin.file, origin.line as usize))
        .flatten();
    let Some(line) = line else {
        let mut at = annotate_snippets::Origin::path(path);
        if origin.line > 0 {
            at = at
                .line(origin.line as usize)
                .char_column(origin.column as usize);
        }
        return at.into();
    };
    let shown: String = line
        .chars()
        .map(|c| {
            if c != '\t' && is_unsafe_char(c) {
                '?'
            } else {
                c
            }
        })
        .collect();
    let span = byte_span(
        &shown,
        (origin.column as usize).saturating_sub(1),
        origin.len as usize,
    );
    Snippet::source(shown)
        .line_start(origin.line as usize)
        .path(path)
        .annotation(AnnotationKind::Primary.span(span))
        .into()
}

/// The bytes of `line` from character `start`, `len` characters long (at least one,
/// and within the line: a span that goes on to the next lines ends with this one).
fn byte_span(line: &str, start: usize, len: usize) -> std::ops::Range<usize> {
    let offset = |chars: usize| {
        line.char_indices()
            .nth(chars)
            .map_or(line.len(), |(i, _)| i)
    };
    let from = offset(start);
    let to = offset(start + len.max(1)).max(from);
    from..to
}

/// What valid manifests hold, for `validate --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub targets: usize,
    pub settings: usize,
    pub files: usize,
    pub handlers: usize,
    pub pay_systems: usize,
}

/// The summary of `validate --format json`, present whether or not the manifests are
/// valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Diagnostics found; 0 when the manifests are valid.
    pub problems: usize,
    /// Files with at least one problem.
    pub files_with_problems: usize,
    /// Targets the manifests declare; null when they are not valid.
    pub targets: Option<usize>,
    /// Settings the manifests declare; null when they are not valid.
    pub settings: Option<usize>,
    /// Manifest files read; null when they are not valid.
    pub files: Option<usize>,
    /// REST handlers the manifests declare (`kind: PaySystemHandler`); null when they
    /// are not valid.
    pub handlers: Option<usize>,
    /// Pay systems the manifests declare (`kind: PaySystem`); null when they are not
    /// valid.
    pub pay_systems: Option<usize>,
}

/// The version of `validate --format json`.
pub const JSON_FORMAT_VERSION: u32 = 2;

/// The output of `validate --format json` (`schema/validation.schema.json`).
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(
    title = "paysync validation",
    description = "The output of `paysync validate --format json`."
)]
pub struct ValidationDocument<'a> {
    #[serde(flatten)]
    pub header: Header,
    /// Whether the manifests are valid (no diagnostic).
    pub valid: bool,
    /// How many problems, and what valid manifests hold.
    pub summary: Summary,
    pub diagnostics: Vec<Problem<'a>>,
}

/// A place in a manifest and what is wrong there.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Place<'a> {
    /// The file, as given on the command line or found in a directory.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// How many characters the problem spans.
    pub span: usize,
    pub message: &'a str,
}

/// One diagnostic.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Problem<'a> {
    /// The diagnostic code (docs/manifests.md, "Diagnostic codes").
    pub code: &'static str,
    #[serde(flatten)]
    pub place: Place<'a>,
    /// How to fix it, when paysync knows.
    pub hint: Option<&'a str>,
    /// Related places (the first declaration of a duplicate, say).
    pub notes: Vec<Place<'a>>,
}

/// `validate --format json`: one document, `valid` and every diagnostic (code, file,
/// 1-based line and column, span in characters, message, hint, notes), and a summary: the
/// problems, and what the manifests hold when they are valid.
pub fn json(diagnostics: &Diagnostics, counts: Option<Counts>, about: &About) -> String {
    fn place<'a>(origin: &Origin, message: &'a str) -> Place<'a> {
        Place {
            file: origin.file.display().to_string(),
            line: origin.line as usize,
            column: origin.column as usize,
            span: origin.len as usize,
            message,
        }
    }
    let mut files: Vec<&std::path::Path> = diagnostics.0.iter().map(|d| &*d.origin.file).collect();
    files.sort();
    files.dedup();
    let summary = Summary {
        problems: diagnostics.0.len(),
        files_with_problems: files.len(),
        targets: counts.map(|c| c.targets),
        settings: counts.map(|c| c.settings),
        files: counts.map(|c| c.files),
        handlers: counts.map(|c| c.handlers),
        pay_systems: counts.map(|c| c.pay_systems),
    };
    let document = ValidationDocument {
        header: Header::new(JSON_FORMAT_VERSION, about),
        valid: diagnostics.0.is_empty(),
        summary,
        diagnostics: diagnostics
            .0
            .iter()
            .map(|d| Problem {
                code: d.code.as_str(),
                place: place(&d.origin, &d.message),
                hint: d.help.as_deref(),
                notes: d.notes.iter().map(|(o, m)| place(o, m)).collect(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&document).expect("diagnostics serialise");
    text.push('\n');
    text
}

/// Diagnostics for a log collector (`--log-format json`): one JSON object a line, a
/// diagnostic each (level, code, file, line, column, span, message, hint), then the count.
pub fn json_lines(diagnostics: &Diagnostics) -> String {
    let mut out = String::new();
    for d in &diagnostics.0 {
        out.push_str(&super::json_line(
            "ERROR",
            &d.message,
            serde_json::json!({
                "code": d.code.as_str(),
                "file": d.origin.file.display().to_string(),
                "line": d.origin.line,
                "column": d.origin.column,
                "span": d.origin.len,
                "hint": d.help,
            }),
        ));
    }
    out.push_str(&super::json_line(
        "ERROR",
        &summary(diagnostics),
        serde_json::json!({ "exit_code": crate::error::exit::INVALID_INPUT }),
    ));
    out
}

/// The closing line: `2 problems found in 1 file; nothing was written to the portal`.
fn summary(diagnostics: &Diagnostics) -> String {
    format!(
        "{} found in {}; nothing was written to the portal",
        plural(diagnostics.0.len(), "problem"),
        plural(diagnostics.file_count(), "file")
    )
}

/// `validate --format github`: one workflow command a problem
/// (`::error file=F,line=L,col=C,endColumn=E,title=paysync CODE::MESSAGE`), which GitHub
/// shows on the line of the pull request's diff. Values are escaped as the runner
/// expects (`%`, CR and LF always; `:` and `,` in properties too).
pub fn github(diagnostics: &Diagnostics) -> String {
    use super::{workflow_data as data, workflow_property as property};
    let mut out = String::new();
    for d in &diagnostics.0 {
        let o = &d.origin;
        let mut properties = vec![format!("file={}", property(&o.file.display().to_string()))];
        if o.line > 0 {
            properties.push(format!("line={}", o.line));
            properties.push(format!("col={}", o.column));
            if o.len > 0 {
                // The column of the span's last character.
                properties.push(format!("endColumn={}", o.column + o.len - 1));
            }
        }
        properties.push(format!(
            "title={}",
            property(&format!("paysync {}", d.code))
        ));
        // The user's text with its control characters escaped; the line break before
        // the help is the runner's (%0A).
        let mut message = escape_controls(&d.message).into_owned();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(&escape_controls(help));
        }
        let _ = writeln!(out, "::error {}::{}", properties.join(","), data(&message));
    }
    out
}

/// Source files read for snippets, each once.
#[derive(Default)]
struct Sources(BTreeMap<PathBuf, Option<Vec<String>>>);

impl Sources {
    fn line(&mut self, file: &Path, line: usize) -> Option<String> {
        let lines = self.0.entry(file.to_path_buf()).or_insert_with(|| {
            let text = std::fs::read_to_string(file).ok()?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            Some(text.lines().map(str::to_owned).collect())
        });
        lines.as_ref()?.get(line.checked_sub(1)?).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_commands_escape_what_the_runner_reads() {
        let diagnostics = Diagnostics(vec![Diagnostic {
            code: Code::InvalidValue,
            message: "100% of a,b: c\nforged\u{1b}[2J".into(),
            origin: Origin {
                file: Path::new("m/a,b:c.yaml").into(),
                line: 3,
                column: 5,
                len: 2,
            },
            help: Some("quote it".into()),
            notes: Vec::new(),
        }]);
        assert_eq!(
            github(&diagnostics),
            "::error file=m/a%2Cb%3Ac.yaml,line=3,col=5,endColumn=6,title=paysync invalid-value::\
             100%25 of a,b: c\\nforged\\u{1b}[2J%0Ahelp: quote it\n"
        );
    }

    #[test]
    fn spans_stay_on_their_line() {
        assert_eq!(byte_span("setings:", 0, 7), 0..7);
        assert_eq!(
            byte_span("  A: 1.5", 5, 0),
            5..6,
            "a point is one character"
        );
        assert_eq!(byte_span("  A: {", 5, 40), 5..6, "a map going on below");
        assert_eq!(byte_span("  A:", 4, 0), 4..4, "at the end of the line");
        assert_eq!(byte_span("  Ю: 1", 2, 1), 2..4, "characters, not bytes");
    }

    #[test]
    fn renders_plain_text_with_a_caret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.yaml");
        std::fs::write(&file, "a: 1\n\tsetings: {}\n").unwrap();
        let origin = Origin {
            file: file.as_path().into(),
            line: 2,
            column: 2,
            len: 7,
        };
        let diagnostics = Diagnostics(vec![Diagnostic {
            code: Code::UnknownField,
            message: "unknown field `setings`".into(),
            origin: origin.clone(),
            help: Some("did you mean `settings`?".into()),
            notes: vec![(
                Origin {
                    line: 1,
                    column: 1,
                    len: 0,
                    ..origin
                },
                "see here".into(),
            )],
        }]);
        let text = render(&diagnostics, false);
        let expected = format!(
            "error[unknown-field]: unknown field `setings`\n --> {f}:2:2\n  |\n2 |     setings: {{}}\n  |     ^^^^^^^\n  |\n  = help: did you mean `settings`?\nnote: see here\n --> {f}:1:1\n  |\n1 | a: 1\n  | ^\n\nerror: 1 problem found in 1 file; nothing was written to the portal\n",
            f = file.display()
        );
        assert_eq!(text, expected);
        assert!(render(&diagnostics, true).contains("\u{1b}["));
    }
}

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
//! Source lines are read again from the files; a file that cannot be read just loses
//! its snippet. Output is plain text unless `color` is set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};

use crate::manifest::{Diagnostic, Diagnostics};
use crate::model::Origin;
use crate::untrusted::{escape_controls, is_unsafe_char};

/// Columns a tab is shown as.
const TAB: usize = 4;

struct Styles {
    error: Style,
    emphasis: Style,
    gutter: Style,
    caret: Style,
    note: Style,
}

impl Styles {
    fn new(color: bool) -> Styles {
        let bold = Style::new().bold();
        let colored = |c: AnsiColor| {
            if color {
                bold.fg_color(Some(c.into()))
            } else {
                Style::new()
            }
        };
        Styles {
            error: colored(AnsiColor::Red),
            emphasis: if color { bold } else { Style::new() },
            gutter: colored(AnsiColor::BrightBlue),
            caret: colored(AnsiColor::Red),
            note: colored(AnsiColor::BrightCyan),
        }
    }
}

/// Renders every diagnostic and a closing summary line.
pub fn render(diagnostics: &Diagnostics, color: bool) -> String {
    let styles = Styles::new(color);
    let mut sources = Sources::default();
    let mut out = String::new();
    for diagnostic in &diagnostics.0 {
        render_one(&mut out, diagnostic, &styles, &mut sources);
        out.push('\n');
    }
    let (problems, files) = (diagnostics.0.len(), diagnostics.file_count());
    let _ = writeln!(
        out,
        "{}error{}{}: {problems} problem{} found in {files} file{}; nothing was written to the portal{}",
        styles.error,
        styles.error.render_reset(),
        styles.emphasis,
        plural(problems),
        plural(files),
        styles.emphasis.render_reset(),
    );
    out
}

fn render_one(out: &mut String, diagnostic: &Diagnostic, styles: &Styles, sources: &mut Sources) {
    let (e, m, g) = (styles.error, styles.emphasis, styles.gutter);
    let _ = writeln!(
        out,
        "{e}error[{}]{e:#}{m}: {}{m:#}",
        diagnostic.code,
        escape_controls(&diagnostic.message)
    );
    let width = std::iter::once(&diagnostic.origin)
        .chain(diagnostic.notes.iter().map(|(origin, _)| origin))
        .map(|origin| origin.line.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    // A `secret:` that is not a reference may be the secret itself: show where, not what.
    let snippet = match diagnostic.code {
        "bad-secret-ref" => Snippet::None,
        // These point at the start of a document or file, not at a faulty token.
        "missing-field" | "empty-file" => Snippet::Point,
        _ => Snippet::Token,
    };
    location(out, &diagnostic.origin, snippet, &pad, styles, sources);
    if let Some(help) = &diagnostic.help {
        let help = escape_controls(help);
        let _ = writeln!(out, "{pad} {g}={g:#} {m}help{m:#}: {help}");
    }
    for (origin, note) in &diagnostic.notes {
        let n = styles.note;
        let note = escape_controls(note);
        let _ = writeln!(out, "{n}note{n:#}{m}: {note}{m:#}");
        location(out, origin, Snippet::Token, &pad, styles, sources);
    }
}

/// What to show under a location.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Snippet {
    /// Nothing but the location.
    None,
    /// The line, one caret at the column.
    Point,
    /// The line, carets under the token at the column.
    Token,
}

/// ` --> file:line:col`, then the source line and a caret under the fault.
fn location(
    out: &mut String,
    origin: &Origin,
    snippet: Snippet,
    pad: &str,
    styles: &Styles,
    sources: &mut Sources,
) {
    let (g, c) = (styles.gutter, styles.caret);
    if origin.line == 0 {
        let _ = writeln!(out, "{pad}{g}-->{g:#} {}", origin.file.display());
        return;
    }
    let _ = writeln!(out, "{pad}{g}-->{g:#} {origin}");
    let Some(line) = (snippet != Snippet::None)
        .then(|| sources.line(&origin.file, origin.line))
        .flatten()
    else {
        return;
    };
    let chars: Vec<char> = line.chars().collect();
    let start = origin.column.saturating_sub(1);
    let shown: String = chars.iter().map(|&ch| display(ch)).collect();
    let indent: usize = chars
        .iter()
        .take(start)
        .map(|&ch| display(ch).chars().count())
        .sum::<usize>()
        + start.saturating_sub(chars.len());
    let len = if snippet == Snippet::Point {
        1
    } else {
        token_len(&chars, start)
    };
    let width: usize = chars
        .iter()
        .skip(start)
        .take(len)
        .map(|&ch| display(ch).chars().count())
        .sum();
    let _ = writeln!(out, "{pad} {g}|{g:#}");
    let _ = writeln!(
        out,
        "{g}{:>w$} |{g:#} {}",
        origin.line,
        shown.trim_end(),
        w = pad.len()
    );
    let _ = writeln!(
        out,
        "{pad} {g}|{g:#} {}{c}{}{c:#}",
        " ".repeat(indent),
        "^".repeat(width.max(1))
    );
}

/// How a source character is shown: tabs expanded, control and invisible characters
/// (see [`is_unsafe_char`]) as `?`.
fn display(ch: char) -> String {
    match ch {
        '\t' => " ".repeat(TAB),
        c if is_unsafe_char(c) => "?".to_owned(),
        c => c.to_string(),
    }
}

/// How many characters the YAML token starting at `start` spans: a quoted scalar to its
/// closing quote; a key or plain scalar up to `: `, `,`, `]`, `}` or ` #`; at least one.
fn token_len(chars: &[char], start: usize) -> usize {
    let Some(&first) = chars.get(start) else {
        return 1;
    };
    let rest = &chars[start..];
    if first == '"' || first == '\'' {
        let mut escaped = false;
        for (i, &ch) in rest.iter().enumerate().skip(1) {
            if ch == first && !escaped {
                return i + 1;
            }
            escaped = first == '"' && ch == '\\' && !escaped;
        }
        return rest.len();
    }
    if matches!(first, '{' | '[' | '\t') {
        return 1;
    }
    // A tag (`!!binary`) ends at the first blank.
    if first == '!' {
        return rest
            .iter()
            .position(|c| c.is_whitespace())
            .unwrap_or(rest.len());
    }
    let end = (0..rest.len())
        .find(|&i| {
            let next_blank = rest.get(i + 1).is_none_or(|c| c.is_whitespace());
            match rest[i] {
                ',' | ']' | '}' => true,
                ':' => next_blank,
                '#' => i > 0 && rest[i - 1].is_whitespace(),
                _ => false,
            }
        })
        .unwrap_or(rest.len());
    let trimmed = rest[..end]
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(0, |i| i + 1);
    trimmed.max(1)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
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

    fn len(line: &str, column: usize) -> usize {
        token_len(&line.chars().collect::<Vec<_>>(), column - 1)
    }

    #[test]
    fn carets_cover_the_token() {
        assert_eq!(len("setings:", 1), 7);
        assert_eq!(len("paySystem: 11   # id", 12), 2);
        assert_eq!(len("  A: { type: VALUE, value: 1.5 }", 28), 3);
        assert_eq!(len("  A: { secret: env:1BAD }", 16), 8);
        assert_eq!(len("  A: \"a \\\" b\" # c", 6), 8);
        assert_eq!(len("  A:", 5), 1);
        assert_eq!(len("  A: [1, 2]", 6), 1);
    }

    #[test]
    fn renders_plain_text_with_a_caret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.yaml");
        std::fs::write(&file, "a: 1\n\tsetings: {}\n").unwrap();
        let origin = Origin {
            file: file.clone(),
            line: 2,
            column: 2,
        };
        let diagnostics = Diagnostics(vec![Diagnostic {
            code: "unknown-field",
            message: "unknown field `setings`".into(),
            origin: origin.clone(),
            help: Some("did you mean `settings`?".into()),
            notes: vec![(
                Origin {
                    line: 1,
                    column: 1,
                    ..origin
                },
                "see here".into(),
            )],
        }]);
        let text = render(&diagnostics, false);
        let expected = format!(
            "error[unknown-field]: unknown field `setings`\n --> {f}:2:2\n  |\n2 |     setings: {{}}\n  |     ^^^^^^^\n  = help: did you mean `settings`?\nnote: see here\n --> {f}:1:1\n  |\n1 | a: 1\n  | ^\n\nerror: 1 problem found in 1 file; nothing was written to the portal\n",
            f = file.display()
        );
        assert_eq!(text, expected);
        assert!(render(&diagnostics, true).contains("\u{1b}["));
    }
}

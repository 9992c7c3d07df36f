//! Values, codes, references and diff lines as the pull-request comment writes them
//! ([`super::plan_markdown`]): user data escaped for Markdown and HTML outside code
//! blocks, JSON-escaped inside them, and cut to [`VALUE_CHARS`] characters.

use std::fmt::Write;

use super::secret_groups::{renamed, secret_to_secret};
use crate::model::SOURCE_VALUE;
use crate::plan::{Action, Change, Value};

/// A value (or code) longer than this is cut, saying how much was left out.
pub const VALUE_CHARS: usize = 200;

/// The hidden first line of a comment, issue or summary paysync writes, by which a CI
/// step finds its own again: `<!-- paysync-KIND -->`, with the environment when there is
/// one and the part of a continued one (`<!-- paysync-plan env:prod part:2 -->`).
pub(super) fn marker(kind: &str, environment: Option<&str>, part: usize) -> String {
    let mut m = format!("<!-- paysync-{kind}");
    if let Some(env) = environment {
        // Names are checked when paysync.yaml is read; nothing here can end the comment.
        let env: String = env
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let _ = write!(m, " env:{env}");
    }
    if part > 1 {
        let _ = write!(m, " part:{part}");
    }
    m.push_str(" -->");
    m
}

/// The start of a `<sub>` header line: paysync's version, the portal's host (never
/// credentials) and the environment, escaped and cut.
pub(super) fn about_parts(about: &crate::plan::About) -> Vec<String> {
    let mut parts = vec![format!("paysync {}", env!("CARGO_PKG_VERSION"))];
    if let Some(host) = about.host() {
        parts.push(format!("portal <code>{}</code>", text(clip(host).0)));
    }
    if let Some(env) = &about.environment {
        parts.push(format!("environment <code>{}</code>", text(clip(env).0)));
    }
    parts
}

/// `commit <code>3f9c2d1e8b7a</code>`: the commit of a CI run, when there is one.
pub(super) fn commit_part(about: &crate::plan::About) -> Option<String> {
    let short: String = about.commit.as_ref()?.chars().take(12).collect();
    Some(format!("commit <code>{}</code>", text(&short)))
}

/// User data for Markdown text or HTML (table cells, `<summary>`): every character that
/// means something to either, and every control character, as a numeric character
/// reference. References are decoded only after the Markdown structure is parsed, so
/// they cannot open or close anything.
pub(super) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control()
            || matches!(
                ch,
                '&' | '<'
                    | '>'
                    | '"'
                    | '\''
                    | '|'
                    | '\\'
                    | '`'
                    | '*'
                    | '_'
                    | '['
                    | ']'
                    | '#'
                    | '~'
                    | '!'
                    | '@'
                    | ':'
                    | '$'
            )
        {
            let _ = write!(out, "&#{};", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    out
}

/// A code fence longer than any run of backticks in `lines` (at least three).
pub(super) fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .map(|l| {
            l.split(|c| c != '`')
                .map(str::len)
                .max()
                .unwrap_or_default()
        })
        .max()
        .unwrap_or_default();
    "`".repeat(longest.max(2) + 1)
}

/// At most [`VALUE_CHARS`] characters of `s` and how many were left out.
pub(super) fn clip(s: &str) -> (&str, usize) {
    match s.char_indices().nth(VALUE_CHARS) {
        Some((end, _)) => (&s[..end], s[end..].chars().count()),
        None => (s, 0),
    }
}

pub(super) fn left_out(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("… (+{n} characters)")
    }
}

/// `s` JSON-escaped without quotes: no raw control characters (so no line break).
pub(super) fn escaped(s: &str) -> String {
    // JSON's escapes, and also DEL, C1 controls and the invisible characters that
    // reorder text: markdown is printed to terminals too.
    let mut out = String::with_capacity(s.len());
    crate::render::push_quoted_inner(&mut out, s);
    out
}

/// A setting code (upper-case letters, digits and `_` as a rule; anything else escaped).
pub(super) fn code(c: &Change) -> String {
    let (shown, more) = clip(&c.code);
    format!("{}{}", escaped(shown), left_out(more))
}

/// A literal value JSON-quoted, a field source as `SOURCE:FIELD`, as in the text plan.
pub(super) fn source_value(source: Option<&str>, value: &str) -> String {
    let (shown, more) = clip(value);
    match source {
        Some(s) if s != SOURCE_VALUE => {
            format!("{}:{}{}", escaped(s), escaped(shown), left_out(more))
        }
        _ => format!("\"{}\"{}", escaped(shown), left_out(more)),
    }
}

pub(super) fn value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Live { value: None, .. }) => "(unset)".into(),
        Some(Value::Plain { source, value }) => source_value(Some(source), value),
        Some(Value::Live {
            source,
            value: Some(value),
        }) => source_value(source.as_deref(), value),
        Some(secret @ Value::Secret { source, .. }) => {
            let mut s = String::from("(");
            if source != SOURCE_VALUE {
                let _ = write!(s, "{}, ", escaped(source));
            }
            let _ = write!(s, "secret {}", secret_ref(v));
            if let Some(reason) = secret.unchecked_reason() {
                let _ = write!(s, ", {reason}");
            }
            s.push(')');
            s
        }
        Some(Value::Hidden { .. }) => "(secret)".into(),
    }
}

/// `env:NAME` or `file:PATH` (the path as written in the manifest), escaped and cut.
pub(super) fn secret_ref(v: Option<&Value>) -> String {
    match v {
        Some(Value::Secret { secret, .. }) => {
            let reference = secret.to_string();
            let (shown, more) = clip(&reference);
            format!("{}{}", escaped(shown), left_out(more))
        }
        _ => String::new(),
    }
}

/// A reference (or code) escaped and cut, as [`secret_ref`] writes one.
pub(super) fn clipped(s: &str) -> String {
    let (shown, more) = clip(s);
    format!("{}{}", escaped(shown), left_out(more))
}

/// One line of the `diff` block.
pub(super) fn line(c: &Change) -> String {
    let code = code(c);
    match c.action {
        Action::Add => format!("+ {code} = {}", value(c.after.as_ref())),
        // Not `-`: nothing is deleted, and GitHub colours `-` lines red.
        Action::Forget => format!(". {code} (no longer managed; left as is on the portal)"),
        Action::Unchecked => format!(
            "! {code} (secret {}, {})",
            secret_ref(c.after.as_ref()),
            c.after
                .as_ref()
                .and_then(Value::unchecked_reason)
                .unwrap_or("not checked")
        ),
        Action::Update | Action::Drift => {
            let drift = c.action == Action::Drift;
            if secret_to_secret(c) {
                let from =
                    renamed(c).map_or_else(String::new, |old| format!("{} -> ", clipped(&old)));
                format!(
                    "! {code} (secret {from}{}, changed{})",
                    secret_ref(c.after.as_ref()),
                    if drift { " outside paysync" } else { "" }
                )
            } else {
                format!(
                    "! {code}: {} -> {}{}",
                    value(c.before.as_deref()),
                    value(c.after.as_ref()),
                    if drift {
                        " (changed outside paysync)"
                    } else {
                        ""
                    }
                )
            }
        }
        Action::Record => format!("  {code} = {}", value(c.after.as_ref())),
    }
}

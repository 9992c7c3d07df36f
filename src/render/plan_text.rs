//! The human-readable plan: one block per target, one line per setting, a summary line.
//!
//! ```text
//! paySystem 11 / personType 1  (manifests/acme.yaml:2)
//!   + PAYMENT_ID = PAYMENT:ACCOUNT_NUMBER
//!   ~ REST_SERVICE_ID_IFRAME: "00412" -> "00413"
//!   ~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)
//!   - OLD_CODE (no longer managed; left as is on the portal)
//!
//! Plan: 1 target to change, 3 settings (1 to add, 2 to change), 1 no longer managed.
//! ```
//!
//! Literal values (`type: VALUE`) are shown JSON-quoted so spaces and empty strings are
//! visible; other sources as `SOURCE:FIELD`. Secrets only ever as their reference.

use std::fmt::Write;

use anstyle::{AnsiColor, Effects, Style};
use similar::{ChangeTag, TextDiff};

use crate::model::SOURCE_VALUE;
use crate::plan::{Action, Change, Plan, Summary, Value};

const ADD: Style = AnsiColor::Green.on_default();
const CHANGE: Style = AnsiColor::Yellow.on_default();
const FORGET: Style = AnsiColor::Red.on_default();
const DIM: Style = Style::new().effects(Effects::DIMMED);
const BOLD: Style = Style::new().effects(Effects::BOLD);
const DELETED: Style = AnsiColor::Red.on_default().effects(Effects::UNDERLINE);
const INSERTED: Style = AnsiColor::Green.on_default().effects(Effects::UNDERLINE);

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

/// Renders the plan for a terminal or a log. `color` adds ANSI styles.
pub fn render(plan: &Plan, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    for target in &plan.targets {
        let shown: Vec<&Change> = target
            .changes
            .iter()
            .filter(|c| c.action != Action::Record)
            .collect();
        if shown.is_empty() {
            continue;
        }
        let _ = write!(out, "{}", p.paint(BOLD, &target.target.to_string()));
        if let Some(m) = &target.manifest {
            let _ = write!(out, "  {}", p.paint(DIM, &format!("({m})")));
        }
        out.push('\n');
        for change in shown {
            out.push_str("  ");
            out.push_str(&change_line(change, &p));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&summary_line(&plan.summary()));
    out.push('\n');
    out
}

/// `Plan: 3 targets to change, 7 settings (5 to add, 2 to change), 1 no longer managed.`
/// or `No changes.`, with the number of unchecked secrets appended when there are any.
pub fn summary_line(s: &Summary) -> String {
    let mut line = if s.has_changes() {
        let settings = s.to_add + s.to_change;
        let mut parts = Vec::new();
        if settings > 0 || s.no_longer_managed == 0 {
            parts.push(format!(
                "{} to change, {} ({} to add, {} to change)",
                plural(s.targets_to_change, "target"),
                plural(settings, "setting"),
                s.to_add,
                s.to_change
            ));
        }
        if s.no_longer_managed > 0 {
            parts.push(format!("{} no longer managed", s.no_longer_managed));
        }
        format!("Plan: {}.", parts.join(", "))
    } else {
        "No changes.".to_owned()
    };
    if s.drifted > 0 {
        let _ = write!(
            line,
            " {} changed outside paysync.",
            plural(s.drifted, "setting")
        );
    }
    if s.not_checked > 0 {
        let _ = write!(
            line,
            " {} not checked (apply reads them and writes only what changed).",
            plural(s.not_checked, "secret")
        );
    }
    line
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn change_line(c: &Change, p: &Painter) -> String {
    let code = &c.code;
    match c.action {
        Action::Add => format!(
            "{} {code} = {}",
            p.paint(ADD, "+"),
            shown(c.after.as_ref(), p)
        ),
        Action::Forget => format!(
            "{} {code} {}",
            p.paint(FORGET, "-"),
            p.paint(DIM, "(no longer managed; left as is on the portal)")
        ),
        Action::Unchecked => format!(
            "{} {code} ({}, not checked)",
            p.paint(CHANGE, "~"),
            secret_label(c.after.as_ref())
        ),
        Action::Update | Action::Drift => {
            let suffix = if c.action == Action::Drift {
                "changed outside paysync"
            } else {
                "changed"
            };
            let both_secret = matches!(
                (&c.before, &c.after),
                (
                    Some(Value::Secret { .. } | Value::Hidden { .. }),
                    Some(Value::Secret { .. })
                )
            );
            if both_secret && same_source(c) {
                format!(
                    "{} {code} ({}, {suffix})",
                    p.paint(CHANGE, "~"),
                    secret_label(c.after.as_ref())
                )
            } else {
                let (before, after) = diffed(c.before.as_ref(), c.after.as_ref(), p);
                let mut line = format!("{} {code}: {before} -> {after}", p.paint(CHANGE, "~"));
                if c.action == Action::Drift {
                    let _ = write!(line, " {}", p.paint(DIM, "(changed outside paysync)"));
                }
                line
            }
        }
        Action::Record => format!("= {code} = {}", shown(c.after.as_ref(), p)),
    }
}

fn same_source(c: &Change) -> bool {
    let src = |v: &Option<Value>| match v {
        Some(Value::Secret { source, .. }) => Some(source.clone()),
        Some(Value::Hidden { source }) => source.clone(),
        _ => None,
    };
    match (src(&c.before), src(&c.after)) {
        (Some(a), Some(b)) => a == b,
        // A hidden live value with no reported source: compare values only.
        (None, Some(_)) => true,
        _ => false,
    }
}

fn secret_label(v: Option<&Value>) -> String {
    match v {
        Some(Value::Secret { secret, .. }) => format!("secret {secret}"),
        _ => "secret".to_owned(),
    }
}

/// A value on its own, as written in a plan line.
fn shown(v: Option<&Value>, p: &Painter) -> String {
    match v {
        None => p.paint(DIM, "(unset)"),
        Some(Value::Plain { source, value }) => source_value(Some(source), value),
        Some(Value::Secret {
            secret,
            fingerprint,
            source,
        }) => {
            let typ = if source == SOURCE_VALUE {
                String::new()
            } else {
                format!("{source}, ")
            };
            let checked = if fingerprint.is_some() {
                ""
            } else {
                ", not checked"
            };
            format!("({typ}secret {secret}{checked})")
        }
        Some(Value::Live {
            source,
            value: Some(value),
        }) => source_value(source.as_ref(), value),
        Some(Value::Live { value: None, .. }) => p.paint(DIM, "(unset)"),
        Some(Value::Hidden { .. }) => "(secret)".to_owned(),
    }
}

fn source_value(source: Option<&String>, value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("strings serialise");
    match source {
        Some(s) if s != SOURCE_VALUE => format!("{s}:{value}"),
        _ => quoted,
    }
}

/// Both sides of a change; when both are literal strings and colour is on, the
/// characters that differ are underlined (similar's character diff).
fn diffed(before: Option<&Value>, after: Option<&Value>, p: &Painter) -> (String, String) {
    let literal = |v: Option<&Value>| match v {
        Some(Value::Plain { source, value }) if source == SOURCE_VALUE => Some(value.clone()),
        Some(Value::Live {
            source,
            value: Some(value),
        }) if source.as_deref().is_none_or(|s| s == SOURCE_VALUE) => Some(value.clone()),
        _ => None,
    };
    match (literal(before), literal(after)) {
        (Some(old), Some(new)) if p.color => {
            let diff = TextDiff::from_chars(old.as_str(), new.as_str());
            let (mut b, mut a) = (String::from("\""), String::from("\""));
            for change in diff.iter_all_changes() {
                let text = escape_inner(change.value());
                match change.tag() {
                    ChangeTag::Equal => {
                        b.push_str(&text);
                        a.push_str(&text);
                    }
                    ChangeTag::Delete => b.push_str(&p.paint(DELETED, &text)),
                    ChangeTag::Insert => a.push_str(&p.paint(INSERTED, &text)),
                }
            }
            b.push('"');
            a.push('"');
            (b, a)
        }
        _ => (shown(before, p), shown(after, p)),
    }
}

/// A fragment of a JSON-quoted string, without the quotes.
fn escape_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("strings serialise");
    quoted[1..quoted.len() - 1].to_owned()
}

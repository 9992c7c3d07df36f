//! The human-readable plan: one block per target, one line per setting, a summary line.
//!
//! ```text
//! paySystem 11 / personType 1  (manifests/acme.yaml:2)
//!   + PAYMENT_ID = PAYMENT:ACCOUNT_NUMBER
//!   ~ REST_SERVICE_ID_IFRAME: "00412" -> "00413"
//!   ~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)
//!   . OLD_CODE (no longer managed; left as is on the portal)
//!
//! Secrets not checked (apply reads them and writes only what changed):
//!   ? env:PS_SECRET in 714 targets (REST_SERVICE_KEY)
//!
//! Plan: 1 target to change, 3 settings (1 to add, 2 to change), 1 no longer managed.
//! ```
//!
//! A code no longer managed is marked `.`, not `-`: nothing is deleted. Secrets that
//! could not be read at plan time are listed once per reference after the targets
//! ([`super::secret_groups`]), not once per target.
//!
//! Literal values (`type: VALUE`) are shown JSON-quoted so spaces and empty strings are
//! visible; other sources as `SOURCE:FIELD`. Secrets only ever as their reference.

use std::fmt::{self, Write};

use anstyle::{AnsiColor, Effects, Style};
use similar::{ChangeTag, TextDiff};

use crate::model::{Location, SOURCE_VALUE};
use crate::plan::objects::{ObjectAction, ObjectPlan};
use crate::plan::{Action, Change, Plan, Summary, TargetPlan, Value};
use crate::render::{OUTPUT_PART, push_quoted, push_quoted_inner, target_label};
use crate::untrusted::escape_controls;
use crate::wording::plural;

const ADD: Style = AnsiColor::Green.on_default();
const CHANGE: Style = AnsiColor::Yellow.on_default();
const ATTENTION: Style = AnsiColor::Red.on_default();
const DIM: Style = Style::new().effects(Effects::DIMMED);
const BOLD: Style = Style::new().effects(Effects::BOLD);
const DELETED: Style = AnsiColor::Red.on_default().effects(Effects::UNDERLINE);
const INSERTED: Style = AnsiColor::Green.on_default().effects(Effects::UNDERLINE);

/// Writes styled text. Everything is written straight into the output string: a plan
/// line used to be assembled from four or five short-lived strings, and with 200,000
/// lines (`cargo bench --bench paysync -- offline`) writing in place took `render` from
/// about 52 ms to 19 ms.
struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, out: &mut String, style: Style, text: impl fmt::Display) {
        let _ = if self.color {
            write!(out, "{style}{text}{style:#}")
        } else {
            write!(out, "{text}")
        };
    }

    /// `  (file:line)`, dimmed, after what it locates.
    fn place(&self, out: &mut String, at: &Location) {
        out.push_str("  ");
        self.paint(
            out,
            DIM,
            format_args!("({})", escape_controls(&at.to_string())),
        );
    }
}

/// Renders the plan for a terminal or a log. `color` adds ANSI styles. What needs
/// attention is listed first (target, code, why, `file:line`), most serious first.
pub fn render(plan: &Plan, color: bool) -> String {
    let mut all = String::new();
    render_in_parts(plan, color, |part| all.push_str(part));
    all
}

/// [`render`], handed to `emit` in parts of about [`OUTPUT_PART`] bytes, each ending at
/// the end of a target.
pub fn render_in_parts(plan: &Plan, color: bool, mut emit: impl FnMut(&str)) {
    let p = Painter { color };
    let mut out = String::new();
    let mut pass_on = |out: &mut String| {
        if out.len() >= OUTPUT_PART {
            emit(out);
            out.clear();
        }
    };
    // With environments, which one and where first (without, the plan reads as always).
    if let Some(env) = &plan.about.environment {
        let mut header = format!("Environment {}", escape_controls(env));
        if let Some(host) = plan.about.host() {
            let _ = write!(header, " · portal {}", escape_controls(host));
        }
        p.paint(&mut out, BOLD, header);
        out.push_str("\n\n");
    }
    let attention = plan.attention_by_risk();
    let deletes: Vec<&ObjectPlan> = plan
        .objects
        .iter()
        .filter(|o| o.action == ObjectAction::Delete)
        .collect();
    if !attention.is_empty() || !deletes.is_empty() {
        p.paint(&mut out, BOLD, "Needs attention:");
        out.push('\n');
        for o in &deletes {
            out.push_str("  ");
            p.paint(&mut out, ATTENTION, "!");
            let _ = write!(
                out,
                " {}  deleted from the portal (`delete: true`)",
                object_label(o)
            );
            if let Some(note) = &o.note {
                let _ = write!(out, ": {}", escape_controls(note));
            }
            if let Some(at) = &o.at {
                p.place(&mut out, at);
            }
            out.push('\n');
        }
        for (t, c) in attention {
            out.push_str("  ");
            p.paint(&mut out, ATTENTION, "!");
            let _ = write!(
                out,
                " {}  {}: {}",
                target_label(&t.target, &plan.names),
                escape_controls(&c.code),
                c.risk().reason()
            );
            match t.location(c) {
                Some(at) => p.place(&mut out, at),
                None => p.paint(&mut out, DIM, "  (no longer declared in the manifests)"),
            }
            out.push('\n');
        }
        out.push('\n');
    }
    for o in &plan.objects {
        object_block(&mut out, o, &p);
        pass_on(&mut out);
    }
    for target in &plan.targets {
        let mut shown = target
            .changes
            .iter()
            .filter(|c| !matches!(c.action, Action::Record | Action::Unchecked))
            .peekable();
        if shown.peek().is_none() {
            continue;
        }
        p.paint(&mut out, BOLD, target_label(&target.target, &plan.names));
        if let Some(m) = &target.manifest {
            p.place(&mut out, m);
        }
        out.push('\n');
        for change in shown {
            out.push_str("  ");
            change_line(&mut out, change, &p);
            // A value set by another file than the target's (an environment's overlay)
            // says where it comes from.
            if let Some(at) = overlay_origin(target, change) {
                p.place(&mut out, at);
            }
            out.push('\n');
        }
        out.push('\n');
        pass_on(&mut out);
    }
    for target in &plan.unresolved {
        p.paint(
            &mut out,
            BOLD,
            escape_controls(target.reference.as_deref().unwrap_or_default()),
        );
        out.push_str("  ");
        if plan.creates_pay_system_of(target) {
            p.paint(
                &mut out,
                CHANGE,
                "(its pay system is created by this apply)",
            );
        } else {
            p.paint(&mut out, CHANGE, "(resolved at apply)");
        }
        if let Some(m) = &target.manifest {
            p.place(&mut out, m);
        }
        out.push('\n');
        for change in &target.changes {
            out.push_str("  ");
            change_line(&mut out, change, &p);
            out.push('\n');
        }
        out.push('\n');
        pass_on(&mut out);
    }
    unchecked(&mut out, plan, &p);
    out.push_str(&summary_line(&plan.summary()));
    out.push('\n');
    for warning in &plan.warnings {
        p.paint(&mut out, CHANGE, "Warning:");
        let _ = writeln!(out, " {}", escape_controls(warning));
    }
    emit(&out);
}

/// What a plan does to handlers and pay systems, in words: `3 handlers and pay systems
/// to create`, or with several kinds of change `2 handlers and pay systems to change (1
/// to update, 1 to delete)`; `None` when it does nothing to them.
pub fn objects_phrase(s: &Summary) -> Option<String> {
    let kinds: Vec<(usize, &str)> = [
        (s.objects_to_create, "to create"),
        (s.objects_to_adopt, "to adopt"),
        (s.objects_to_update, "to update"),
        (s.objects_to_delete, "to delete"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect();
    match kinds.as_slice() {
        [] => None,
        [(n, what)] => Some(format!("{} {what}", objects_count(*n))),
        several => Some(format!(
            "{} to change ({})",
            objects_count(s.object_writes()),
            several
                .iter()
                .map(|(n, what)| format!("{n} {what}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `1 handler or pay system`, `3 handlers and pay systems`.
pub fn objects_count(n: usize) -> String {
    if n == 1 {
        "1 handler or pay system".to_owned()
    } else {
        format!("{n} handlers and pay systems")
    }
}

/// `handler acmepay (ID 5)`: an object and its ID, when known.
fn object_label(o: &ObjectPlan) -> String {
    match o.id {
        Some(id) => format!("{} (ID {id})", o.name()),
        None => o.name(),
    }
}

/// One object's block: what is done with it, then its fields.
fn object_block(out: &mut String, o: &ObjectPlan, p: &Painter) {
    let (sign, style, what) = match o.action {
        ObjectAction::Create => ("+", ADD, "to create"),
        ObjectAction::Adopt => ("+", ADD, "to adopt"),
        ObjectAction::Update => ("~", CHANGE, "to update"),
        ObjectAction::Delete => ("-", ATTENTION, "to delete"),
        ObjectAction::Forget => (".", DIM, "no longer managed; left as is on the portal"),
    };
    p.paint(out, style, sign);
    out.push(' ');
    p.paint(out, BOLD, object_label(o));
    let _ = write!(out, "  {what}");
    if let Some(at) = &o.at {
        p.place(out, at);
    }
    out.push('\n');
    if let Some(note) = &o.note {
        out.push_str("    ");
        p.paint(out, DIM, format_args!("({})", escape_controls(note)));
        out.push('\n');
    }
    for c in &o.changes {
        out.push_str("    ");
        match (&c.before, &c.after) {
            (None, Some(after)) => {
                p.paint(out, ADD, "+");
                let _ = write!(out, " {} = ", escape_controls(&c.field));
                push_quoted(out, after);
            }
            (Some(before), Some(after)) => {
                p.paint(out, CHANGE, "~");
                let _ = write!(out, " {}: ", escape_controls(&c.field));
                push_quoted(out, before);
                out.push_str(" -> ");
                push_quoted(out, after);
            }
            (Some(before), None) => {
                p.paint(out, ATTENTION, "-");
                let _ = write!(out, " {} (was ", escape_controls(&c.field));
                push_quoted(out, before);
                out.push(')');
            }
            (None, None) => {}
        }
        out.push('\n');
    }
    out.push('\n');
}

/// `Plan: 3 targets to change, 7 settings (5 to add, 2 to change), 1 no longer managed.`
/// or `No changes.`, with the number of unchecked secrets appended when there are any.
pub fn summary_line(s: &Summary) -> String {
    let mut line = if s.has_changes() {
        let settings = s.to_add + s.to_change;
        let mut parts = Vec::new();
        let objects = s.object_writes() + s.objects_no_longer_managed;
        parts.extend(objects_phrase(s));
        if settings > 0 || (s.no_longer_managed == 0 && s.to_resolve == 0 && objects == 0) {
            parts.push(format!(
                "{} to change, {} ({} to add, {} to change)",
                plural(s.targets_to_change, "target"),
                plural(settings, "setting"),
                s.to_add,
                s.to_change
            ));
        }
        if s.to_resolve > 0 {
            parts.push(format!(
                "{} named by reference, resolved at apply",
                plural(s.to_resolve, "target")
            ));
        }
        if s.no_longer_managed > 0 {
            parts.push(format!("{} no longer managed", s.no_longer_managed));
        }
        if s.objects_no_longer_managed > 0 {
            parts.push(format!(
                "{} no longer managed",
                objects_count(s.objects_no_longer_managed)
            ));
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
    if s.empty_secrets > 0 {
        let _ = write!(
            line,
            " {} empty: apply refuses to run until {} set.",
            plural(s.empty_secrets, "secret"),
            if s.empty_secrets == 1 {
                "it is"
            } else {
                "they are"
            }
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

fn change_line(out: &mut String, c: &Change, p: &Painter) {
    let code = escape_controls(&c.code);
    match c.action {
        Action::Add => {
            p.paint(out, ADD, "+");
            let _ = write!(out, " {code} = ");
            shown(out, c.after.as_ref(), p);
        }
        Action::Forget => {
            p.paint(out, DIM, ".");
            let _ = write!(out, " {code} ");
            p.paint(out, DIM, "(no longer managed; left as is on the portal)");
        }
        Action::Unchecked => {
            p.paint(out, CHANGE, "~");
            let _ = write!(out, " {code} (");
            secret_label(out, c.after.as_ref());
            let reason = c.after.as_ref().and_then(Value::unchecked_reason);
            let _ = write!(out, ", {})", reason.unwrap_or("not checked"));
        }
        Action::Update | Action::Drift => {
            let suffix = if c.action == Action::Drift {
                "changed outside paysync"
            } else {
                "changed"
            };
            let both_secret = matches!(
                (c.before.as_deref(), c.after.as_ref()),
                (
                    Some(Value::Secret { .. } | Value::Hidden { .. }),
                    Some(Value::Secret { .. })
                )
            );
            p.paint(out, CHANGE, "~");
            if both_secret && same_source(c) {
                let _ = write!(out, " {code} (");
                if let Some(old) = super::secret_groups::renamed(c) {
                    let _ = write!(out, "secret {} -> ", escape_controls(&old));
                    if let Some(Value::Secret { secret, .. }) = &c.after {
                        let _ = write!(out, "{}", escape_controls(&secret.to_string()));
                    }
                } else {
                    secret_label(out, c.after.as_ref());
                }
                let _ = write!(out, ", {suffix})");
            } else {
                let (before, after) = diffed(c.before.as_deref(), c.after.as_ref(), p);
                let _ = write!(out, " {code}: {before} -> {after}");
                if c.action == Action::Drift {
                    out.push(' ');
                    p.paint(out, DIM, "(changed outside paysync)");
                }
            }
        }
        Action::Record => {
            let _ = write!(out, "= {code} = ");
            shown(out, c.after.as_ref(), p);
        }
    }
}

/// The secrets not checked at plan time, one line per reference and reason: the targets
/// when at most three use it, else how many, and the codes.
fn unchecked(out: &mut String, plan: &Plan, p: &Painter) {
    const NAMED: usize = 3;
    let groups = super::secret_groups::unchecked(plan);
    if groups.is_empty() {
        return;
    }
    p.paint(
        out,
        BOLD,
        "Secrets not checked (apply reads them and writes only what changed):",
    );
    out.push('\n');
    for g in &groups {
        out.push_str("  ");
        p.paint(out, CHANGE, "?");
        let _ = write!(out, " {}", escape_controls(&g.reference));
        if g.reason != "not checked" {
            let _ = write!(out, " ({})", g.reason);
        }
        let named = g.targets();
        if named.len() > NAMED {
            let _ = write!(out, " in {}", plural(named.len(), "target"));
        } else {
            let labels: Vec<String> = named
                .iter()
                .map(|t| target_label(&t.target, &plan.names))
                .collect();
            let _ = write!(out, " in {}", labels.join(", "));
        }
        let codes: Vec<String> = g
            .codes
            .iter()
            .map(|c| escape_controls(c).to_string())
            .collect();
        let _ = writeln!(out, " ({})", codes.join(", "));
    }
    out.push('\n');
}

/// `file:line` of a change declared in another file than its target's document.
pub(crate) fn overlay_origin<'a>(target: &TargetPlan, change: &'a Change) -> Option<&'a Location> {
    let at = change.at.as_ref()?;
    (Some(&*at.file) != target.file()).then_some(at)
}

fn same_source(c: &Change) -> bool {
    fn src(v: Option<&Value>) -> Option<&str> {
        match v {
            Some(Value::Secret { source, .. }) => Some(source),
            Some(Value::Hidden { source }) => source.as_deref(),
            _ => None,
        }
    }
    match (src(c.before.as_deref()), src(c.after.as_ref())) {
        (Some(a), Some(b)) => a == b,
        // A hidden live value with no reported source: compare values only.
        (None, Some(_)) => true,
        _ => false,
    }
}

fn secret_label(out: &mut String, v: Option<&Value>) {
    let _ = match v {
        Some(Value::Secret { secret, .. }) => {
            write!(out, "secret {}", escape_controls(&secret.to_string()))
        }
        _ => write!(out, "secret"),
    };
}

/// A value on its own, as written in a plan line.
fn shown(out: &mut String, v: Option<&Value>, p: &Painter) {
    match v {
        None | Some(Value::Live { value: None, .. }) => p.paint(out, DIM, "(unset)"),
        Some(Value::Plain { source, value }) => source_value(out, Some(source), value),
        Some(value @ Value::Secret { secret, source, .. }) => {
            out.push('(');
            if source != SOURCE_VALUE {
                let _ = write!(out, "{}, ", escape_controls(source));
            }
            let _ = write!(out, "secret {}", escape_controls(&secret.to_string()));
            if let Some(reason) = value.unchecked_reason() {
                let _ = write!(out, ", {reason}");
            }
            out.push(')');
        }
        Some(Value::Live {
            source,
            value: Some(value),
        }) => source_value(out, source.as_deref(), value),
        Some(Value::Hidden { .. }) => out.push_str("(secret)"),
    }
}

fn source_value(out: &mut String, source: Option<&str>, value: &str) {
    match source {
        Some(s) if s != SOURCE_VALUE => {
            let _ = write!(out, "{}:{}", escape_controls(s), escape_controls(value));
        }
        _ => push_quoted(out, value),
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
                let mut text = String::new();
                push_quoted_inner(&mut text, change.value());
                match change.tag() {
                    ChangeTag::Equal => {
                        b.push_str(&text);
                        a.push_str(&text);
                    }
                    ChangeTag::Delete => p.paint(&mut b, DELETED, &text),
                    ChangeTag::Insert => p.paint(&mut a, INSERTED, &text),
                }
            }
            b.push('"');
            a.push('"');
            (b, a)
        }
        _ => {
            let (mut b, mut a) = (String::new(), String::new());
            shown(&mut b, before, p);
            shown(&mut a, after, p);
            (b, a)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{SOURCE_VALUE, Target};
    use crate::plan::TargetPlan;

    /// `targets` targets of one added code each, declared in `m.yaml`.
    pub(crate) fn plan_of(targets: u64) -> Plan {
        plan_with(targets, |i| Change {
            code: "CODE_00".into(),
            action: Action::Add,
            at: Location::parse(&format!("m.yaml:{}", 6 + 7 * i)),
            before: None,
            after: Some(Value::Plain {
                source: SOURCE_VALUE.into(),
                value: format!("value-{i}").into(),
            }),
        })
    }

    /// `targets` targets (paySystem 1000 on, declared in `m.yaml`), the `i`-th with the
    /// one change `change(i)`.
    fn plan_with(targets: u64, change: impl Fn(u64) -> Change) -> Plan {
        Plan {
            targets: (0..targets)
                .map(|i| TargetPlan {
                    target: Target {
                        pay_system: 1000 + i,
                        person_type: 1,
                    },
                    manifest: Location::parse(&format!("m.yaml:{}", 1 + 7 * i)),
                    reference: None,
                    changes: vec![change(i)],
                })
                .collect(),
            ..Plan::default()
        }
    }

    #[test]
    fn a_large_plan_is_written_in_parts_that_end_between_targets() {
        let plan = plan_of(3_000);
        let mut parts = Vec::new();
        render_in_parts(&plan, false, |part| parts.push(part.to_owned()));
        assert!(parts.len() > 1, "one part of {} bytes", parts[0].len());
        // Every part but the last ends with a whole target and the blank line after it,
        // so that a line (and anything scrubbed from it) is never cut in two.
        for part in &parts[..parts.len() - 1] {
            assert!(part.len() >= OUTPUT_PART, "{} bytes", part.len());
            assert!(part.ends_with("\n\n"), "{:?}", &part[part.len() - 40..]);
        }
        let whole = parts.concat();
        assert_eq!(whole, render(&plan, false));
        assert_eq!(whole.matches("+ CODE_00").count(), 3_000);
        assert!(whole.contains("paySystem 3999 / personType 1  (m.yaml:20994)\n"));
        assert!(whole.ends_with(&format!("{}\n", summary_line(&plan.summary()))));
    }

    #[test]
    fn a_small_plan_is_written_in_one_part() {
        let plan = plan_of(2);
        let mut parts = Vec::new();
        render_in_parts(&plan, false, |part| parts.push(part.to_owned()));
        assert_eq!(parts.len(), 1);
        assert!(parts[0].starts_with("paySystem 1000 / personType 1  (m.yaml:1)\n"));
    }

    /// Regression (issue 23): 714 secrets not checked were 715 lines above "No changes.".
    #[test]
    fn secrets_not_checked_are_one_line_per_reference() {
        use crate::secrets::SecretRef;
        let secret = |name: &str| Value::Secret {
            source: SOURCE_VALUE.into(),
            secret: Box::new(SecretRef::Env { name: name.into() }),
            fingerprint: None,
            empty: false,
        };
        let plan = plan_with(714, |i| Change {
            code: "REST_SERVICE_KEY".into(),
            action: Action::Unchecked,
            at: None,
            before: None,
            after: Some(secret(if i < 712 { "PS_SECRET" } else { "OTHER" })),
        });
        let out = render(&plan, false);
        assert_eq!(
            out,
            "Secrets not checked (apply reads them and writes only what changed):\n  \
             ? env:OTHER in paySystem 1712 / personType 1, paySystem 1713 / personType 1 (REST_SERVICE_KEY)\n  \
             ? env:PS_SECRET in 712 targets (REST_SERVICE_KEY)\n\n\
             No changes. 714 secrets not checked (apply reads them and writes only what changed).\n"
        );
    }
}

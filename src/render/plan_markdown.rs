//! The plan as a pull-request comment (`--format markdown`), also appended to
//! `$GITHUB_STEP_SUMMARY` by `plan`. Review first: what needs attention is on top, always
//! visible; the details are folded, most serious target first.
//!
//! ```markdown
//! <!-- paysync-plan -->
//! ### paysync plan
//! <sub>paysync 0.4.0 · portal <code>example.bitrix24.ru</code> · compared with the last-applied state</sub>
//!
//! **Plan: 1 target to change, 2 settings (1 to add, 1 to change).**
//!
//! #### Needs attention (1)
//!
//! - **paySystem 11 / personType 1** <code>PAYMENT_ID</code>: value source changes: <code>PAYMENT:ACCOUNT_NUMBER</code> → <code>"0"</code> (<code>manifests/acme.yaml:7</code>)
//!
//! | | settings | targets |
//! |---|---:|---:|
//! | to change | 1 | 1 |
//!
//! <details><summary>paySystem 11 / personType 1: 1 needs attention, 1 to change (manifests/acme.yaml:4)</summary>
//!
//! ```diff
//! ! PAYMENT_ID: PAYMENT:ACCOUNT_NUMBER -> "0"
//! ```
//!
//! </details>
//! ```
//!
//! What it owns:
//!
//! - **Order**: the hidden [`MARKER`] (a CI step finds its own comment by it and edits it
//!   in place), a header line (paysync version, portal host — never credentials —,
//!   environment, commit and CI run from the CI's variables), the note on what was cut
//!   (when something was), the summary line, the "Needs attention" list (every change
//!   whose [`Risk`] needs attention, most serious first, each with its `file:line`), the
//!   warnings, a table of counts (rows that are all zero left out), the secrets not
//!   checked folded into one line, then one fold per target, most serious first, with
//!   its counts in the title. Settings only recorded in the state (live already equals
//!   desired) are not shown, as in the text plan.
//! - **Size**: never more than [`GITHUB_COMMENT_LIMIT`] characters (Unicode scalar
//!   values, as GitHub counts them, not bytes). The attention list is kept whole (only a
//!   list that alone would pass the limit is cut); folds are left out from the least
//!   serious target on, and the note at the top says how many and where the whole plan is
//!   (the saved plan the CI run uploads; `paysync show plan.json`).
//! - **Escaping**: codes, values, names, file paths and secret references are user data.
//!   Outside code blocks they are written with HTML character references for every
//!   character that means something to Markdown or HTML (`|` cannot split a table cell,
//!   `</summary>` or `</details>` cannot close the fold, `@name` does not mention anyone).
//!   Inside the `diff` block every line starts with a diff marker and values are
//!   JSON-escaped (no raw newline), so no line can be a closing fence; the fence is also
//!   longer than any run of backticks in the block. Long values are cut to [`VALUE_CHARS`]
//!   characters.
//! - **Secrets**: only their reference (`(secret env:NAME, changed)`); the live value of a
//!   secret code is `(secret)`. Fingerprints are never shown.
//!
//! Changes are marked `!` rather than the text plan's `~`, because GitHub's `diff`
//! highlighting colours `+`, `-` and `!` lines and leaves `~` plain.

use std::fmt::Write;

use crate::model::SOURCE_VALUE;
use crate::plan::risk::Risk;
use crate::plan::{Action, Change, Plan, TargetPlan, Value};
use crate::render::target_label;
use crate::wording::plural;

use super::plan_text::summary_line;

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;
/// A hidden marker so a CI step can find and update its own comment.
pub const MARKER: &str = "<!-- paysync-plan -->";
/// Room kept below the limit for the note on what was cut.
const NOTE_RESERVE: usize = 1_000;
/// Room kept after the attention list for the warnings and the table.
const AFTER_ATTENTION: usize = 6_000;
/// At most this many warnings are listed.
const WARNINGS_SHOWN: usize = 20;
/// A value (or code) longer than this is cut, saying how much was left out.
pub const VALUE_CHARS: usize = 200;

/// The comment being written, with its length in characters kept as it grows (counting
/// the whole string again for every line would be quadratic on large plans).
#[derive(Default)]
struct Comment {
    text: String,
    chars: usize,
}

impl Comment {
    fn push(&mut self, s: &str) {
        self.chars += s.chars().count();
        self.text.push_str(s);
    }

    fn fits(&self, more: usize, budget: usize) -> bool {
        self.chars + more <= budget
    }
}

/// What was left out to keep within the limit.
#[derive(Default)]
struct LeftOut {
    attention: usize,
    /// Targets whose fold was not written, or written in part.
    targets: usize,
    shown_targets: usize,
    unchecked: usize,
}

/// Renders the plan as GitHub-flavoured Markdown of at most [`GITHUB_COMMENT_LIMIT`]
/// characters.
pub fn render(plan: &Plan) -> String {
    let mut head = Comment::default();
    head.push(MARKER);
    head.push("\n### paysync plan\n");
    head.push(&header_line(plan));
    head.push("\n\n");

    let mut body = Comment::default();
    body.push("**");
    body.push(&summary_line(&plan.summary()));
    body.push("**\n\n");
    let budget = GITHUB_COMMENT_LIMIT - head.chars - NOTE_RESERVE;
    let mut left = LeftOut::default();

    // Needs attention: always visible, whole unless it alone would pass the limit.
    let attention = plan.attention_by_risk();
    if !attention.is_empty() {
        body.push(&format!("#### Needs attention ({})\n\n", attention.len()));
        let end = budget.saturating_sub(AFTER_ATTENTION);
        for (i, (t, c)) in attention.iter().enumerate() {
            let item = attention_item(plan, t, c);
            if !body.fits(item.chars().count() + 200, end) {
                left.attention = attention.len() - i;
                body.push(&format!(
                    "- … and {} that need attention, left out to stay within the limit\n",
                    plural(left.attention, "more change")
                ));
                break;
            }
            body.push(&item);
        }
        body.push("\n");
    }

    if !plan.warnings.is_empty() {
        body.push("> [!WARNING]\n");
        for w in plan.warnings.iter().take(WARNINGS_SHOWN) {
            let (shown, more) = clip(w);
            body.push(&format!("> - {}{}\n", text(shown), left_out(more)));
        }
        if plan.warnings.len() > WARNINGS_SHOWN {
            body.push(&format!(
                "> - … and {}\n",
                plural(plan.warnings.len() - WARNINGS_SHOWN, "more warning")
            ));
        }
        body.push("\n");
    }

    body.push(&counts_table(plan));
    unchecked_fold(plan, &mut body, budget, &mut left);
    details(plan, &mut body, budget, &mut left);
    unresolved(plan, &mut body, budget, &mut left);

    if left.attention + left.targets + left.unchecked > 0 {
        head.push(&truncation_note(plan, &left));
    }
    head.push(&body.text);
    debug_assert!(
        head.chars <= GITHUB_COMMENT_LIMIT,
        "{} > {GITHUB_COMMENT_LIMIT}",
        head.chars
    );
    head.text
}

/// `<sub>paysync 0.4.0 · portal <code>host</code> · … </sub>`
fn header_line(plan: &Plan) -> String {
    let about = &plan.about;
    let mut parts = vec![format!("paysync {}", env!("CARGO_PKG_VERSION"))];
    if let Some(host) = about.host() {
        parts.push(format!("portal <code>{}</code>", text(clip(host).0)));
    }
    if let Some(env) = &about.environment {
        parts.push(format!("environment <code>{}</code>", text(clip(env).0)));
    }
    if let Some(commit) = &about.commit {
        let short: String = commit.chars().take(12).collect();
        parts.push(format!("commit <code>{}</code>", text(&short)));
    }
    if let Some(url) = about.run_url.as_deref().filter(|u| plain_url(u)) {
        parts.push(format!("[CI run]({url})"));
    }
    parts.push(
        if plan.refreshed {
            "compared with the last-applied state and the live portal"
        } else {
            "compared with the last-applied state (changes made outside paysync: `--refresh`)"
        }
        .to_owned(),
    );
    format!("<sub>{}</sub>", parts.join(" · "))
}

/// Whether `url` can be a Markdown link as it is: http(s), and no character that would
/// end or change the link.
fn plain_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 500
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#=&%+".contains(c))
}

/// One item of the attention list: target, code, what happens, `file:line`.
fn attention_item(plan: &Plan, t: &TargetPlan, c: &Change) -> String {
    let risk = c.risk();
    let mut item = format!(
        "- **{}** <code>{}</code>: {}",
        text(&target_label(&t.target, &plan.names)),
        text(&code(c)),
        risk.reason()
    );
    match risk {
        Risk::EmptySecret | Risk::Forget => {
            if let Some(secret) = c.after.as_ref().filter(|_| risk == Risk::EmptySecret) {
                let _ = write!(item, " (<code>{}</code>)", text(&secret_ref(Some(secret))));
            } else if let Some(before) = &c.before {
                let _ = write!(
                    item,
                    "; last applied <code>{}</code>",
                    text(&value(Some(before)))
                );
            }
        }
        _ if secret_to_secret(c) => {
            let _ = write!(
                item,
                ": <code>{}</code>",
                text(&secret_ref(c.after.as_ref()))
            );
        }
        _ => {
            let _ = write!(
                item,
                ": <code>{}</code> → <code>{}</code>",
                text(&value(c.before.as_deref())),
                text(&value(c.after.as_ref()))
            );
        }
    }
    match t.location(c) {
        Some(at) => {
            let _ = write!(item, " (<code>{}</code>)", text(&at.to_string()));
        }
        None => item.push_str(" (no longer declared in the manifests)"),
    }
    item.push('\n');
    item
}

/// Settings and targets per kind of change; rows that are all zero are left out (and the
/// whole table when every row is).
fn counts_table(plan: &Plan) -> String {
    type Counts = fn(&Change) -> bool;
    let kinds: [(&str, Counts); 5] = [
        ("to add", |c| c.action == Action::Add),
        ("to change", |c| {
            matches!(c.action, Action::Update | Action::Drift)
        }),
        ("of which secrets", |c| {
            matches!(c.action, Action::Update | Action::Drift)
                && matches!(c.after, Some(Value::Secret { .. }))
        }),
        ("of which changed outside paysync", |c| {
            c.action == Action::Drift
        }),
        ("no longer managed", |c| c.action == Action::Forget),
    ];
    let mut rows = String::new();
    for (label, counts) in kinds {
        let mut settings = 0;
        let mut targets = 0;
        for t in &plan.targets {
            let n = t.changes.iter().filter(|c| counts(c)).count();
            settings += n;
            targets += usize::from(n > 0);
        }
        if settings > 0 {
            let _ = writeln!(rows, "| {label} | {settings} | {targets} |");
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!("| | settings | targets |\n|---|---:|---:|\n{rows}\n")
}

/// The secrets not checked at plan time: one fold whose title is the count.
fn unchecked_fold(plan: &Plan, body: &mut Comment, budget: usize, left: &mut LeftOut) {
    let unchecked: Vec<(&TargetPlan, &Change)> = plan
        .targets
        .iter()
        .flat_map(|t| t.changes.iter().map(move |c| (t, c)))
        .filter(|(_, c)| c.action == Action::Unchecked)
        .collect();
    if unchecked.is_empty() {
        return;
    }
    body.push(&format!(
        "<details><summary>{} not checked: apply reads them and writes only what changed</summary>\n\n",
        plural(unchecked.len(), "secret")
    ));
    let close = "\n</details>\n\n";
    for (i, (t, c)) in unchecked.iter().enumerate() {
        let item = format!(
            "- **{}** <code>{}</code> (<code>{}</code>)\n",
            text(&target_label(&t.target, &plan.names)),
            text(&code(c)),
            text(&secret_ref(c.after.as_ref()))
        );
        if !body.fits(item.chars().count() + close.len() + 100, budget) {
            left.unchecked = unchecked.len() - i;
            body.push(&format!("- … and {} more\n", left.unchecked));
            break;
        }
        body.push(&item);
    }
    body.push(close);
}

/// The changes a target's fold lists.
fn folded(c: &Change) -> bool {
    !matches!(c.action, Action::Record | Action::Unchecked)
}

/// One fold per target with a change to show, most serious first, while they fit.
fn details(plan: &Plan, body: &mut Comment, budget: usize, left: &mut LeftOut) {
    let mut shown: Vec<&TargetPlan> = plan
        .targets
        .iter()
        .filter(|t| t.changes.iter().any(folded))
        .collect();
    shown.sort_by_key(|t| t.risk());
    left.shown_targets = shown.len();
    for (i, t) in shown.iter().enumerate() {
        let lines: Vec<String> = t
            .changes
            .iter()
            .filter(|c| folded(c))
            .map(|c| match super::plan_text::overlay_origin(t, c) {
                Some(at) => format!("{}  (from {})", line(c), escaped(&at.to_string())),
                None => line(c),
            })
            .collect();
        let fence = fence_for(&lines);
        let open = format!(
            "<details><summary>{}</summary>\n\n{fence}diff\n",
            fold_title(plan, t)
        );
        let close = format!("{fence}\n\n</details>\n\n");
        let close_chars = close.chars().count();
        // A "… more" line inside the fence, should this target be cut.
        let more_room = 80;
        let first = lines.first().map_or(0, |l| l.chars().count() + 1);
        if !body.fits(
            open.chars().count() + first + close_chars + more_room,
            budget,
        ) {
            left.targets = shown.len() - i;
            return;
        }
        body.push(&open);
        for (n, l) in lines.iter().enumerate() {
            if !body.fits(l.chars().count() + 1 + close_chars + more_room, budget) {
                body.push(&format!(
                    "# … {} of this target not shown\n",
                    plural(lines.len() - n, "more setting")
                ));
                body.push(&close);
                left.targets = shown.len() - i;
                return;
            }
            body.push(l);
            body.push("\n");
        }
        body.push(&close);
    }
}

/// The targets named by a reference not resolved yet, one fold each.
fn unresolved(plan: &Plan, body: &mut Comment, budget: usize, left: &mut LeftOut) {
    for (i, t) in plan.unresolved.iter().enumerate() {
        let lines: Vec<String> = t.changes.iter().map(line).collect();
        let fence = fence_for(&lines);
        let mut fold = format!(
            "<details><summary><code>{}</code> (resolved at apply): {} to add ({})</summary>\n\n{fence}diff\n",
            text(t.reference.as_deref().unwrap_or_default()),
            t.changes.len(),
            text(
                &t.manifest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        );
        for l in &lines {
            fold.push_str(l);
            fold.push('\n');
        }
        let _ = write!(fold, "{fence}\n\n</details>\n\n");
        if !body.fits(fold.chars().count(), budget) {
            left.targets += plan.unresolved.len() - i;
            left.shown_targets += plan.unresolved.len();
            return;
        }
        body.push(&fold);
    }
}

/// `paySystem 11 / personType 1: 1 needs attention, 2 to change (manifests/acme.yaml:4)`
fn fold_title(plan: &Plan, t: &TargetPlan) -> String {
    let count = |f: fn(&Change) -> bool| t.changes.iter().filter(|c| f(c)).count();
    let attention = count(|c| c.risk().needs_attention());
    let mut parts = Vec::new();
    if attention > 0 {
        parts.push(format!(
            "{attention} need{} attention",
            if attention == 1 { "s" } else { "" }
        ));
    }
    for (n, what) in [
        (count(|c| c.action == Action::Add), "to add"),
        (
            count(|c| matches!(c.action, Action::Update | Action::Drift)),
            "to change",
        ),
        (count(|c| c.action == Action::Forget), "no longer managed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "{}: {} ({})",
        text(&target_label(&t.target, &plan.names)),
        parts.join(", "),
        match &t.manifest {
            Some(m) => text(&m.to_string()),
            None => "no longer declared in the manifests".to_owned(),
        }
    )
}

/// The note at the top when something was left out: what, and where the whole plan is.
fn truncation_note(plan: &Plan, left: &LeftOut) -> String {
    let mut what = Vec::new();
    if left.targets > 0 {
        what.push(format!(
            "the details of {} of {}",
            left.targets,
            plural(left.shown_targets, "target")
        ));
    }
    if left.unchecked > 0 {
        what.push(format!("{} not checked", plural(left.unchecked, "secret")));
    }
    if left.attention > 0 {
        what.push(plural(left.attention, "change that needs attention"));
    }
    let whole = match plan.about.run_url.as_deref().filter(|u| plain_url(u)) {
        Some(url) => format!(
            "the saved plan uploaded by [the CI run]({url}) (read it with `paysync show plan.json`)"
        ),
        None => "the saved plan (`paysync plan --out plan.json`, then `paysync show plan.json`)"
            .to_owned(),
    };
    let attention = if left.attention == 0 {
        " Every change that needs attention is listed."
    } else {
        ""
    };
    format!(
        "> [!NOTE]\n> Cut to GitHub's 65,535-character comment limit: {} left out.{attention} \
         The whole plan: {whole}.\n\n",
        what.join(", ")
    )
}

/// User data for Markdown text or HTML (table cells, `<summary>`): every character that
/// means something to either, and every control character, as a numeric character
/// reference. References are decoded only after the Markdown structure is parsed, so
/// they cannot open or close anything.
fn text(s: &str) -> String {
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
fn fence_for(lines: &[String]) -> String {
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
fn clip(s: &str) -> (&str, usize) {
    match s.char_indices().nth(VALUE_CHARS) {
        Some((end, _)) => (&s[..end], s[end..].chars().count()),
        None => (s, 0),
    }
}

fn left_out(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("… (+{n} characters)")
    }
}

/// `s` JSON-escaped without quotes: no raw control characters (so no line break).
fn escaped(s: &str) -> String {
    // JSON's escapes, and also DEL, C1 controls and the invisible characters that
    // reorder text: markdown is printed to terminals too.
    let mut out = String::with_capacity(s.len());
    crate::render::push_quoted_inner(&mut out, s);
    out
}

/// A setting code (upper-case letters, digits and `_` as a rule; anything else escaped).
fn code(c: &Change) -> String {
    let (shown, more) = clip(&c.code);
    format!("{}{}", escaped(shown), left_out(more))
}

/// A literal value JSON-quoted, a field source as `SOURCE:FIELD`, as in the text plan.
fn source_value(source: Option<&str>, value: &str) -> String {
    let (shown, more) = clip(value);
    match source {
        Some(s) if s != SOURCE_VALUE => {
            format!("{}:{}{}", escaped(s), escaped(shown), left_out(more))
        }
        _ => format!("\"{}\"{}", escaped(shown), left_out(more)),
    }
}

fn value(v: Option<&Value>) -> String {
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
fn secret_ref(v: Option<&Value>) -> String {
    match v {
        Some(Value::Secret { secret, .. }) => {
            let reference = secret.to_string();
            let (shown, more) = clip(&reference);
            format!("{}{}", escaped(shown), left_out(more))
        }
        _ => String::new(),
    }
}

/// Whether a change replaces one secret value with another of the same source, shown as
/// `(secret env:NAME, changed)` rather than `before -> after`.
fn secret_to_secret(c: &Change) -> bool {
    let before = match c.before.as_deref() {
        Some(Value::Secret { source, .. }) => Some(Some(source.as_str())),
        Some(Value::Hidden { source }) => Some(source.as_deref()),
        _ => None,
    };
    match (before, &c.after) {
        // A hidden live value whose source the portal did not report: values only.
        (Some(None), Some(Value::Secret { .. })) => true,
        (Some(Some(b)), Some(Value::Secret { source, .. })) => b == source,
        _ => false,
    }
}

/// One line of the `diff` block.
fn line(c: &Change) -> String {
    let code = code(c);
    match c.action {
        Action::Add => format!("+ {code} = {}", value(c.after.as_ref())),
        Action::Forget => format!("- {code} (no longer managed; left as is on the portal)"),
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
                format!(
                    "! {code} (secret {}, changed{})",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::model::Location;
    use crate::model::Target;
    use crate::plan::TargetPlan;
    use crate::secrets::{Redacted, SecretRef};

    /// The comment with the version in the header written as `[version]`.
    fn r(plan: &Plan) -> String {
        render(plan).replace(env!("CARGO_PKG_VERSION"), "[version]")
    }

    fn plain(value: &str) -> Value {
        Value::Plain {
            source: SOURCE_VALUE.into(),
            value: value.into(),
        }
    }

    fn secret(name: &str, value: Option<&str>) -> Value {
        Value::Secret {
            source: SOURCE_VALUE.into(),
            secret: Box::new(SecretRef::Env { name: name.into() }),
            fingerprint: value.and_then(|v| {
                Fingerprinter::new(cheap_scheme(), None, None)
                    .fingerprint(&Redacted::new(v.to_owned()))
            }),
            empty: false,
        }
    }

    fn target(ps: u64, pt: u64, manifest: Option<&str>, changes: Vec<Change>) -> TargetPlan {
        TargetPlan {
            target: Target {
                pay_system: ps,
                person_type: pt,
            },
            manifest: manifest.and_then(Location::parse),
            reference: None,
            changes,
        }
    }

    fn small_plan() -> Plan {
        Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("manifests/acme.yaml:4"),
                vec![
                    Change::new(
                        "PAYMENT_ID",
                        Action::Add,
                        None,
                        Some(Value::Plain {
                            source: "PAYMENT".into(),
                            value: "ACCOUNT_NUMBER".into(),
                        }),
                    ),
                    Change::new(
                        "PS_WORK_MODE_IFRAME",
                        Action::Update,
                        Some(plain("TEST")),
                        Some(plain("REGULAR")),
                    ),
                    Change::new("OLD_CODE", Action::Forget, Some(plain("x")), None),
                ],
            )],
        }
    }

    #[test]
    fn a_small_plan() {
        insta::assert_snapshot!(r(&small_plan()));
    }

    #[test]
    fn warnings_are_shown_escaped_even_without_changes() {
        let plan = Plan {
            warnings: vec!["paySystem 11 / personType 1: the portal did not return X|<b>".into()],
            ..Plan::default()
        };
        let out = r(&plan);
        assert!(
            out.contains(
                "> [!WARNING]\n> - paySystem 11 / personType 1&#58; the portal did not return X&#124;&#60;b&#62;\n"
            ),
            "{out}"
        );
        let text = crate::render::plan_text::render(&plan, false);
        assert!(
            text.ends_with("No changes.\nWarning: paySystem 11 / personType 1: the portal did not return X|<b>\n"),
            "{text}"
        );
    }

    #[test]
    fn no_changes_is_the_marker_and_the_summary_line() {
        let out = r(&Plan::default());
        assert_eq!(
            out,
            format!(
                "{MARKER}\n### paysync plan\n<sub>paysync [version] · compared with the \
                 last-applied state (changes made outside paysync: `--refresh`)</sub>\n\n\
                 **No changes.**\n\n"
            )
        );
    }

    #[test]
    fn a_plan_with_secrets_and_drift() {
        let key = Fingerprinter::new(cheap_scheme(), None, None);
        let planned = key
            .fingerprint(&Redacted::new("CANARY-value".to_owned()))
            .unwrap();
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: true,
            targets: vec![
                target(
                    11,
                    1,
                    Some("manifests/acme.yaml:4"),
                    vec![
                        Change::new(
                            "PS_WORK_MODE_IFRAME",
                            Action::Drift,
                            Some(Value::Live {
                                source: Some("VALUE".into()),
                                value: Some("TEST".into()),
                            }),
                            Some(plain("REGULAR")),
                        ),
                        Change::new(
                            "REST_SERVICE_ID_IFRAME",
                            Action::Record,
                            None,
                            Some(plain("00412")),
                        ),
                        Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Update,
                            Some(secret("ACME_KEY", Some("old"))),
                            Some(Value::Secret {
                                source: SOURCE_VALUE.into(),
                                secret: Box::new(SecretRef::Env {
                                    name: "ACME_KEY".into(),
                                }),
                                fingerprint: Some(planned.clone()),
                                empty: false,
                            }),
                        ),
                    ],
                ),
                target(
                    12,
                    0,
                    Some("manifests/acme.yaml:12"),
                    vec![
                        Change::new(
                            "API_TOKEN",
                            Action::Unchecked,
                            Some(secret("ACME_TOKEN", Some("t"))),
                            Some(secret("ACME_TOKEN", None)),
                        ),
                        Change::new(
                            "NEW_KEY",
                            Action::Add,
                            None,
                            Some(secret("ACME_NEW_KEY", Some("n"))),
                        ),
                        Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Drift,
                            Some(Value::Hidden {
                                source: Some("VALUE".into()),
                            }),
                            Some(secret("ACME_KEY_12", Some("k"))),
                        ),
                    ],
                ),
                target(
                    13,
                    0,
                    None,
                    vec![Change::new(
                        "PS_CHANGE_STATUS_PAY",
                        Action::Forget,
                        Some(plain("Y")),
                        None,
                    )],
                ),
            ],
        };
        let out = r(&plan);
        assert!(out.contains("(secret env:ACME_KEY, changed)"), "{out}");
        assert!(!out.contains("CANARY"), "{out}");
        assert!(!out.contains(&format!("{planned:?}")), "{out}");
        insta::assert_snapshot!(out);
    }

    /// 3,000 targets of 20 settings: far over the limit.
    fn large_plan() -> Plan {
        Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: false,
            targets: (0..3_000u64)
                .map(|ps| {
                    target(
                        100 + ps,
                        1,
                        Some(&format!("manifests/ps{ps}.yaml:1")),
                        (0..20)
                            .map(|i| {
                                Change::new(
                                    &format!("SETTING_{i:02}"),
                                    Action::Add,
                                    None,
                                    Some(plain(&format!("value number {i} of pay system {ps}"))),
                                )
                            })
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_plan_over_the_budget_is_cut_with_the_summary_intact() {
        let plan = large_plan();
        let out = r(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars} characters");
        assert!(chars > GITHUB_COMMENT_LIMIT - 5_000, "budget used: {chars}");
        assert!(
            out.contains(
                "\n**Plan: 3000 targets to change, 60000 settings (60000 to add, 0 to change).**\n"
            ),
            "{}",
            &out[..500]
        );
        assert!(
            out.contains("| to add | 60000 | 3000 |"),
            "the counts are whole"
        );
        // What was left out is said before the summary, with where the whole plan is.
        let note = out.find("> [!NOTE]\n> Cut to GitHub").expect("a note");
        assert!(note < out.find("**Plan:").unwrap());
        assert!(out.contains("`paysync show plan.json`"));
        // Every fold that was opened is closed, and the fence with it.
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("\n</details>\n\n").count()
        );
        assert_eq!(
            out.matches("```diff\n").count() * 2,
            out.matches("```").count()
        );
        // The snapshot: the head and the tail (the middle is more of the same).
        let lines: Vec<&str> = out.lines().collect();
        let shown = format!(
            "{}\n[… {} lines …]\n{}",
            lines[..16].join("\n"),
            lines.len() - 16 - 8,
            lines[lines.len() - 8..].join("\n")
        );
        insta::assert_snapshot!(shown);
    }

    /// The comment without its folds: what a reviewer sees without a click.
    fn outside_folds(out: &str) -> String {
        let mut visible = String::new();
        let mut depth = 0usize;
        for l in out.lines() {
            if l.starts_with("<details>") {
                depth += 1;
            } else if l == "</details>" {
                depth -= 1;
            } else if depth == 0 {
                visible.push_str(l);
                visible.push('\n');
            }
        }
        visible
    }

    /// 300 targets of 20 ordinary value changes each, and in two of them what a reviewer
    /// must not miss: a value source change (PAYMENT field to a literal "0") and a code no
    /// longer managed.
    fn plan_with_two_risky_changes_among_300_targets() -> Plan {
        let mut targets: Vec<TargetPlan> = (0..300u64)
            .map(|ps| {
                let mut t = target(
                    100 + ps,
                    1,
                    Some(&format!("manifests/ps{ps}.yaml:1")),
                    (0..20)
                        .map(|i| {
                            let mut c = Change::new(
                                &format!("DESCRIPTION_{i:02}"),
                                Action::Update,
                                Some(plain(&format!("old text {i} of pay system {ps}"))),
                                Some(plain(&format!("new text {i} of pay system {ps}"))),
                            );
                            c.at = Location::parse(&format!("manifests/ps{ps}.yaml:{}", 3 + i));
                            c
                        })
                        .collect(),
                );
                t.changes.sort_by(|a, b| a.code.cmp(&b.code));
                t
            })
            .collect();
        let mut planted = Change::new(
            "PAYMENT_ID",
            Action::Update,
            Some(Value::Plain {
                source: "PAYMENT".into(),
                value: "ACCOUNT_NUMBER".into(),
            }),
            Some(plain("0")),
        );
        planted.at = Location::parse("manifests/ps250.yaml:27");
        targets[250].changes.push(planted);
        targets[290].changes.push(Change::new(
            "PS_CHANGE_STATUS_PAY",
            Action::Forget,
            Some(plain("Y")),
            None,
        ));
        for t in &mut targets {
            t.changes.sort_by(|a, b| a.code.cmp(&b.code));
        }
        Plan {
            targets,
            ..Plan::default()
        }
    }

    #[test]
    fn a_risky_change_among_300_targets_is_visible_at_the_top_of_a_cut_comment() {
        let out = r(&plan_with_two_risky_changes_among_300_targets());
        assert!(
            out.chars().count() <= GITHUB_COMMENT_LIMIT,
            "{}",
            out.chars().count()
        );
        let visible = outside_folds(&out);
        assert!(
            visible.contains(
                "<code>PAYMENT&#95;ID</code>: value source changes: \
                 <code>PAYMENT&#58;ACCOUNT&#95;NUMBER</code> → <code>&#34;0&#34;</code> \
                 (<code>manifests/ps250.yaml&#58;27</code>)"
            ),
            "{visible}"
        );
        assert!(
            visible.contains("<code>PS&#95;CHANGE&#95;STATUS&#95;PAY</code>: no longer managed"),
            "{visible}"
        );
        assert!(
            visible.contains("(<code>manifests/ps290.yaml&#58;1</code>)"),
            "{visible}"
        );
        // The top says what was cut, before the summary.
        assert!(visible.starts_with(&format!("{MARKER}\n### paysync plan\n<sub>")));
        let note = visible.find("> [!NOTE]").expect("the note on what was cut");
        assert!(note < visible.find("**Plan:").unwrap(), "{visible}");
        // The two risky targets' folds come first, the most serious first.
        let folds: Vec<&str> = out.split("<details><summary>").skip(1).take(2).collect();
        assert!(
            folds[0].starts_with("paySystem 390 / personType 1: 1 needs attention"),
            "{}",
            folds[0]
        );
        assert!(
            folds[1].starts_with("paySystem 350 / personType 1: 1 needs attention"),
            "{}",
            folds[1]
        );
        insta::assert_snapshot!(visible);
    }

    #[test]
    fn forty_unchecked_secrets_and_no_change_fit_in_a_few_lines() {
        let plan = Plan {
            targets: (0..300u64)
                .filter(|ps| ps % 7 == 0 && *ps < 280)
                .map(|ps| {
                    target(
                        100 + ps,
                        1,
                        Some(&format!("manifests/ps{ps}.yaml:1")),
                        vec![Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Unchecked,
                            Some(secret(&format!("KEY_{ps}"), Some("k"))),
                            Some(secret(&format!("KEY_{ps}"), None)),
                        )],
                    )
                })
                .collect(),
            ..Plan::default()
        };
        assert_eq!(plan.summary().not_checked, 40);
        let out = r(&plan);
        let visible = outside_folds(&out);
        assert!(visible.lines().count() <= 15, "{visible}");
        assert_eq!(
            out.matches("REST&#95;SERVICE&#95;KEY&#95;IFRAME").count(),
            40
        );
        insta::assert_snapshot!(visible);
    }

    #[test]
    fn non_ascii_is_counted_in_characters_not_bytes() {
        // Each value is 4 bytes a character: a byte count would stop at a quarter.
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: false,
            targets: (0..400u64)
                .map(|ps| {
                    target(
                        ps,
                        0,
                        Some("m.yaml:1"),
                        vec![Change::new(
                            "X",
                            Action::Add,
                            None,
                            Some(plain(&"😀".repeat(190))),
                        )],
                    )
                })
                .collect(),
        };
        let out = r(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars}");
        assert!(out.len() > GITHUB_COMMENT_LIMIT * 2, "{} bytes", out.len());
    }

    #[test]
    fn one_huge_target_is_cut_inside_its_fold() {
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("m.yaml:1"),
                (0..5_000)
                    .map(|i| Change::new(&format!("C{i:04}"), Action::Add, None, Some(plain("v"))))
                    .collect(),
            )],
        };
        let out = r(&plan);
        assert!(out.chars().count() <= GITHUB_COMMENT_LIMIT);
        assert!(out.contains("more settings of this target not shown\n```\n\n</details>\n\n"));
        assert!(
            out.contains("the details of 1 of 1 target left out"),
            "{out}"
        );
    }

    #[test]
    fn user_data_cannot_break_the_table_the_fold_or_the_fence() {
        let hostile = "a|b</summary></details>\n```\n<script>x</script> **@team** [l](http://x)";
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            refreshed: false,
            targets: vec![
                target(
                    11,
                    1,
                    Some("dir|x</summary></details>@me/m.yaml:1"),
                    vec![
                        Change::new("ODD|CODE`", Action::Add, None, Some(plain(hostile))),
                        Change::new(
                            "FIELD",
                            Action::Add,
                            None,
                            Some(Value::Plain {
                                source: "PROPERTY".into(),
                                value: "````\n````".into(),
                            }),
                        ),
                        Change::new(
                            "LONG",
                            Action::Update,
                            Some(plain(&"x".repeat(500))),
                            Some(plain("short")),
                        ),
                    ],
                ),
                target(
                    12,
                    0,
                    Some("m.yaml:9"),
                    vec![Change::new("OK", Action::Add, None, Some(plain("y")))],
                ),
            ],
        };
        let out = r(&plan);
        // The fence of the first target is longer than the backtick runs inside it, and
        // no line inside a fence can close it: each starts with a diff marker.
        assert!(out.contains("\n`````diff\n"), "{out}");
        let mut outside = String::new();
        let mut fence: Option<String> = None;
        for l in out.lines() {
            match &fence {
                None if l.starts_with("```") => {
                    fence = Some(l.trim_end_matches("diff").to_owned());
                }
                None => {
                    outside.push_str(l);
                    outside.push('\n');
                }
                Some(f) if l == f => fence = None,
                Some(_) => assert!(
                    l.starts_with(['+', '-', '!', '#']) && !l.starts_with("```"),
                    "{l}"
                ),
            }
        }
        assert!(fence.is_none(), "every fence is closed: {out}");
        // Outside the fences: both folds open and close exactly once, on their own
        // lines, and no user data is markup.
        assert_eq!(outside.matches("<details>").count(), 2, "{outside}");
        assert_eq!(outside.matches("\n</details>\n").count(), 2, "{outside}");
        assert_eq!(outside.matches("</summary>").count(), 2, "{outside}");
        assert!(!outside.contains("<script>"), "{outside}");
        assert!(!outside.contains("@me"), "{outside}");
        assert!(!outside.contains("dir|x"), "{outside}");
        assert!(out.contains("… (+300 characters)"), "{out}");
        insta::assert_snapshot!(out);
    }
}

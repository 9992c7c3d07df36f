//! The roll-up of several environments' plans (`paysync show --rollup`): one row per
//! environment — portal, changes, what needs attention, the result — for the first
//! comment of a pull request that plans several environments, each of which then has
//! its own comment (`<!-- paysync-plan env:NAME -->`).
//!
//! ```markdown
//! <!-- paysync-plan rollup -->
//! ### paysync plans
//!
//! | environment | portal | changes | needs attention | result |
//! |---|---|---|---:|---|
//! | <code>test</code> | <code>test.bitrix24.ru</code> | 2 to add, 1 to change in 2 targets | 1 | changes |
//! | <code>prod</code> | | | | plan failed (see its job) |
//! ```

use std::fmt::Write;

use crate::plan::Plan;
use crate::untrusted::escape_controls;
use crate::wording::plural;

/// The first line of the roll-up comment.
pub const ROLLUP_MARKER: &str = "<!-- paysync-plan rollup -->";

/// One environment's row: its plan, or why there is none.
pub enum Row<'a> {
    /// The plan, and the name to show when the plan has no environment (its file).
    Planned { plan: &'a Plan, name: String },
    /// The environment's plan failed (no saved plan).
    Failed { name: String },
    /// The environment is being planned (the roll-up posted before the plans).
    Pending { name: String },
}

/// What the plan changes, in words: `2 to add, 1 to change in 2 targets`, `none`.
fn changes(plan: &Plan) -> String {
    let s = plan.summary();
    let mut parts = Vec::new();
    for (n, what) in [
        (s.to_add, "to add"),
        (s.to_change, "to change"),
        (s.no_longer_managed, "no longer managed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut out = parts.join(", ");
    if s.targets_to_change > 0 {
        let _ = write!(out, " in {}", plural(s.targets_to_change, "target"));
    }
    if s.to_resolve > 0 {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{} resolved at apply", plural(s.to_resolve, "target"));
    }
    // Handlers and pay systems first: apply writes them first.
    if let Some(objects) = super::plan_text::objects_phrase(&s) {
        if !out.is_empty() {
            out.insert_str(0, "; ");
        }
        out.insert_str(0, &objects);
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out
    }
}

/// `no changes`, `changes`, or why apply would refuse.
fn result(plan: &Plan) -> String {
    let s = plan.summary();
    if s.empty_secrets > 0 {
        format!("apply refuses: {} empty", plural(s.empty_secrets, "secret"))
    } else if s.has_changes() {
        "changes".to_owned()
    } else {
        "no changes".to_owned()
    }
}

/// The cells of a row: environment, portal, changes, needs attention, result.
fn cells(row: &Row<'_>) -> [String; 5] {
    match row {
        Row::Planned { plan, name } => [
            plan.about
                .environment
                .clone()
                .unwrap_or_else(|| name.clone()),
            plan.about.host().unwrap_or_default().to_owned(),
            changes(plan),
            plan.attention().count().to_string(),
            result(plan),
        ],
        Row::Failed { name } => [
            name.clone(),
            String::new(),
            String::new(),
            String::new(),
            "plan failed (see its job)".to_owned(),
        ],
        Row::Pending { name } => [
            name.clone(),
            String::new(),
            String::new(),
            String::new(),
            "planning…".to_owned(),
        ],
    }
}

/// The roll-up as a pull-request comment.
pub fn markdown(rows: &[Row<'_>]) -> String {
    let code = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("<code>{}</code>", super::markdown_values::text(s))
        }
    };
    let mut out = format!(
        "{ROLLUP_MARKER}\n### paysync plans\n<sub>paysync {}; each environment's plan is in its own comment below</sub>\n\n\
         | environment | portal | changes | needs attention | result |\n|---|---|---|---:|---|\n",
        env!("CARGO_PKG_VERSION")
    );
    for row in rows {
        let [env, portal, changes, attention, result] = cells(row);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&env),
            code(&portal),
            super::markdown_values::text(&changes),
            attention,
            super::markdown_values::text(&result)
        );
    }
    out
}

/// The roll-up for a terminal: one aligned line per environment.
pub fn text(rows: &[Row<'_>]) -> String {
    let header = [
        "ENVIRONMENT",
        "PORTAL",
        "CHANGES",
        "NEEDS ATTENTION",
        "RESULT",
    ]
    .map(str::to_owned);
    let all: Vec<[String; 5]> = std::iter::once(header)
        .chain(
            rows.iter()
                .map(|r| cells(r).map(|c| escape_controls(&c).into_owned())),
        )
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &all {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

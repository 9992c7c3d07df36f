//! The plan as a pull-request comment: summary first, each target's changes folded in
//! `<details>`, never longer than GitHub's 65,535-character comment limit.

use std::fmt::Write;

use crate::plan::{Action, Change, Plan, Value};

use super::plan_text::summary_line;

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;
/// Room kept for the truncation note and closing lines.
const RESERVE: usize = 1_000;
/// A hidden marker so a CI step can find and update its own comment.
pub const MARKER: &str = "<!-- paysync-plan -->";

/// Renders the plan as GitHub-flavoured Markdown.
pub fn render(plan: &Plan) -> String {
    let summary = plan.summary();
    let mut out = format!(
        "{MARKER}\n### paysync plan\n\n**{}**\n\n",
        summary_line(&summary)
    );
    let shown: Vec<_> = plan
        .targets
        .iter()
        .filter(|t| t.changes.iter().any(|c| c.action != Action::Record))
        .collect();
    if !shown.is_empty() {
        out.push_str("| target | add | change | no longer managed |\n|---|---:|---:|---:|\n");
        for t in &shown {
            let count = |f: fn(Action) -> bool| t.changes.iter().filter(|c| f(c.action)).count();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.target,
                count(|a| a == Action::Add),
                count(|a| matches!(a, Action::Update | Action::Drift | Action::Unchecked)),
                count(|a| a == Action::Forget),
            );
        }
        out.push('\n');
    }
    let budget = GITHUB_COMMENT_LIMIT - RESERVE;
    for (i, t) in shown.iter().enumerate() {
        let mut block = format!("<details><summary>{}</summary>\n\n```diff\n", t.target);
        for c in t.changes.iter().filter(|c| c.action != Action::Record) {
            block.push_str(&line(c));
            block.push('\n');
        }
        block.push_str("```\n\n</details>\n");
        if out.chars().count() + block.chars().count() > budget {
            let _ = writeln!(
                out,
                "\n_…{} more target(s) not shown: the comment would exceed GitHub's limit. See the JSON plan (`paysync plan --format json`) for everything._",
                shown.len() - i
            );
            break;
        }
        out.push_str(&block);
    }
    out
}

fn value(v: Option<&Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(Value::Plain { source, value }) if source == "VALUE" => format!("{value:?}"),
        Some(Value::Plain { source, value }) => format!("{source}:{value}"),
        Some(Value::Secret { secret, .. }) => format!("(secret {secret})"),
        Some(Value::Live { value: Some(v), .. }) => format!("{v:?}"),
        Some(Value::Live { value: None, .. }) => "(unset)".into(),
        Some(Value::Hidden { .. }) => "(secret)".into(),
    }
}

fn line(c: &Change) -> String {
    let secret = |v: &Option<Value>| matches!(v, Some(Value::Secret { .. }));
    match c.action {
        Action::Add => format!("+ {} = {}", c.code, value(c.after.as_ref())),
        Action::Forget => format!("- {} (no longer managed; left as is on the portal)", c.code),
        Action::Unchecked => format!("! {} {} not checked", c.code, value(c.after.as_ref())),
        Action::Update | Action::Drift if secret(&c.after) => format!(
            "! {} {} changed{}",
            c.code,
            value(c.after.as_ref()),
            if c.action == Action::Drift {
                " outside paysync"
            } else {
                ""
            }
        ),
        Action::Update | Action::Drift => format!(
            "! {}: {} -> {}{}",
            c.code,
            value(c.before.as_ref()),
            value(c.after.as_ref()),
            if c.action == Action::Drift {
                " (changed outside paysync)"
            } else {
                ""
            }
        ),
        Action::Record => format!("  {} = {}", c.code, value(c.after.as_ref())),
    }
}

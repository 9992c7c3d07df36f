//! `paysync drift --format markdown`: the drift report for an issue or an alert (issue
//! 23.2). The first line is a hidden marker, `<!-- paysync-drift -->` (with the
//! environment: `<!-- paysync-drift env:prod -->`), so that a scheduled job finds the
//! issue it opened and updates it instead of opening another.
//!
//! ```markdown
//! <!-- paysync-drift env:prod -->
//! ### paysync drift: 1 setting in 1 target changed outside paysync
//! <sub>paysync 0.1.0 · portal <code>shop.bitrix24.com</code> · environment <code>prod</code></sub>
//!
//! | target | code | on the portal | last applied |
//! |---|---|---|---|
//! | paySystem 11 / personType 1 | <code>PS_WORK_MODE_IFRAME</code> | <code>"TEST"</code> | <code>"REGULAR"</code> |
//! ```
//!
//! Values as the text report shows them (quoted literals, `SOURCE:FIELD`), escaped for
//! Markdown and HTML and cut to 200 characters; a secret's value never: `(secret)` on the
//! portal side, its reference on the other.

use std::fmt::Write;

use super::markdown_values::{about_parts, clipped, marker, text};
use crate::model::SOURCE_VALUE;
use crate::plan::About;
use crate::plan::drift::DriftReport;
use crate::render::target_label;
use crate::state::RecordedValue;
use crate::wording::plural;

/// Rows of the table, at most; the rest are counted.
const ROWS: usize = 200;

fn value(source: Option<&str>, value: Option<&str>) -> String {
    match (source, value) {
        (_, None) => "(unset)".to_owned(),
        (Some(s), Some(v)) if s != SOURCE_VALUE => {
            format!("<code>{}:{}</code>", text(&clipped(s)), text(&clipped(v)))
        }
        (_, Some(v)) => format!("<code>\"{}\"</code>", text(&clipped(v))),
    }
}

/// The report as Markdown.
pub fn render(report: &DriftReport, about: &About) -> String {
    let marker = marker("drift", about.environment.as_deref(), 1);
    let headline = if !report.not_compared.is_empty() {
        format!(
            "incomplete, {} not compared",
            plural(report.not_compared.len(), "target")
        )
    } else if report.has_drift() {
        super::drift::drifted_phrase(report)
    } else {
        "no drift".to_owned()
    };
    let mut out = format!("{marker}\n### paysync drift: {headline}\n");
    let _ = writeln!(out, "<sub>{}</sub>\n", about_parts(about).join(" · "));
    let _ = writeln!(
        out,
        "{} in {} checked against the last-applied state.\n",
        plural(report.settings_checked, "setting"),
        plural(report.targets_checked, "target")
    );
    if !report.objects.is_empty() {
        out.push_str(
            "| handler or pay system | field | on the portal | last applied |\n|---|---|---|---|\n",
        );
        for d in report.objects.iter().take(ROWS) {
            let shown = |v: &Option<String>| match v {
                Some(v) => format!("<code>{}</code>", text(&clipped(v))),
                None => "(none)".to_owned(),
            };
            let field = match &d.field {
                Some(field) => format!("<code>{}</code>", text(&clipped(field))),
                None => "no longer on the portal".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} (ID {}) | {field} | {} | {} |",
                text(&d.name()),
                d.id,
                shown(&d.live),
                shown(&d.recorded)
            );
        }
        if report.objects.len() > ROWS {
            let _ = writeln!(out, "\n… and {} more.", report.objects.len() - ROWS);
        }
        out.push('\n');
    }
    if !report.drifted.is_empty() {
        out.push_str("| target | code | on the portal | last applied |\n|---|---|---|---|\n");
        for d in report.drifted.iter().take(ROWS) {
            let (live, recorded) = match &d.recorded {
                RecordedValue::Secret { secret, .. } => (
                    "(secret)".to_owned(),
                    format!(
                        "secret <code>{}</code>",
                        text(&clipped(&secret.to_string()))
                    ),
                ),
                RecordedValue::Plain { source, value: v } => (
                    value(d.live.source.as_deref(), d.live.value.as_deref()),
                    value(Some(source), Some(v)),
                ),
            };
            let _ = writeln!(
                out,
                "| {} | <code>{}</code> | {live} | {recorded} |",
                text(&target_label(&d.target, &report.names)),
                text(&clipped(&d.code))
            );
        }
        if report.drifted.len() > ROWS {
            let _ = writeln!(out, "\n… and {} more.", report.drifted.len() - ROWS);
        }
        out.push_str(
            "\nThe next `paysync apply` writes the last-applied values back; `paysync plan \
             --refresh` shows it first. To keep a change made on the portal, put it in the \
             manifests.\n\n",
        );
    }
    if !report.not_returned.is_empty() {
        let _ = writeln!(
            out,
            "**Not checked**: the portal did not return {} (their handler may no longer declare them):\n",
            plural(report.not_returned.len(), "recorded code")
        );
        for (target, code) in report.not_returned.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "- {} <code>{}</code>",
                text(&target_label(target, &report.names)),
                text(&clipped(code))
            );
        }
        out.push('\n');
    }
    if !report.not_compared.is_empty() {
        out.push_str(
            "**Not compared**: the portal's answer for these targets could not be read:\n\n",
        );
        for (target, why) in report.not_compared.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "- {}: {}",
                text(&target_label(target, &report.names)),
                text(&clipped(why))
            );
        }
        out.push('\n');
    }
    out
}

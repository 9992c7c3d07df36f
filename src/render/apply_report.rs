//! What an apply reports when it is done: what was written, what failed and why, what
//! is unknown and what was not sent.

use std::fmt::Write;

use crate::apply::ApplyReport;
use crate::model::Target;
use crate::wording::plural;

/// At most this many targets are named in one line; the rest are counted.
const LISTED: usize = 10;

fn list(targets: &[Target]) -> String {
    let mut shown = targets
        .iter()
        .take(LISTED)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if targets.len() > LISTED {
        shown.push_str(&format!(", and {} more", targets.len() - LISTED));
    }
    shown
}

/// The closing lines of an apply (stderr for failures, stdout for the summary is the
/// caller's choice).
pub fn render(report: &ApplyReport) -> String {
    let mut out = String::new();
    for f in &report.failed {
        let _ = write!(
            out,
            "error: {}: {}: {}",
            f.target, f.error.code, f.error.description
        );
        if let Some(m) = &f.manifest {
            let _ = write!(out, " ({})", crate::untrusted::escape_controls(m));
        }
        out.push('\n');
    }
    if let Some(e) = &report.aborted {
        let _ = writeln!(out, "error: the run stopped: {e}");
    }
    if let Some(signal) = report.interrupted {
        let _ = writeln!(
            out,
            "stopped by {signal}: no new batch was sent after it; the state records what the \
             portal confirmed"
        );
    }
    if !report.unknown.is_empty() {
        let _ = writeln!(
            out,
            "{} sent, but the answer was lost, so the outcome is unknown (not recorded; a \
             re-run sends {} again, and plan --refresh shows what the portal holds): {}",
            plural(report.unknown.len(), "target"),
            if report.unknown.len() == 1 {
                "it"
            } else {
                "them"
            },
            list(&report.unknown)
        );
    }
    if !report.not_attempted.is_empty() {
        let _ = writeln!(
            out,
            "{} not sent because the run stopped: {}",
            plural(report.not_attempted.len(), "target"),
            list(&report.not_attempted)
        );
    }
    let mut outcome = vec![format!(
        "{} changed ({} written)",
        plural(report.applied.len(), "target"),
        plural(report.settings_written, "setting"),
    )];
    outcome.push(format!("{} failed", report.failed.len()));
    if !report.unknown.is_empty() {
        outcome.push(format!("{} unknown", report.unknown.len()));
    }
    if !report.not_attempted.is_empty() {
        outcome.push(format!("{} not sent", report.not_attempted.len()));
    }
    let _ = writeln!(
        out,
        "Apply {}: {}, {} sent.",
        if report.is_complete() {
            "complete"
        } else if report.interrupted.is_some() {
            "stopped"
        } else {
            "incomplete"
        },
        outcome.join(", "),
        plural(report.requests, "request"),
    );
    out
}

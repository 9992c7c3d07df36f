//! What an apply reports when it is done: what was written, what failed and why.

use std::fmt::Write;

use crate::apply::ApplyReport;

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
            let _ = write!(out, " ({m})");
        }
        out.push('\n');
    }
    if let Some(e) = &report.aborted {
        let _ = writeln!(out, "error: the run stopped: {e}");
    }
    if !report.not_attempted.is_empty() {
        let _ = writeln!(
            out,
            "{} target{} not sent because the run stopped: {}",
            report.not_attempted.len(),
            if report.not_attempted.len() == 1 {
                ""
            } else {
                "s"
            },
            report
                .not_attempted
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Apply {}: {} target{} changed ({} setting{} written), {} failed, {} request{} sent.",
        if report.is_complete() {
            "complete"
        } else {
            "incomplete"
        },
        report.applied.len(),
        if report.applied.len() == 1 { "" } else { "s" },
        report.settings_written,
        if report.settings_written == 1 {
            ""
        } else {
            "s"
        },
        report.failed.len() + report.not_attempted.len(),
        report.requests,
        if report.requests == 1 { "" } else { "s" },
    );
    out
}

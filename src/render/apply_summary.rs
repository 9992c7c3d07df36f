//! What an apply did, for CI (issue 23.2): a markdown summary for the job summary
//! (`$GITHUB_STEP_SUMMARY`) and for a comment on the merged pull request, and GitHub
//! workflow commands that annotate each target that failed at its manifest.
//!
//! ```markdown
//! <!-- paysync-apply env:prod -->
//! ### paysync apply: complete
//! <sub>paysync 0.1.0 · portal <code>shop.bitrix24.com</code> · environment <code>prod</code></sub>
//!
//! **2 targets applied (7 settings written), 0 failed; 1 request.**
//! ```
//!
//! Portal text (error codes and descriptions) is escaped as every other user datum of a
//! comment; nothing here holds a value, a secret or a credential.

use std::fmt::Write;

use super::markdown_values::{about_parts, commit_part, marker, text};
use crate::apply::ApplyReport;
use crate::model::Target;
use crate::plan::{Names, Plan};
use crate::render::target_label;
use crate::verify::Mismatch;
use crate::wording::plural;

/// Targets listed by name in each list, at most; the rest are counted.
const LISTED: usize = 50;

/// The apply's outcome as markdown: a headline, the counts, then the targets that need a
/// look (failed, outcome unknown, not sent, not kept), then those applied, folded.
pub fn markdown(plan: &Plan, report: &ApplyReport, not_kept: &[Mismatch]) -> String {
    let complete = report.is_complete() && not_kept.is_empty();
    let mut out = format!(
        "{}\n### paysync apply: {}\n",
        marker("apply", plan.about.environment.as_deref(), 1),
        if complete { "complete" } else { "incomplete" }
    );
    let mut about = about_parts(&plan.about);
    about.extend(commit_part(&plan.about));
    let _ = writeln!(out, "<sub>{}</sub>\n", about.join(" · "));
    let objects = if report.objects_written > 0 {
        format!(
            "{} written, ",
            super::plan_text::objects_count(report.objects_written)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "**{objects}{} applied ({} written), {} failed; {}.**\n",
        plural(report.applied.len(), "target"),
        plural(report.settings_written, "setting"),
        report.failed.len(),
        plural(report.requests as usize, "request")
    );
    if let Some(e) = &report.aborted {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> The run stopped: {}\n",
            text(&e.to_string())
        );
    }
    if let Some(signal) = report.interrupted {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> Stopped by {signal}: the state records what the portal confirmed.\n"
        );
    }
    if !report.failed.is_empty() {
        let _ = writeln!(out, "#### Failed ({})\n", report.failed.len());
        for f in report.failed.iter().take(LISTED) {
            let _ = write!(
                out,
                "- **{}**: <code>{}</code> {}",
                text(&target_label(&f.target, &plan.names)),
                text(&f.error.code),
                text(&f.error.description)
            );
            if let Some(m) = &f.manifest {
                let _ = write!(out, " (<code>{}</code>)", text(m));
            }
            out.push('\n');
        }
        more(&mut out, report.failed.len());
        out.push('\n');
    }
    for (title, targets) in [
        (
            "Outcome unknown (sent, the answer was lost; a re-run sends them again)",
            &report.unknown,
        ),
        ("Not sent (the run stopped first)", &report.not_attempted),
        (
            "Confirmed but not recorded (the state could not be written)",
            &report.not_recorded,
        ),
    ] {
        if !targets.is_empty() {
            let _ = writeln!(out, "#### {title}: {}\n", targets.len());
            list(&mut out, targets, &plan.names);
        }
    }
    if !not_kept.is_empty() {
        let _ = writeln!(
            out,
            "#### Not kept by the portal (`--verify`): {}\n",
            plural(not_kept.len(), "setting")
        );
        for m in not_kept.iter().take(LISTED) {
            let _ = writeln!(
                out,
                "- **{}** <code>{}</code>",
                text(&target_label(&m.target, &plan.names)),
                text(&m.code)
            );
        }
        more(&mut out, not_kept.len());
        out.push('\n');
    }
    if !report.applied.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Applied: {}</summary>\n",
            plural(report.applied.len(), "target")
        );
        list(&mut out, &report.applied, &plan.names);
        out.push_str("</details>\n");
    }
    out
}

fn list(out: &mut String, targets: &[Target], names: &Names) {
    for t in targets.iter().take(LISTED) {
        let _ = writeln!(out, "- {}", text(&target_label(t, names)));
    }
    more(out, targets.len());
    out.push('\n');
}

fn more(out: &mut String, n: usize) {
    if n > LISTED {
        let _ = writeln!(out, "- … and {} more", n - LISTED);
    }
}

/// GitHub workflow commands: an error annotation at the manifest of each target the
/// portal refused, a warning for each whose outcome is unknown.
pub fn github_annotations(plan: &Plan, report: &ApplyReport) -> String {
    use super::{workflow_data as data, workflow_property as property};
    let mut out = String::new();
    for f in &report.failed {
        let mut properties = Vec::new();
        if let Some(at) = f
            .manifest
            .as_deref()
            .and_then(crate::model::Location::parse)
        {
            properties.push(format!("file={}", property(&at.file.display().to_string())));
            properties.push(format!("line={}", at.line));
        }
        properties.push("title=paysync apply".to_owned());
        let message = format!(
            "{}: the portal refused the settings: {}: {}",
            target_label(&f.target, &plan.names),
            f.error.code,
            f.error.description
        );
        let message = crate::untrusted::escape_controls(&message);
        let _ = writeln!(out, "::error {}::{}", properties.join(","), data(&message));
    }
    for t in &report.unknown {
        let message = format!(
            "{}: sent, but the answer was lost; a re-run sends it again",
            target_label(t, &plan.names)
        );
        let _ = writeln!(
            out,
            "::warning title=paysync apply::{}",
            data(&crate::untrusted::escape_controls(&message))
        );
    }
    out
}

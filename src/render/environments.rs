//! `paysync env list`: the environments of the project file.

use std::fmt::Write;

use crate::project::Project;
use crate::untrusted::escape_controls;

/// One block per environment: its sources in order, state, the variables holding its
/// credentials, rate and protection.
pub fn list(project: &Project) -> String {
    let mut out = format!(
        "Environments of {}:\n",
        escape_controls(&project.path.display().to_string())
    );
    for (name, e) in &project.environments {
        let _ = writeln!(
            out,
            "\n{}{}",
            escape_controls(name),
            if e.protected {
                " (protected: apply only a saved plan)"
            } else {
                ""
            }
        );
        let sources: Vec<String> = e
            .sources
            .iter()
            .map(|s| escape_controls(&s.display().to_string()).into_owned())
            .collect();
        let _ = writeln!(
            out,
            "  portal:      {}",
            e.portal.as_deref().map_or(
                "not pinned (any portal its credentials point at)".into(),
                escape_controls
            )
        );
        let _ = writeln!(out, "  sources:     {}", sources.join(", "));
        let _ = writeln!(
            out,
            "  state:       {}",
            escape_controls(&e.state.to_string())
        );
        if e.credentials.is_empty() {
            out.push_str("  credentials: none mapped (it cannot connect to a portal)\n");
        } else {
            let vars: Vec<String> = e
                .credentials
                .iter()
                .map(|(ours, theirs)| format!("{ours} from ${theirs}"))
                .collect();
            let _ = writeln!(out, "  credentials: {}", vars.join(", "));
        }
        if let Some(rate) = e.rate {
            let _ = writeln!(out, "  rate:        {rate}");
        }
    }
    out
}

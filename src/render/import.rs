//! The report of `paysync import` (stdout).

use std::fmt::Write as _;

use crate::import::ImportReport;
use crate::model::Target;
use crate::untrusted::escape_controls;
use crate::wording::plural;

pub fn render(report: &ImportReport) -> String {
    let mut s = String::new();
    if !report.denied.is_empty() {
        let _ = writeln!(
            s,
            "Skipped {} the portal refused to read (ACCESS_DENIED): {}.",
            plural(report.denied.len(), "target"),
            target_list(&report.denied)
        );
    }
    for file in &report.written {
        let object = file
            .object
            .as_ref()
            .map(|o| format!("{}, ", escape_controls(o)))
            .unwrap_or_default();
        if file.targets == 0 && file.object.is_some() {
            let _ = writeln!(
                s,
                "Wrote {}: {}.",
                file.path.display(),
                object.trim_end_matches(", ")
            );
            continue;
        }
        let _ = writeln!(
            s,
            "Wrote {}: {object}{}, {}.",
            file.path.display(),
            plural(file.targets, "target"),
            plural(file.settings, "setting")
        );
    }
    for note in &report.object_notes {
        let _ = writeln!(s, "Not written: {}.", escape_controls(note));
    }
    if report.written.is_empty() {
        s.push_str("Nothing to import: no target has settings of its own.\n");
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(
            s,
            "Skipped {} with nothing set of their own: {}.",
            plural(report.skipped.len(), "target"),
            target_list(&report.skipped)
        );
    }
    if let Some((targets, state)) = &report.adopted {
        let _ = writeln!(s, "Adopted {} into {}.", plural(*targets, "target"), state);
    }
    if !report.variables.is_empty() {
        // Variables by their names; references of other sources whole.
        let verb = if report.variables.iter().all(|(r, ..)| !r.contains(':')) {
            "set"
        } else {
            "provide"
        };
        let _ = writeln!(
            s,
            "\nSecrets were written as references, not values. Before plan and apply, {verb}:"
        );
        for (env, target, code) in &report.variables {
            let _ = writeln!(s, "  {env}  ({target}, {code})");
        }
    }
    s
}

/// `11:0, 11:2`.
fn target_list(targets: &[Target]) -> String {
    let list: Vec<String> = targets
        .iter()
        .map(|t| format!("{}:{}", t.pay_system, t.person_type))
        .collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::import::WrittenFile;

    #[test]
    fn reports_files_skips_adoption_and_variables() {
        let t = |pay_system, person_type| Target {
            pay_system,
            person_type,
        };
        let report = ImportReport {
            denied: vec![t(5, 0)],
            written: vec![
                WrittenFile {
                    path: PathBuf::from("m/handler-acme.yaml"),
                    targets: 0,
                    settings: 0,
                    object: Some("handler acme".into()),
                },
                WrittenFile {
                    path: PathBuf::from("m/paysystem-11.yaml"),
                    targets: 1,
                    settings: 2,
                    object: Some("pay system xmlId:card".into()),
                },
            ],
            skipped: vec![t(11, 0), t(11, 2)],
            adopted: Some((1, PathBuf::from("paysync.state.json").into())),
            variables: vec![("PAYSYNC_PS11_PT1_KEY".into(), t(11, 1), "KEY".into())],
            object_notes: vec!["pay system 12 as a PaySystem document (no XML_ID)".into()],
        };
        assert_eq!(
            render(&report),
            "Skipped 1 target the portal refused to read (ACCESS_DENIED): 5:0.\n\
             Wrote m/handler-acme.yaml: handler acme.\n\
             Wrote m/paysystem-11.yaml: pay system xmlId:card, 1 target, 2 settings.\n\
             Not written: pay system 12 as a PaySystem document (no XML_ID).\n\
             Skipped 2 targets with nothing set of their own: 11:0, 11:2.\n\
             Adopted 1 target into paysync.state.json.\n\
             \n\
             Secrets were written as references, not values. Before plan and apply, set:\n  \
             PAYSYNC_PS11_PT1_KEY  (paySystem 11 / personType 1, KEY)\n"
        );
        assert_eq!(
            render(&ImportReport::default()),
            "Nothing to import: no target has settings of its own.\n"
        );
    }
}

//! The machine-readable plan (`--format json`): the [`PlanDocument`] (described by
//! `schema/plan.schema.json`), pretty-printed.
//!
//! ```json
//! {"format_version": 1, "paysync_version": "0.4.0", "portal": "https://example.bitrix24.com",
//!  "environment": null, "refreshed": false,
//!  "summary": {"has_changes": true, "needs_attention": 0, "targets_to_change": 1, "to_add": 1,
//!              "to_change": 0, "drifted": 0, "no_longer_managed": 0, "not_checked": 0,
//!              "to_record": 0, "empty_secrets": 0},
//!  "warnings": [],
//!  "targets": [{"paySystem": 11, "personType": 1, "manifest": "manifests/acme.yaml:2",
//!               "risk": "add",
//!               "changes": [{"code": "PAYMENT_ID", "action": "add", "risk": "add",
//!                            "manifest": "manifests/acme.yaml:5",
//!                            "after": {"type": "PAYMENT", "value": "ACCOUNT_NUMBER"}}]}]}
//! ```

use crate::plan::Plan;
use crate::plan::document::StreamedDocument;
use crate::render::OUTPUT_PART;

/// Renders the plan as pretty JSON with a trailing newline.
pub fn render(plan: &Plan) -> String {
    let mut all = String::new();
    render_in_parts(plan, |part| all.push_str(part));
    all
}

/// [`render`], handed to `emit` in parts of about [`OUTPUT_PART`] bytes, each ending with
/// a line. Pretty JSON escapes every newline inside a string, so a part never ends inside
/// one.
pub fn render_in_parts(plan: &Plan, emit: impl FnMut(&str)) {
    let mut parts = Parts {
        pending: Vec::with_capacity(OUTPUT_PART + 4096),
        emit,
    };
    serde_json::to_writer_pretty(&mut parts, &StreamedDocument(plan)).expect("plan serialises");
    parts.pending.push(b'\n');
    parts.pass_on(parts.pending.len());
}

/// Collects the serialised bytes and passes them on a whole number of lines at a time.
struct Parts<F: FnMut(&str)> {
    pending: Vec<u8>,
    emit: F,
}

impl<F: FnMut(&str)> Parts<F> {
    /// Passes on the first `len` bytes pending (they end with a line, or the document).
    fn pass_on(&mut self, len: usize) {
        // serde_json writes UTF-8, and a part ends just after a b'\n', which is never
        // inside a character.
        (self.emit)(&String::from_utf8_lossy(&self.pending[..len]));
        self.pending.drain(..len);
    }
}

impl<F: FnMut(&str)> std::io::Write for Parts<F> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let before = self.pending.len();
        self.pending.extend_from_slice(bytes);
        // Only the new bytes are searched for the last line end: a long line is not
        // searched again at every write.
        if self.pending.len() >= OUTPUT_PART
            && let Some(end) = bytes.iter().rposition(|&b| b == b'\n')
        {
            self.pass_on(before + end + 1);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::document::PlanDocument;
    use crate::render::plan_text::tests::plan_of;

    #[test]
    fn a_large_json_plan_is_written_in_parts_of_whole_lines() {
        let mut plan = plan_of(3_000);
        // Every field there is, so that the document streamed and the one built whole can be
        // compared byte for byte.
        plan.about.portal = Some("https://example.bitrix24.com".into());
        plan.about.environment = Some("prod".into());
        plan.about.commit = Some("0123abc".into());
        plan.about.run_url = Some("https://ci.example/run/1".into());
        plan.warnings = vec!["a warning".into()];
        plan.names.pay_systems.insert(1000, "AcmePay".into());
        let mut unresolved = plan.targets[0].clone();
        unresolved.target = crate::model::Target {
            pay_system: 0,
            person_type: 0,
        };
        unresolved.reference = Some("xmlId:acme_card/1".into());
        plan.unresolved = vec![unresolved];
        // One line longer than a part.
        plan.targets[10].changes[0].after = Some(crate::plan::Value::Plain {
            source: "VALUE".into(),
            value: "x".repeat(3 * OUTPUT_PART).into(),
        });
        let mut parts = Vec::new();
        render_in_parts(&plan, |part| parts.push(part.to_owned()));
        assert!(parts.len() > 1, "one part of {} bytes", parts[0].len());
        for part in &parts {
            assert!(
                part.ends_with('\n'),
                "{:?}",
                &part[part.len().saturating_sub(40)..]
            );
        }
        let whole = parts.concat();
        assert_eq!(whole, render(&plan));
        // Byte for byte the document built whole.
        let built = serde_json::to_string_pretty(&PlanDocument::from(&plan)).unwrap() + "\n";
        assert_eq!(whole, built);
        let document: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(document["targets"].as_array().unwrap().len(), 3_000);
        assert_eq!(document["unresolved"][0]["reference"], "xmlId:acme_card/1");
        assert_eq!(document["run_url"], "https://ci.example/run/1");
        assert_eq!(document["targets"][2999]["manifest"], "m.yaml:20994");
        assert_eq!(
            document["targets"][10]["changes"][0]["after"]["value"]
                .as_str()
                .map(str::len),
            Some(3 * OUTPUT_PART)
        );
        assert_eq!(
            serde_json::from_value::<PlanDocument>(document).unwrap(),
            PlanDocument::from(&plan)
        );
    }
}

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
use crate::plan::document::PlanDocument;

/// Renders the plan as pretty JSON with a trailing newline.
pub fn render(plan: &Plan) -> String {
    let mut out = serde_json::to_string_pretty(&PlanDocument::from(plan)).expect("plan serialises");
    out.push('\n');
    out
}

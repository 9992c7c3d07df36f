//! What an apply reports when it is done: what was written, what failed and why, what
//! is unknown and what was not sent.

use std::fmt::Write;

use anstyle::{AnsiColor, Effects, Style};

use crate::apply::ApplyReport;
use crate::model::Target;
use crate::plan::Plan;
use crate::plan::Summary;
use crate::plan::document::{Header, PlanDocument};
use crate::untrusted::escape_controls;
use crate::verify::{Found, Mismatch};
use crate::wording::plural;

/// At most this many targets are named in one line; the rest are counted.
const LISTED: usize = 10;

/// The first [`LISTED`] of `targets`, each with the names known, and how many more.
fn list(targets: &[Target], names: &crate::plan::Names) -> String {
    let mut shown = targets
        .iter()
        .take(LISTED)
        .map(|t| super::target_label(t, names))
        .collect::<Vec<_>>()
        .join(", ");
    if targets.len() > LISTED {
        shown.push_str(&format!(", and {} more", targets.len() - LISTED));
    }
    shown
}

/// The question asked before an apply: what will be written, where. `host` is the
/// portal's `host[:port]` (never a path or credentials); `environment` names the
/// environment when there is one:
/// `Apply 7 settings to 3 targets on portal example.bitrix24.ru?`.
pub fn question(summary: &Summary, host: &str, environment: Option<&str>) -> String {
    let writes = summary.to_add + summary.to_change;
    let mut where_ = format!("portal {}", escape_controls(host));
    if let Some(environment) = environment {
        let _ = write!(where_, " (environment {})", escape_controls(environment));
    }
    // What is written: handlers and pay systems first (apply writes them first), then
    // settings, then those of targets resolved at apply.
    let mut what: Vec<String> = super::plan_text::objects_phrase(summary)
        .into_iter()
        .collect();
    if writes > 0 {
        what.push(format!(
            "{} to {}",
            plural(writes, "setting"),
            plural(summary.targets_to_change, "target")
        ));
    }
    if summary.to_resolve > 0 {
        what.push(format!(
            "the settings of {} named by reference",
            plural(summary.to_resolve, "target")
        ));
    }
    // What is only forgotten in the state.
    let mut forgets = Vec::new();
    if summary.no_longer_managed > 0 {
        forgets.push(plural(summary.no_longer_managed, "setting"));
    }
    if summary.objects_no_longer_managed > 0 {
        forgets.push(super::plan_text::objects_count(
            summary.objects_no_longer_managed,
        ));
    }
    let forget = forgets.join(" and ");
    match (what.is_empty(), forget.is_empty()) {
        (true, _) => format!("Stop managing {forget} on {where_} (nothing is written to it)?"),
        (false, true) => format!("Apply {} on {where_}?", what.join(", ")),
        (false, false) => format!(
            "Apply {} on {where_}, and stop managing {forget}?",
            what.join(", ")
        ),
    }
}

/// The closing lines of an apply, for stderr (all of them, complete or not, go to one
/// stream): what failed and why, then one summary line, `Apply complete: ...` (green
/// when `color`), `Apply incomplete: ...` (red) or `Apply stopped: ...` (yellow).
/// The last line names where the apply wrote: `... 3 requests sent to portal HOST
/// (environment prod).`
/// A failed target is named with the names known of its pay system and payer type.
pub fn render(
    report: &ApplyReport,
    color: bool,
    about: &crate::plan::About,
    names: &crate::plan::Names,
    not_kept: usize,
) -> String {
    let mut out = String::new();
    for f in &report.failed {
        let _ = write!(
            out,
            "error: {}: {}: {}",
            super::target_label(&f.target, names),
            f.error.code,
            f.error.description
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
            list(&report.unknown, names)
        );
    }
    if !report.not_recorded.is_empty() {
        let _ = writeln!(
            out,
            "{} confirmed by the portal but not recorded (the state could not be written); the \
             next plan shows {} again: {}",
            plural(report.not_recorded.len(), "target"),
            if report.not_recorded.len() == 1 {
                "it"
            } else {
                "them"
            },
            list(&report.not_recorded, names)
        );
    }
    if !report.not_attempted.is_empty() {
        let _ = writeln!(
            out,
            "{} not sent because the run stopped: {}",
            plural(report.not_attempted.len(), "target"),
            list(&report.not_attempted, names)
        );
    }
    let mut outcome = Vec::new();
    if report.objects_written > 0 {
        outcome.push(format!(
            "{} written",
            crate::render::plan_text::objects_count(report.objects_written)
        ));
    }
    outcome.push(format!(
        "{} changed ({} written)",
        plural(report.applied.len(), "target"),
        plural(report.settings_written, "setting"),
    ));
    outcome.push(format!("{} failed", report.failed.len()));
    if !report.unknown.is_empty() {
        outcome.push(format!("{} unknown", report.unknown.len()));
    }
    if !report.not_attempted.is_empty() {
        outcome.push(format!("{} not sent", report.not_attempted.len()));
    }
    if !report.not_recorded.is_empty() {
        outcome.push(format!("{} not recorded", report.not_recorded.len()));
    }
    if not_kept > 0 {
        outcome.push(format!(
            "{} not kept by the portal as sent",
            plural(not_kept, "setting")
        ));
    }
    let (head, style) = if report.is_complete() && not_kept == 0 {
        ("Apply complete:", AnsiColor::Green.on_default())
    } else if report.interrupted.is_some() || report.record_error.is_some() {
        ("Apply stopped:", AnsiColor::Yellow.on_default())
    } else {
        ("Apply incomplete:", AnsiColor::Red.on_default())
    };
    let style = if color {
        style.effects(Effects::BOLD)
    } else {
        Style::new()
    };
    let mut place = String::new();
    if let Some(host) = about.host() {
        let _ = write!(place, " to portal {}", escape_controls(host));
    }
    if let Some(env) = &about.environment {
        let _ = write!(place, " (environment {})", escape_controls(env));
    }
    let _ = writeln!(
        out,
        "{style}{head}{style:#} {}, {} sent{place}.",
        outcome.join(", "),
        plural(report.requests, "request"),
    );
    out
}

/// The version of `apply --format json`.
pub const FORMAT_VERSION: u32 = 2;

/// The output of `apply --format json` (`schema/apply.schema.json`): the plan and what
/// became of it, one document.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(
    title = "paysync apply result",
    description = "The output of `paysync apply --format json`: the plan applied and what became of it."
)]
pub struct ApplyDocument {
    #[serde(flatten)]
    pub header: Header,
    /// The plan that was applied (the plan document, `schema/plan.schema.json`).
    pub plan: PlanDocument,
    /// What became of it; null when the plan had nothing to apply.
    pub result: Option<ApplyResult>,
}

/// What became of an apply.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ApplyResult {
    /// Whether every target was applied (exit 0).
    pub complete: bool,
    /// Targets the portal confirmed, recorded in the state.
    pub applied: Vec<TargetId>,
    /// Settings written.
    pub settings_written: usize,
    /// Targets recorded in the state without a write (live already equal).
    pub state_only: Vec<TargetId>,
    /// Targets the portal refused, with its error.
    pub failed: Vec<FailedTarget>,
    /// Targets sent whose answer never came: the portal may or may not hold them.
    pub unknown: Vec<TargetId>,
    /// Targets not sent because the run stopped.
    pub not_sent: Vec<TargetId>,
    /// Targets the portal confirmed whose record could not be written (the state could
    /// not be written: a full disk, a file-size limit): the next plan shows them again.
    pub not_recorded: Vec<TargetId>,
    /// The request-level failure that stopped the run, or the failure to write the state.
    pub stopped_by_error: Option<String>,
    /// The signal that stopped the run (`SIGINT`, `SIGTERM`).
    pub interrupted: Option<String>,
    /// HTTP requests sent, every attempt and retry included.
    pub requests: u64,
    /// `--verify`: written codes the portal does not hold as sent.
    pub not_kept: Vec<NotKept>,
    /// Targets set aside because the portal's answer for them could not be read: not
    /// written.
    pub unreadable: Vec<TargetId>,
    /// The handlers and pay systems written (or adopted as they were), in order.
    pub objects: Vec<DoneObject>,
    /// Fields of handlers and pay systems the portal did not keep (planned again).
    pub objects_not_kept: Vec<ObjectNotKept>,
}

/// A handler or pay system apply wrote.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct DoneObject {
    /// As the plan's: `handler["acmepay"]`, `pay_system["acme_card"]`.
    pub address: String,
    pub kind: crate::model::objects::ObjectKind,
    /// The handler's CODE or the pay system's XML_ID.
    pub identity: String,
    /// `create`, `adopt`, `update` or `delete`.
    pub action: crate::plan::objects::ObjectAction,
    /// Its ID on the portal.
    pub id: u64,
}

/// A handler's or pay system's fields the portal did not keep.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ObjectNotKept {
    /// `handler acmepay`, `pay system xmlId:acme_card`.
    pub object: String,
    /// The portal's field paths.
    pub fields: Vec<String>,
}

/// A written code the portal does not hold as sent (`--verify`).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct NotKept {
    /// The target and code as one string, as the plan's `address`.
    pub address: String,
    #[serde(flatten)]
    pub target: TargetId,
    pub code: String,
    /// `file:line` where the code is declared.
    pub manifest: Option<String>,
    /// `missing` (not returned: its handler does not declare it), `other` (another
    /// value), `unreadable` (the answer could not be read).
    pub found: &'static str,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct TargetId {
    pub pay_system: u64,
    pub person_type: u64,
}

impl From<&Target> for TargetId {
    fn from(t: &Target) -> Self {
        TargetId {
            pay_system: t.pay_system,
            person_type: t.person_type,
        }
    }
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct FailedTarget {
    #[serde(flatten)]
    pub target: TargetId,
    /// The portal's error code.
    pub error: String,
    pub error_description: String,
    /// `file:line` of the target's manifest document.
    pub manifest: Option<String>,
}

/// `apply --format json`: the plan and the report as one pretty-printed document, with
/// what `--verify` found and the targets set aside.
pub fn json(
    plan: &Plan,
    report: Option<&ApplyReport>,
    not_kept: &[Mismatch],
    unreadable: &[Target],
    objects: &crate::apply::objects::ObjectsReport,
) -> String {
    let ids = |targets: &[Target]| targets.iter().map(TargetId::from).collect();
    let document = ApplyDocument {
        header: Header::new(FORMAT_VERSION, &plan.about),
        plan: PlanDocument::from(plan),
        result: report.map(|r| ApplyResult {
            complete: r.is_complete()
                && not_kept.is_empty()
                && unreadable.is_empty()
                && objects.not_kept.is_empty(),
            applied: ids(&r.applied),
            settings_written: r.settings_written,
            state_only: ids(&r.state_only),
            failed: r
                .failed
                .iter()
                .map(|f| FailedTarget {
                    target: TargetId::from(&f.target),
                    error: f.error.code.to_string(),
                    error_description: f.error.description.to_string(),
                    manifest: f.manifest.clone(),
                })
                .collect(),
            unknown: ids(&r.unknown),
            not_sent: ids(&r.not_attempted),
            not_recorded: ids(&r.not_recorded),
            stopped_by_error: r
                .aborted
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| r.record_error.as_ref().map(ToString::to_string)),
            interrupted: r.interrupted.map(|s| s.to_string()),
            requests: r.requests,
            not_kept: not_kept
                .iter()
                .map(|m| NotKept {
                    address: crate::plan::document::address(Some(&m.target), None, &m.code),
                    target: TargetId::from(&m.target),
                    code: m.code.clone(),
                    manifest: m.at.clone(),
                    found: match m.found {
                        Found::Missing => "missing",
                        Found::Other(_) | Found::OtherSecret => "other",
                        Found::Unreadable(_) => "unreadable",
                    },
                })
                .collect(),
            unreadable: ids(unreadable),
            objects: objects
                .done
                .iter()
                .map(|d| DoneObject {
                    address: crate::plan::document::object_address(d.kind, &d.identity),
                    kind: d.kind,
                    identity: d.identity.clone(),
                    action: d.action,
                    id: d.id,
                })
                .collect(),
            objects_not_kept: objects
                .not_kept
                .iter()
                .map(|(object, fields)| ObjectNotKept {
                    object: object.clone(),
                    fields: fields.clone(),
                })
                .collect(),
        }),
    };
    let mut text = serde_json::to_string_pretty(&document).expect("apply result serialises");
    text.push('\n');
    text
}
/// One line per code the portal does not hold as sent, then the count.
pub fn mismatches(mismatches: &[Mismatch]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for m in mismatches {
        let at =
            m.at.as_deref()
                .map(|a| format!(" ({})", crate::untrusted::escape_controls(a)))
                .unwrap_or_default();
        let what = match &m.found {
            Found::Missing => "the portal does not return it: its handler does not declare it, so \
                               the portal keeps it where nothing reads it"
                .to_owned(),
            Found::Other(value) => format!(
                "the portal holds {:?} instead",
                crate::untrusted::escape_controls(value)
            ),
            Found::OtherSecret => "the portal holds another value (a secret: not shown)".to_owned(),
            Found::Unreadable(why) => format!(
                "it could not be read back ({})",
                crate::untrusted::escape_controls(why)
            ),
        };
        let _ = writeln!(
            out,
            "error: {} {}{at}: written, but {what}",
            m.target,
            crate::untrusted::escape_controls(&m.code)
        );
    }
    let _ = writeln!(
        out,
        "Verify: {} not kept as sent; the state no longer records {}, so the next plan shows {} again.",
        crate::wording::plural(mismatches.len(), "setting"),
        if mismatches.len() == 1 { "it" } else { "them" },
        if mismatches.len() == 1 { "it" } else { "them" },
    );
    out
}

/// What became of the handlers and pay systems (issue 24), one line each; empty when
/// the plan had none. Names are the manifests' (identities checked by the validator).
pub fn objects(report: &crate::apply::objects::ObjectsReport) -> String {
    use crate::plan::objects::ObjectAction;
    let mut out = String::new();
    for done in &report.done {
        let (name, id) = (done.name(), done.id);
        let verb = match done.action {
            ObjectAction::Create => "Created",
            ObjectAction::Adopt => "Adopted (found on the portal)",
            ObjectAction::Update => "Updated",
            ObjectAction::Delete => "Deleted",
            ObjectAction::Forget => "Forgot",
        };
        out.push_str(&format!("{verb} {name} (ID {id}).\n"));
    }
    for name in &report.forgotten {
        out.push_str(&format!(
            "Forgot {name} (no longer managed; left on the portal).\n"
        ));
    }
    for (name, fields) in &report.not_kept {
        out.push_str(&format!(
            "Not kept by the portal: {name}: {} (planned again).\n",
            crate::untrusted::escape_controls(&fields.join(", "))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(complete: bool) -> ApplyReport {
        let mut report = ApplyReport::default();
        report.applied.push(Target {
            pay_system: 11,
            person_type: 1,
        });
        report.settings_written = 2;
        report.requests = 1;
        if !complete {
            report.not_attempted.push(Target {
                pay_system: 12,
                person_type: 0,
            });
        }
        report
    }

    #[test]
    fn the_question_names_the_counts_and_the_portal() {
        let summary = |targets, add, change, forget| Summary {
            targets_to_change: targets,
            to_add: add,
            to_change: change,
            no_longer_managed: forget,
            ..Summary::default()
        };
        assert_eq!(
            question(&summary(3, 5, 2, 0), "example.bitrix24.ru", None),
            "Apply 7 settings to 3 targets on portal example.bitrix24.ru?"
        );
        assert_eq!(
            question(&summary(1, 1, 0, 0), "127.0.0.1:8099", Some("production")),
            "Apply 1 setting to 1 target on portal 127.0.0.1:8099 (environment production)?"
        );
        assert_eq!(
            question(&summary(1, 0, 1, 2), "p.example", None),
            "Apply 1 setting to 1 target on portal p.example, and stop managing 2 settings?"
        );
        assert_eq!(
            question(&summary(0, 0, 0, 1), "p.example", None),
            "Stop managing 1 setting on portal p.example (nothing is written to it)?"
        );
    }

    /// Regression: a plan that only creates handlers and pay systems asked "Stop managing
    /// 0 settings ... (nothing is written to it)?".
    #[test]
    fn the_question_names_the_handlers_and_pay_systems_written() {
        let creates = Summary {
            objects_to_create: 3,
            to_resolve: 2,
            ..Summary::default()
        };
        assert_eq!(
            question(&creates, "p.example", None),
            "Apply 3 handlers and pay systems to create, the settings of 2 targets named by \
             reference on portal p.example?"
        );
        let forget = Summary {
            objects_no_longer_managed: 1,
            ..Summary::default()
        };
        assert_eq!(
            question(&forget, "p.example", None),
            "Stop managing 1 handler or pay system on portal p.example (nothing is written to it)?"
        );
    }

    #[test]
    fn an_apply_with_settings_not_kept_is_never_complete() {
        let text = render(
            &report(true),
            false,
            &Default::default(),
            &Default::default(),
            2,
        );
        assert_eq!(
            text,
            "Apply incomplete: 1 target changed (2 settings written), 0 failed, 2 settings not \
             kept by the portal as sent, 1 request sent.\n"
        );
    }

    #[test]
    fn the_summary_line_is_coloured_only_when_asked() {
        let plain = render(
            &report(true),
            false,
            &Default::default(),
            &Default::default(),
            0,
        );
        assert_eq!(
            plain,
            "Apply complete: 1 target changed (2 settings written), 0 failed, 1 request sent.\n"
        );
        let green = render(
            &report(true),
            true,
            &Default::default(),
            &Default::default(),
            0,
        );
        assert!(
            green.starts_with("\u{1b}[1m\u{1b}[32mApply complete:\u{1b}[0m "),
            "{green:?}"
        );
        let red = render(
            &report(false),
            true,
            &Default::default(),
            &Default::default(),
            0,
        );
        assert!(red.contains("\u{1b}[31mApply incomplete:"), "{red:?}");
        assert!(
            !render(
                &report(false),
                false,
                &Default::default(),
                &Default::default(),
                0
            )
            .contains('\u{1b}')
        );
    }

    #[test]
    fn a_failed_target_is_named_with_the_names_known() {
        let mut report = report(true);
        report.failed.push(crate::apply::TargetFailure {
            target: Target {
                pay_system: 12,
                person_type: 1,
            },
            manifest: Some("m/acme.yaml:9".into()),
            error: crate::bitrix::envelope::PortalError {
                code: "ACCESS_DENIED".into(),
                description: "Access denied".into(),
                http_status: None,
            },
        });
        let mut names = crate::plan::Names::default();
        names.pay_systems.insert(12, "AcmePay \u{1b}[31mB2B".into());
        names.person_types.insert(1, "Individual".into());
        let text = render(&report, false, &Default::default(), &names, 0);
        assert!(
            text.starts_with(
                "error: paySystem 12 \"AcmePay \\u001b[31mB2B\" / personType 1 \"Individual\": \
                 ACCESS_DENIED: Access denied (m/acme.yaml:9)\n"
            ),
            "{text}"
        );
        let text = render(&report, false, &Default::default(), &Default::default(), 0);
        assert!(
            text.starts_with("error: paySystem 12 / personType 1: ACCESS_DENIED"),
            "{text}"
        );
        // So is a target not sent.
        report.failed.clear();
        report.not_attempted.push(Target {
            pay_system: 12,
            person_type: 1,
        });
        let text = render(&report, false, &Default::default(), &names, 0);
        assert!(
            text.contains(
                "1 target not sent because the run stopped: paySystem 12 \"AcmePay \\u001b[31mB2B\" \
                 / personType 1 \"Individual\"\n"
            ),
            "{text}"
        );
    }
}

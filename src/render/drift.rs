//! `paysync drift` output: text for people, versioned JSON for alerting.
//!
//! Text: one line per drifted setting, grouped by target, then a summary line:
//!
//! ```text
//! paySystem 11 / personType 1:
//!   ~ PS_WORK_MODE_IFRAME: "TEST" -> "REGULAR" (changed outside paysync)
//!   ~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed outside paysync)
//!
//! Drift: 2 settings in 1 target changed outside paysync (5 settings in 2 targets checked).
//! ```
//!
//! The arrow goes from the live value to the recorded (last-applied) one, as in a plan
//! with `--refresh`: what `apply --refresh` would write back.
//!
//! JSON, format version 1:
//!
//! ```json
//! {"format_version": 1, "portal": "https://example.bitrix24.com",
//!  "summary": {"drift": true, "targets_checked": 2, "settings_checked": 5,
//!              "targets_drifted": 1, "drifted": 2, "not_returned": 0},
//!  "drift": [{"paySystem": 11, "personType": 1, "code": "PS_WORK_MODE_IFRAME",
//!             "recorded": {"type": "VALUE", "value": "REGULAR"},
//!             "live": {"type": "VALUE", "value": "TEST"}},
//!            {"paySystem": 11, "personType": 1, "code": "REST_SERVICE_KEY_IFRAME",
//!             "recorded": {"type": "VALUE", "secret": "env:ACME_KEY"},
//!             "live": {"type": "VALUE", "hidden": true}}],
//!  "not_returned": [], "not_compared": []}
//! ```
//!
//! `not_compared` lists the targets whose answers could not be read (with the reason);
//! when it is not empty the command exits 8, whatever else it found.
//!
//! A live `type` is null when the portal did not report it, a live `value` null when the
//! setting is unset. Secret values and fingerprints are never included. Fields may be
//! added within version 1; a removal or a change of meaning bumps `format_version`.

use std::fmt::Write;

use serde::Serialize;

use crate::model::{LiveSetting, SOURCE_VALUE, Target};
use crate::plan::About;
use crate::plan::document::Header;
use crate::plan::drift::DriftReport;
use crate::render::{push_quoted, target_label};
use crate::state::RecordedValue;
use crate::untrusted::escape_controls;
use crate::wording::plural;

/// The version of the JSON format.
pub const FORMAT_VERSION: u32 = 2;

/// A value as a text line shows it: quoted literals, `SOURCE:FIELD`, control and
/// invisible characters escaped (live values come from the portal).
fn shown(source: Option<&str>, value: Option<&str>) -> String {
    match (source, value) {
        (_, None) => "(unset)".to_owned(),
        (Some(s), Some(v)) if s != SOURCE_VALUE => {
            format!("{}:{}", escape_controls(s), escape_controls(v))
        }
        (_, Some(v)) => {
            let mut out = String::new();
            push_quoted(&mut out, v);
            out
        }
    }
}

/// Styles of the text report, as the plan's: changes yellow, what was not compared red.
const CHANGE: anstyle::Style = anstyle::AnsiColor::Yellow.on_default();
const PROBLEM: anstyle::Style = anstyle::AnsiColor::Red.on_default();
const BOLD: anstyle::Style = anstyle::Style::new().effects(anstyle::Effects::BOLD);

/// `text` in `style` when `color`.
fn paint(style: anstyle::Style, text: &str, color: bool) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// The text report, with the environment and portal first (as `plan` with an
/// environment), coloured when `color`.
pub fn text(report: &DriftReport, environment: Option<&str>, color: bool) -> String {
    let mut out = String::new();
    if let Some(env) = environment {
        let host = report
            .portal
            .split_once("://")
            .map_or(report.portal.as_str(), |(_, h)| h);
        let header = format!(
            "Environment {} · portal {}",
            escape_controls(env),
            escape_controls(host)
        );
        let _ = writeln!(out, "{}\n", paint(BOLD, &header, color));
    }
    let body_start = out.len();
    let mut current = None;
    for d in &report.drifted {
        if current != Some(d.target) {
            if current.is_some() {
                out.push('\n');
            }
            let label = format!("{}:", target_label(&d.target, &report.names));
            let _ = writeln!(out, "{}", paint(BOLD, &label, color));
            current = Some(d.target);
        }
        let mark = paint(CHANGE, "~", color);
        match &d.recorded {
            RecordedValue::Secret { secret, .. } => {
                let _ = writeln!(
                    out,
                    "  {mark} {} (secret {}, changed outside paysync)",
                    escape_controls(&d.code),
                    escape_controls(&secret.to_string())
                );
            }
            RecordedValue::Plain { source, value } => {
                let live = shown(d.live.source.as_deref(), d.live.value.as_deref());
                let _ = writeln!(
                    out,
                    "  {mark} {}: {live} -> {} (changed outside paysync)",
                    escape_controls(&d.code),
                    shown(Some(source), Some(value))
                );
            }
        }
    }
    let mut object = None;
    for d in &report.objects {
        let name = format!("{} (ID {})", d.name(), d.id);
        if object.as_ref() != Some(&name) {
            if out.len() > body_start {
                out.push('\n');
            }
            let header = match &d.field {
                Some(_) => format!("{name}:"),
                None => format!("{name}: no longer on the portal"),
            };
            let _ = writeln!(out, "{}", paint(BOLD, &header, color));
            object = Some(name);
        }
        if let Some(field) = &d.field {
            let quoted = |v: &Option<String>| match v {
                Some(v) => {
                    let mut q = String::new();
                    crate::render::push_quoted(&mut q, v);
                    q
                }
                None => "(none)".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {} {}: {} -> {} (changed outside paysync)",
                paint(CHANGE, "~", color),
                escape_controls(field),
                quoted(&d.live),
                quoted(&d.recorded)
            );
        }
    }
    if !report.not_returned.is_empty() {
        if out.len() > body_start {
            out.push('\n');
        }
        out.push_str("Not checked (the portal did not return these recorded codes):\n");
        for (target, code) in &report.not_returned {
            let _ = writeln!(
                out,
                "  {} {} ({target})",
                paint(CHANGE, "?", color),
                escape_controls(code)
            );
        }
    }
    if !report.not_compared.is_empty() {
        if out.len() > body_start {
            out.push('\n');
        }
        out.push_str("Not compared (the portal's answer for these targets could not be read):\n");
        for (target, why) in &report.not_compared {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint(PROBLEM, "!", color),
                target_label(target, &report.names),
                escape_controls(why)
            );
        }
    }
    if out.len() > body_start {
        out.push('\n');
    }
    let checked = format!(
        "{} in {} checked",
        plural(report.settings_checked, "setting"),
        plural(report.targets_checked, "target")
    );
    if !report.not_compared.is_empty() {
        let drift = if report.has_drift() {
            format!(
                "{} in {} changed outside paysync",
                plural(report.drifted.len(), "setting"),
                plural(report.targets_drifted(), "target")
            )
        } else {
            "no drift among them".to_owned()
        };
        let _ = writeln!(
            out,
            "Incomplete: {} not compared; {checked}, {drift}.",
            plural(report.not_compared.len(), "target")
        );
    } else if report.has_drift() {
        let _ = writeln!(out, "Drift: {} ({checked}).", drifted_phrase(report));
    } else if report.targets_checked == 0 && report.objects_checked == 0 {
        out.push_str("No drift: the state records no settings.\n");
    } else {
        let objects = if report.objects_checked > 0 {
            format!(
                "{}, ",
                crate::render::plan_text::objects_count(report.objects_checked)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "No drift: {objects}{} in {} match the last-applied state.",
            plural(report.settings_checked, "setting"),
            plural(report.targets_checked, "target")
        );
    }
    out
}

/// What changed outside paysync, in words: `1 handler or pay system and 2 settings in 1
/// target changed outside paysync`.
pub fn drifted_phrase(report: &DriftReport) -> String {
    let mut parts = Vec::new();
    if !report.objects.is_empty() {
        parts.push(crate::render::plan_text::objects_count(
            report.objects_drifted(),
        ));
    }
    if !report.drifted.is_empty() {
        parts.push(format!(
            "{} in {}",
            plural(report.drifted.len(), "setting"),
            plural(report.targets_drifted(), "target")
        ));
    }
    format!("{} changed outside paysync", parts.join(" and "))
}

/// The output of `drift --format json` (`schema/drift.schema.json`).
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(
    title = "paysync drift report",
    description = "The output of `paysync drift --format json`."
)]
pub struct DriftDocument<'a> {
    #[serde(flatten)]
    header: Header,
    summary: JsonSummary,
    drift: Vec<JsonDrift<'a>>,
    not_returned: Vec<JsonCode<'a>>,
    /// Targets whose live settings could not be read, so not compared at all (exit 8).
    not_compared: Vec<JsonNotCompared<'a>>,
    /// Fields of the handlers and pay systems the state records that the portal holds
    /// otherwise, and those no longer on the portal (`field` null).
    objects: Vec<JsonObjectDrift<'a>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct JsonObjectDrift<'a> {
    /// As the plan's: `handler["acmepay"]`, `pay_system["acme_card"]`.
    address: String,
    kind: crate::model::objects::ObjectKind,
    identity: &'a str,
    id: u64,
    /// The portal's field path; null: the object is no longer on the portal.
    field: Option<&'a str>,
    /// As last applied.
    recorded: Option<&'a str>,
    /// As the portal holds it (escaped portal text).
    live: Option<&'a str>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct JsonNotCompared<'a> {
    #[serde(flatten)]
    at: JsonTarget<'a>,
    /// What was wrong with the portal's answer (escaped portal text).
    reason: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct JsonSummary {
    drift: bool,
    targets_checked: usize,
    settings_checked: usize,
    targets_drifted: usize,
    drifted: usize,
    not_returned: usize,
    /// Targets not compared (their answers could not be read).
    not_compared: usize,
    /// Handlers and pay systems compared.
    objects_checked: usize,
    /// Handlers and pay systems changed outside paysync (or gone).
    objects_drifted: usize,
}

// A target, with the names the state recorded.
#[derive(Serialize, schemars::JsonSchema)]
struct JsonTarget<'a> {
    pay_system: u64,
    person_type: u64,
    /// The pay system's name, when the state recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pay_system_name: Option<&'a str>,
    /// The payer type's name, when the state recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    person_type_name: Option<&'a str>,
}

impl<'a> JsonTarget<'a> {
    fn new(target: Target, names: &'a crate::model::Names) -> JsonTarget<'a> {
        JsonTarget {
            pay_system: target.pay_system,
            person_type: target.person_type,
            pay_system_name: names.pay_system(target.pay_system),
            person_type_name: names.person_type(target.person_type),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct JsonCode<'a> {
    /// The target and code as one string, as the plan's `address`:
    /// `pay_system[11].person_type[1].settings["CODE"]`.
    address: String,
    #[serde(flatten)]
    at: JsonTarget<'a>,
    code: &'a str,
}

impl<'a> JsonCode<'a> {
    fn new(target: Target, code: &'a str, names: &'a crate::model::Names) -> JsonCode<'a> {
        JsonCode {
            address: crate::plan::document::address(Some(&target), None, code),
            at: JsonTarget::new(target, names),
            code,
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct JsonDrift<'a> {
    #[serde(flatten)]
    at: JsonCode<'a>,
    recorded: JsonRecorded<'a>,
    live: JsonLive<'a>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
enum JsonRecorded<'a> {
    Plain {
        #[serde(rename = "type")]
        source: &'a str,
        value: &'a str,
    },
    Secret {
        #[serde(rename = "type")]
        source: &'a str,
        secret: String,
    },
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
enum JsonLive<'a> {
    Plain {
        #[serde(rename = "type")]
        source: Option<&'a str>,
        value: Option<&'a str>,
    },
    Hidden {
        #[serde(rename = "type")]
        source: Option<&'a str>,
        hidden: bool,
    },
}

fn live_json(live: &LiveSetting, secret: bool) -> JsonLive<'_> {
    if secret {
        JsonLive::Hidden {
            source: live.source.as_deref(),
            hidden: true,
        }
    } else {
        JsonLive::Plain {
            source: live.source.as_deref(),
            value: live.value.as_deref(),
        }
    }
}

/// The JSON report (pretty-printed, one trailing newline).
pub fn json(report: &DriftReport, about: About) -> String {
    let drift = report
        .drifted
        .iter()
        .map(|d| {
            let (recorded, secret) = match &d.recorded {
                RecordedValue::Plain { source, value } => {
                    (JsonRecorded::Plain { source, value }, false)
                }
                RecordedValue::Secret { source, secret, .. } => {
                    let secret = secret.to_string();
                    (JsonRecorded::Secret { source, secret }, true)
                }
            };
            JsonDrift {
                at: JsonCode::new(d.target, &d.code, &report.names),
                recorded,
                live: live_json(&d.live, secret),
            }
        })
        .collect();
    let not_returned = report
        .not_returned
        .iter()
        .map(|(target, code)| JsonCode::new(*target, code, &report.names))
        .collect();
    let json = DriftDocument {
        header: Header::new(
            FORMAT_VERSION,
            &About {
                portal: Some(report.portal.clone()),
                ..about
            },
        ),
        summary: JsonSummary {
            drift: report.has_drift(),
            targets_checked: report.targets_checked,
            settings_checked: report.settings_checked,
            targets_drifted: report.targets_drifted(),
            drifted: report.drifted.len(),
            not_returned: report.not_returned.len(),
            not_compared: report.not_compared.len(),
            objects_checked: report.objects_checked,
            objects_drifted: report.objects_drifted(),
        },
        drift,
        not_returned,
        not_compared: report
            .not_compared
            .iter()
            .map(|(target, why)| JsonNotCompared {
                at: JsonTarget::new(*target, &report.names),
                reason: escape_controls(why).into_owned(),
            })
            .collect(),
        objects: report
            .objects
            .iter()
            .map(|d| JsonObjectDrift {
                address: crate::plan::document::object_address(d.kind, &d.identity),
                kind: d.kind,
                identity: &d.identity,
                id: d.id,
                field: d.field.as_deref(),
                recorded: d.recorded.as_deref(),
                live: d.live.as_deref(),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&json).expect("the report serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::model::Target;
    use crate::plan::drift::Drifted;
    use crate::secrets::Redacted;

    const CANARY: &str = "CANARY-live-secret";

    fn report() -> DriftReport {
        let target = Target {
            pay_system: 11,
            person_type: 1,
        };
        let key = Fingerprinter::new(cheap_scheme(), None, None);
        DriftReport {
            portal: "http://127.0.0.1:1".into(),
            names: Default::default(),
            targets_checked: 2,
            settings_checked: 5,
            objects_checked: 0,
            objects: Vec::new(),
            drifted: vec![
                Drifted {
                    target,
                    code: "MODE".into(),
                    recorded: RecordedValue::Plain {
                        source: "VALUE".into(),
                        value: "REGULAR".into(),
                    },
                    live: LiveSetting {
                        source: Some("VALUE".into()),
                        value: Some("TEST".into()),
                        source_known: true,
                    },
                },
                Drifted {
                    target,
                    code: "KEY".into(),
                    recorded: RecordedValue::Secret {
                        source: "VALUE".into(),
                        secret: Box::new("env:ACME_KEY".parse().unwrap()),
                        fingerprint: key.fingerprint(&Redacted::new("old".to_owned())),
                    },
                    live: LiveSetting {
                        source: Some("VALUE".into()),
                        value: Some(CANARY.into()),
                        source_known: true,
                    },
                },
            ],
            not_returned: vec![],
            not_compared: vec![],
        }
    }

    #[test]
    fn with_an_environment_the_text_names_it_and_the_portal_first_and_colours_like_plan() {
        let r = report();
        let text = text(&r, Some("prod"), false);
        let host = r.portal.split_once("://").unwrap().1;
        assert!(
            text.starts_with(&format!("Environment prod · portal {host}\n\n")),
            "{text}"
        );
        let coloured = super::text(&r, Some("prod"), true);
        assert!(coloured.contains("\u{1b}[33m~\u{1b}[0m"), "{coloured:?}");
        assert_eq!(anstream::adapter::strip_str(&coloured).to_string(), text);
    }

    #[test]
    fn text_shows_lines_and_hides_secrets() {
        let text = text(&report(), None, false);
        assert_eq!(
            text,
            "paySystem 11 / personType 1:\n\
             \x20 ~ MODE: \"TEST\" -> \"REGULAR\" (changed outside paysync)\n\
             \x20 ~ KEY (secret env:ACME_KEY, changed outside paysync)\n\
             \n\
             Drift: 2 settings in 1 target changed outside paysync (5 settings in 2 targets checked).\n"
        );
    }

    #[test]
    fn json_is_versioned_and_hides_secrets() {
        let s = json(&report(), crate::plan::About::default());
        assert!(!s.contains(CANARY), "{s}");
        assert!(!s.contains("hmac"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["format_version"], 2);
        assert_eq!(v["summary"]["drifted"], 2);
        assert_eq!(v["drift"][0]["code"], "MODE");
        let at = &v["drift"][0];
        assert_eq!(
            at["address"],
            format!(
                "pay_system[{}].person_type[{}].settings[\"MODE\"]",
                at["pay_system"], at["person_type"]
            )
        );
        assert_eq!(v["drift"][0]["live"]["value"], "TEST");
        assert_eq!(v["drift"][0]["recorded"]["value"], "REGULAR");
        assert_eq!(v["drift"][1]["live"]["hidden"], true);
        assert_eq!(v["drift"][1]["recorded"]["secret"], "env:ACME_KEY");
    }

    #[test]
    fn no_drift_line() {
        let mut r = report();
        r.drifted.clear();
        assert_eq!(
            text(&r, None, false),
            "No drift: 5 settings in 2 targets match the last-applied state.\n"
        );
    }
}

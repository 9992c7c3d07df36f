//! `paysync drift`: compares live settings with the last-applied state, read-only.
//!
//! Made for schedules (cron, a CI schedule) that alert when someone changed a managed
//! setting in the portal's UI. It compares **live with last-applied only**:
//!
//! - The targets and codes compared are those recorded in the state file (`--state`).
//!   Manifests are not read and take no part: drift is what changed on the portal since
//!   paysync last wrote it, whatever the manifests now say (a code declared but never
//!   applied is a planned change, not drift; `paysync plan` shows it). So the command
//!   takes no PATH.
//! - It takes no lock and writes nothing (the state file keeps its bytes and mtime); the
//!   only requests are `sale.paysystem.settings.get` reads, batched.
//! - Values are compared with the planner's rule ([`crate::plan`]): a secret is compared
//!   by its keyed fingerprint (the state's key) and never shown.
//! - A recorded code the portal does not return (its handler no longer declares it)
//!   cannot be compared: it is listed as not checked, and is not drift.
//!
//! Exit codes: 0 no drift, 7 drift found ([`exit::DRIFT_FOUND`]), 1 error (no state
//! file, state of another portal, a target the portal refuses, ...).

use std::collections::BTreeMap;

use clap::ValueEnum;

use crate::app::{check_portal, connect, runtime};
use crate::cli::{PortalArgs, StateArgs};
use crate::error::{Error, exit};
use crate::fingerprint::Fingerprinter;
use crate::model::{LiveSetting, Target};
use crate::plan::live_equals_recorded;
use crate::render::terminal::Terminal;
use crate::state::RecordedValue;
use crate::state::store::StateStore;
use crate::untrusted::live_text;

/// Output formats of `paysync drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    /// For people: one line per drifted setting.
    Text,
    /// Versioned, for alerting (see the README).
    Json,
}

/// Arguments of `paysync drift`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Compares the portal with the state file only (the settings paysync last applied); \
manifests are not read. Takes no lock, writes nothing, sends only reads.\n\nExit codes: 0 no drift, \
7 drift found, 1 error."
)]
pub struct DriftArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
}

/// One recorded setting whose live value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    pub target: Target,
    pub code: String,
    pub recorded: RecordedValue,
    pub live: LiveSetting,
}

/// What `paysync drift` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriftReport {
    /// `scheme://host[:port]` of the portal read (no credentials).
    pub portal: String,
    /// Targets with at least one recorded setting.
    pub targets_checked: usize,
    /// Recorded settings compared (those the portal returned).
    pub settings_checked: usize,
    /// Sorted by target, then code.
    pub drifted: Vec<Drifted>,
    /// Recorded codes the portal did not return: not compared.
    pub not_returned: Vec<(Target, String)>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.drifted.is_empty()
    }

    /// Targets with at least one drifted setting.
    pub fn targets_drifted(&self) -> usize {
        let mut targets: Vec<Target> = self.drifted.iter().map(|d| d.target).collect();
        targets.dedup();
        targets.len()
    }
}

/// Compares live settings with the recorded ones. Pure: no I/O.
pub fn compare(
    recorded: &BTreeMap<Target, BTreeMap<String, RecordedValue>>,
    live: &BTreeMap<Target, BTreeMap<String, LiveSetting>>,
    fp: &Fingerprinter,
) -> DriftReport {
    let empty = BTreeMap::new();
    let mut report = DriftReport::default();
    for (target, settings) in recorded {
        if settings.is_empty() {
            continue;
        }
        report.targets_checked += 1;
        let got = live.get(target).unwrap_or(&empty);
        for (code, rec) in settings {
            let Some(l) = got.get(code) else {
                report.not_returned.push((*target, code.clone()));
                continue;
            };
            report.settings_checked += 1;
            if live_equals_recorded(rec, l, fp) == Some(false) {
                // Portal text: scrubbed of secrets and cut before it is reported.
                report.drifted.push(Drifted {
                    target: *target,
                    code: code.clone(),
                    recorded: rec.clone(),
                    live: LiveSetting {
                        source: l.source.as_deref().map(live_text),
                        value: l.value.as_deref().map(live_text),
                        source_known: l.source_known,
                    },
                });
            }
        }
    }
    report
}

pub fn run(args: &DriftArgs, term: &Terminal) -> Result<i32, Error> {
    let store = StateStore::new(&args.state.state);
    let Some(state) = store.load()? else {
        return Err(Error::Read {
            path: store.path().to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no state file there: nothing has been applied with it, so there is nothing to \
                 compare (check --state or PAYSYNC_STATE)",
            ),
        });
    };
    let client = connect(args.portal.rate)?;
    check_portal(&store, &state, &client.portal())?;
    // The recorded `env:` secrets the environment has are read only to be scrubbed from
    // whatever the portal sends (a key pasted into another setting, say).
    drop(crate::app::recorded_env_secrets(&state));
    let targets: Vec<Target> = state
        .targets
        .iter()
        .filter(|(_, settings)| !settings.is_empty())
        .map(|(target, _)| *target)
        .collect();
    let mut live = BTreeMap::new();
    if !targets.is_empty() {
        tracing::info!(targets = targets.len(), "reading live settings");
        let read = runtime()?.block_on(crate::live::read_settings(&client, &targets))?;
        for (target, result) in read {
            match result {
                Ok(settings) => {
                    live.insert(target, settings);
                }
                Err(error) => return Err(Error::Refresh { target, error }),
            }
        }
    }
    let fingerprinter = state.fingerprinter(crate::fingerprint::key_from_env());
    let mut report = compare(&state.targets, &live, &fingerprinter);
    report.portal = client.portal();
    for (target, code) in &report.not_returned {
        tracing::warn!(%target, code, "the portal did not return this recorded code; its handler may no longer declare it, so it cannot be checked");
    }
    let text = match args.format {
        DriftFormat::Text => crate::render::drift::text(&report),
        DriftFormat::Json => crate::render::drift::json(&report),
    };
    term.out(&text);
    Ok(if report.has_drift() {
        exit::DRIFT_FOUND
    } else {
        exit::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Redacted;

    fn t(pay_system: u64, person_type: u64) -> Target {
        Target {
            pay_system,
            person_type,
        }
    }

    fn plain(source: &str, value: &str) -> RecordedValue {
        RecordedValue::Plain {
            source: source.into(),
            value: value.into(),
        }
    }

    fn live(source: Option<&str>, value: Option<&str>) -> LiveSetting {
        LiveSetting {
            source: source.map(Into::into),
            value: value.map(Into::into),
            source_known: true,
        }
    }

    #[test]
    fn finds_changed_values_sources_and_secrets() {
        let key = Fingerprinter::new(crate::fingerprint::cheap_scheme(), None, None);
        let secret = RecordedValue::Secret {
            source: "VALUE".into(),
            secret: "env:ACME_KEY".into(),
            fingerprint: key.fingerprint(&Redacted::new("k-1".to_owned())),
        };
        let recorded = BTreeMap::from([
            (
                t(11, 1),
                BTreeMap::from([
                    ("A".to_owned(), plain("VALUE", "x")),
                    ("B".to_owned(), plain("VALUE", "y")),
                    ("C".to_owned(), plain("PAYMENT", "ID")),
                    ("K".to_owned(), secret.clone()),
                    ("GONE".to_owned(), plain("VALUE", "z")),
                ]),
            ),
            (t(12, 0), BTreeMap::from([("K".to_owned(), secret.clone())])),
            (t(13, 0), BTreeMap::new()),
        ]);
        let livemap = BTreeMap::from([
            (
                t(11, 1),
                BTreeMap::from([
                    ("A".to_owned(), live(Some("VALUE"), Some("x"))),
                    ("B".to_owned(), live(Some("VALUE"), Some("changed"))),
                    ("C".to_owned(), live(Some("ORDER"), Some("ID"))),
                    ("K".to_owned(), live(Some("VALUE"), Some("k-2"))),
                ]),
            ),
            (
                t(12, 0),
                BTreeMap::from([("K".to_owned(), live(Some("VALUE"), Some("k-1")))]),
            ),
        ]);
        let report = compare(&recorded, &livemap, &key);
        let drifted: Vec<(Target, &str)> = report
            .drifted
            .iter()
            .map(|d| (d.target, d.code.as_str()))
            .collect();
        assert_eq!(drifted, [(t(11, 1), "B"), (t(11, 1), "C"), (t(11, 1), "K")]);
        assert_eq!(report.not_returned, [(t(11, 1), "GONE".to_owned())]);
        assert_eq!(report.targets_checked, 2);
        assert_eq!(report.settings_checked, 5);
        assert_eq!(report.targets_drifted(), 1);
        assert!(report.has_drift());
    }

    #[test]
    fn plain_string_shape_compares_values_only() {
        let key = Fingerprinter::new(crate::fingerprint::cheap_scheme(), None, None);
        let recorded = BTreeMap::from([(
            t(11, 1),
            BTreeMap::from([("A".to_owned(), plain("VALUE", "x"))]),
        )]);
        let l = LiveSetting {
            source: None,
            value: Some("x".into()),
            source_known: false,
        };
        let livemap = BTreeMap::from([(t(11, 1), BTreeMap::from([("A".to_owned(), l)]))]);
        assert!(!compare(&recorded, &livemap, &key).has_drift());
    }
}

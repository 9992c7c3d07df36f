//! Table-driven tests of the planner's rules (SPEC §4). Pure: no files, no network.

use super::*;
use crate::model::{LiveSetting, LiveSettings};
use crate::secrets::Redacted;

const T: Target = Target {
    pay_system: 11,
    person_type: 1,
};

/// The planner's view of recorded settings: borrowed from the state.
fn borrowed(recorded: &BTreeMap<Target, RecordedSettings>) -> Recorded<'_> {
    recorded.iter().map(|(t, s)| (*t, s)).collect()
}

fn key() -> Fingerprinter {
    Fingerprinter::new(crate::fingerprint::cheap_scheme(), None, None)
}

fn fp(value: &str) -> Fingerprint {
    key()
        .fingerprint(&Redacted::new(value.to_string()))
        .unwrap()
}

fn plain(v: &str) -> Value {
    Value::Plain {
        source: "VALUE".into(),
        value: v.into(),
    }
}

fn secret(name: &str, value: Option<&str>) -> Value {
    Value::Secret {
        source: "VALUE".into(),
        secret: Box::new(SecretRef::Env { name: name.into() }),
        fingerprint: value.map(fp),
        empty: false,
    }
}

fn rec_plain(v: &str) -> RecordedValue {
    RecordedValue::Plain {
        source: "VALUE".into(),
        value: v.into(),
    }
}

fn rec_secret(name: &str, value: &str) -> RecordedValue {
    RecordedValue::Secret {
        source: "VALUE".into(),
        secret: Box::new(format!("env:{name}").parse().unwrap()),
        fingerprint: Some(fp(value)),
    }
}

fn live(v: Option<&str>) -> LiveSetting {
    LiveSetting {
        source: v.map(|_| "VALUE".into()),
        value: v.map(Into::into),
        source_known: true,
    }
}

/// One row: desired value, recorded value, live value (outer None = no refresh or not
/// returned), and the expected action (None = no change).
struct Case {
    name: &'static str,
    want: Option<Value>,
    recorded: Option<RecordedValue>,
    live: Option<LiveSetting>,
    expect: Option<Action>,
}

#[test]
fn rules() {
    let cases = vec![
        Case {
            name: "new code",
            want: Some(plain("a")),
            recorded: None,
            live: None,
            expect: Some(Action::Add),
        },
        Case {
            name: "unchanged",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: None,
            expect: None,
        },
        Case {
            name: "changed value",
            want: Some(plain("b")),
            recorded: Some(rec_plain("a")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "changed source",
            want: Some(Value::Plain {
                source: "PAYMENT".into(),
                value: "a".into(),
            }),
            recorded: Some(rec_plain("a")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "removed from manifest",
            want: None,
            recorded: Some(rec_plain("a")),
            live: None,
            expect: Some(Action::Forget),
        },
        Case {
            name: "drift",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: Some(live(Some("x"))),
            expect: Some(Action::Drift),
        },
        Case {
            name: "drift to unset",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: Some(live(None)),
            expect: Some(Action::Drift),
        },
        Case {
            name: "live in sync",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: Some(live(Some("a"))),
            expect: None,
        },
        Case {
            name: "live already desired, new code",
            want: Some(plain("a")),
            recorded: None,
            live: Some(live(Some("a"))),
            expect: Some(Action::Record),
        },
        Case {
            name: "live already desired, changed",
            want: Some(plain("b")),
            recorded: Some(rec_plain("a")),
            live: Some(live(Some("b"))),
            expect: Some(Action::Record),
        },
        Case {
            name: "new code, live differs",
            want: Some(plain("a")),
            recorded: None,
            live: Some(live(Some("z"))),
            expect: Some(Action::Add),
        },
        Case {
            name: "changed, live differs from both",
            want: Some(plain("b")),
            recorded: Some(rec_plain("a")),
            live: Some(live(Some("z"))),
            expect: Some(Action::Update),
        },
        Case {
            name: "string-shaped live compares value only",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: Some(LiveSetting {
                source: None,
                value: Some("a".into()),
                source_known: false,
            }),
            expect: None,
        },
        Case {
            name: "live source differs",
            want: Some(plain("a")),
            recorded: Some(rec_plain("a")),
            live: Some(LiveSetting {
                source: Some("ORDER".into()),
                value: Some("a".into()),
                source_known: true,
            }),
            expect: Some(Action::Drift),
        },
        Case {
            name: "new secret",
            want: Some(secret("K", Some("s1"))),
            recorded: None,
            live: None,
            expect: Some(Action::Add),
        },
        Case {
            name: "new secret, not resolvable",
            want: Some(secret("K", None)),
            recorded: None,
            live: None,
            expect: Some(Action::Add),
        },
        Case {
            name: "secret unchanged",
            want: Some(secret("K", Some("s1"))),
            recorded: Some(rec_secret("K", "s1")),
            live: None,
            expect: None,
        },
        Case {
            name: "secret changed",
            want: Some(secret("K", Some("s2"))),
            recorded: Some(rec_secret("K", "s1")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "secret not checked",
            want: Some(secret("K", None)),
            recorded: Some(rec_secret("K", "s1")),
            live: None,
            expect: Some(Action::Unchecked),
        },
        Case {
            name: "secret renamed, not checked",
            want: Some(secret("J", None)),
            recorded: Some(rec_secret("K", "s1")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "secret renamed, same value",
            want: Some(secret("J", Some("s1"))),
            recorded: Some(rec_secret("K", "s1")),
            live: None,
            expect: Some(Action::Record),
        },
        Case {
            name: "plain becomes secret",
            want: Some(secret("K", Some("a"))),
            recorded: Some(rec_plain("a")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "secret becomes plain",
            want: Some(plain("a")),
            recorded: Some(rec_secret("K", "a")),
            live: None,
            expect: Some(Action::Update),
        },
        Case {
            name: "secret drift",
            want: Some(secret("K", Some("s1"))),
            recorded: Some(rec_secret("K", "s1")),
            live: Some(live(Some("other"))),
            expect: Some(Action::Drift),
        },
        Case {
            name: "secret live in sync",
            want: Some(secret("K", Some("s1"))),
            recorded: Some(rec_secret("K", "s1")),
            live: Some(live(Some("s1"))),
            expect: None,
        },
    ];
    for case in cases {
        let mut desired = DesiredValues::default();
        if let Some(want) = &case.want {
            desired.targets.insert(
                T,
                DesiredTargetValues {
                    origins: Vec::new(),
                    reference: None,
                    manifest: None,
                    settings: vec![("CODE".into(), want.clone())],
                },
            );
        }
        let mut last = BTreeMap::new();
        if let Some(r) = &case.recorded {
            last.insert(T, RecordedSettings::from([("CODE", r.clone())]));
        }
        let live_state = case.live.as_ref().map(|l| Live {
            targets: BTreeMap::from([(T, LiveSettings::from([("CODE", l.clone())]))]),
        });
        let plan = compute(
            desired.clone(),
            &borrowed(&last),
            live_state.as_ref(),
            &key(),
        );
        let got = plan.targets.first().map(|t| {
            assert_eq!(t.changes.len(), 1, "{}", case.name);
            t.changes[0].action
        });
        assert_eq!(got, case.expect, "case: {}", case.name);
    }
}

#[test]
fn live_secret_value_never_enters_the_plan() {
    let desired = DesiredValues {
        pending: Vec::new(),
        targets: BTreeMap::from([(
            T,
            DesiredTargetValues {
                origins: Vec::new(),
                reference: None,
                manifest: None,
                settings: vec![("KEY".into(), secret("K", Some("s1")))],
            },
        )]),
    };
    let last = BTreeMap::from([(T, RecordedSettings::from([("KEY", rec_secret("K", "s1"))]))]);
    let live_state = Live {
        targets: BTreeMap::from([(T, LiveSettings::from([("KEY", live(Some("CANARY-live")))]))]),
    };
    let plan = compute(desired.clone(), &borrowed(&last), Some(&live_state), &key());
    let json = serde_json::to_string(&document::PlanDocument::from(&plan)).unwrap();
    assert!(json.contains("\"drift\""), "{json}");
    assert!(!json.contains("CANARY"), "{json}");
    assert!(!format!("{plan:?}").contains("CANARY"));
}

#[test]
fn removed_target_forgets_every_code_and_summary_counts() {
    let other = Target {
        pay_system: 12,
        person_type: 0,
    };
    let desired = DesiredValues {
        pending: Vec::new(),
        targets: BTreeMap::from([(
            T,
            DesiredTargetValues {
                origins: Vec::new(),
                reference: None,
                manifest: Location::parse("m.yaml:1"),
                settings: vec![
                    ("A".into(), plain("1")),
                    ("B".into(), plain("2")),
                    ("C".into(), plain("3")),
                ],
            },
        )]),
    };
    let last = BTreeMap::from([
        (
            T,
            RecordedSettings::from([
                ("B".to_string(), rec_plain("old")),
                ("C".to_string(), rec_plain("3")),
            ]),
        ),
        (
            other,
            RecordedSettings::from([
                ("X".to_string(), rec_plain("x")),
                ("Y".to_string(), rec_plain("y")),
            ]),
        ),
    ]);
    let plan = compute(desired.clone(), &borrowed(&last), None, &key());
    let summary = plan.summary();
    assert_eq!(
        summary,
        Summary {
            targets_to_change: 1,
            to_add: 1,
            to_change: 1,
            no_longer_managed: 2,
            ..Summary::default()
        }
    );
    assert!(summary.has_changes());
    assert_eq!(plan.targets.len(), 2);
    assert_eq!(plan.targets[0].target, T);
    assert_eq!(
        plan.targets[0]
            .changes
            .iter()
            .map(|c| c.code.as_str())
            .collect::<Vec<_>>(),
        ["A", "B"]
    );
    assert!(
        plan.targets[1]
            .changes
            .iter()
            .all(|c| c.action == Action::Forget)
    );
}

#[test]
fn empty_inputs_plan_nothing() {
    let plan = compute(DesiredValues::default(), &BTreeMap::new(), None, &key());
    assert!(plan.targets.is_empty());
    assert!(!plan.summary().has_changes());
}

/// Regression (issue 22): the plan inputs were collected from the declarations' own list,
/// so each target's values sat in room sized for declarations (about 160 bytes a value
/// instead of 88): 158 MB instead of 88 at 1M settings.
#[test]
fn plan_inputs_keep_exact_room_not_the_declarations_list() {
    let dir = tempfile::tempdir().unwrap();
    let codes: String = (0..20)
        .map(|c| format!("  CODE_{c:02}: value-{c}\n"))
        .collect();
    let text = format!(
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: 11\npersonType: 1\nsettings:\n{codes}  KEY: {{ secret: env:KEY }}\n"
    );
    std::fs::write(dir.path().join("m.yaml"), text).unwrap();
    let desired = crate::manifest::load(&[dir.path().join("m.yaml")]).unwrap();
    let values = DesiredValues::new(desired, |_| SecretCheck::Unreadable);
    let target = &values.targets[&Target {
        pay_system: 11,
        person_type: 1,
    }];
    assert_eq!(target.settings.len(), 21);
    assert_eq!(target.settings.capacity(), target.settings.len());
    assert_eq!(target.origins.capacity(), target.origins.len());
}

/// Regression (issue 23): a code the handler does not declare made one warning per
/// target (5,000 lines at 5,000 targets); it is one warning per code, naming a few.
#[test]
fn a_code_the_portal_does_not_return_is_one_warning_not_one_per_target() {
    let plain = |v: &str| Value::Plain {
        source: "VALUE".into(),
        value: v.into(),
    };
    let mut desired = DesiredValues::default();
    let mut live = Live::default();
    for ps in 1..=5u64 {
        let target = Target {
            pay_system: ps,
            person_type: 1,
        };
        let mut codes = vec![("CODE_A".into(), plain("a")), ("CODE_B".into(), plain("b"))];
        if ps == 1 {
            codes.push(("CODE_C".into(), plain("c")));
        }
        desired.targets.insert(
            target,
            DesiredTargetValues {
                settings: codes,
                ..Default::default()
            },
        );
        let returned: LiveSettings = [(
            "CODE_A",
            LiveSetting {
                source: Some("VALUE".into()),
                value: Some("a".into()),
                source_known: true,
            },
        )]
        .into_iter()
        .collect();
        live.targets.insert(target, returned);
    }
    let warnings = scope::not_returned(&desired, &live);
    assert_eq!(
        warnings,
        [
            "the portal did not return CODE_B for 5 targets (paySystem 1 / personType 1, \
             paySystem 2 / personType 1, paySystem 3 / personType 1, and 2 more); their handler \
             may not declare it, so drift cannot be checked",
            "paySystem 1 / personType 1: the portal did not return CODE_C; its handler may not \
             declare it, so drift cannot be checked",
        ]
    );
}

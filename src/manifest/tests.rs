//! Unit tests of manifest loading: the accepted forms, discovery, locations, and the
//! JSON Schema against the examples and the bad fixtures.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::model::{SOURCE_VALUE, Setting, SettingValue, Target};
use crate::secrets::SecretRef;

const HEADER: &str = "apiVersion: paysync/v1\nkind: PaySystemSettings\n";

/// Loads `text` as `m.yaml` in a fresh directory.
fn load_text(text: &str) -> (tempfile::TempDir, Result<Desired, Diagnostics>) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("m.yaml"), text).unwrap();
    let result = load(&[dir.path().join("m.yaml")]);
    (dir, result)
}

fn settings_of(body: &str) -> crate::model::SettingMap {
    let text = format!("{HEADER}paySystem: 11\npersonType: 1\nsettings:\n{body}");
    let (_dir, result) = load_text(&text);
    let desired = result.unwrap_or_else(|d| panic!("{:#?}", d.0));
    desired.targets[&Target {
        pay_system: 11,
        person_type: 1,
    }]
        .settings
        .clone()
}

fn plain(value: &str) -> Setting {
    Setting {
        source: SOURCE_VALUE.into(),
        value: SettingValue::Plain(value.into()),
    }
}

fn codes(result: &Result<Desired, Diagnostics>) -> Vec<(&'static str, usize, usize)> {
    let diagnostics = result.as_ref().expect_err("expected problems");
    diagnostics
        .0
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.origin.line as usize,
                d.origin.column as usize,
            )
        })
        .collect()
}

#[test]
fn shorthand_and_long_forms() {
    let settings = settings_of(
        "  A: REGULAR\n  B: { type: VALUE, value: X }\n  C: { value: Y }\n  D: { type: PAYMENT, value: ACCOUNT_NUMBER }\n  E: ''\n",
    );
    assert_eq!(settings["A"], plain("REGULAR"));
    assert_eq!(settings["B"], plain("X"));
    assert_eq!(settings["C"], plain("Y"));
    assert_eq!(
        settings["D"],
        Setting {
            source: "PAYMENT".into(),
            value: SettingValue::Plain("ACCOUNT_NUMBER".into())
        }
    );
    assert_eq!(settings["E"], plain(""));
}

#[test]
fn numbers_stay_as_written() {
    let settings = settings_of(
        "  A: 00412\n  B: \"00412\"\n  C: 412\n  D: { value: 00412 }\n  E: -5\n  F: 1_000\n  G: 0\n  H: 99999999999999999999\n",
    );
    assert_eq!(settings["A"], plain("00412"));
    assert_eq!(settings["B"], plain("00412"));
    assert_eq!(settings["C"], plain("412"));
    assert_eq!(settings["D"], plain("00412"));
    assert_eq!(settings["E"], plain("-5"));
    assert_eq!(settings["F"], plain("1_000"));
    assert_eq!(settings["G"], plain("0"));
    assert_eq!(settings["H"], plain("99999999999999999999"));
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    let settings =
        settings_of("  A: Y\n  B: N\n  C: on\n  D: off\n  E: yes\n  F: no\n  G: \"true\"\n");
    let values: Vec<_> = settings.values().cloned().collect();
    let expected: Vec<_> = ["Y", "N", "on", "off", "yes", "no", "true"]
        .map(plain)
        .into();
    assert_eq!(values, expected);
}

#[test]
fn secret_forms() {
    let text = format!(
        "{HEADER}paySystem: 11\npersonType: 1\nsettings:\n  A: {{ secret: env:ACME_KEY }}\n  B: {{ secret: 'file:keys/acme.txt' }}\n  C: {{ type: VALUE, secret: env:OTHER }}\n"
    );
    let (dir, result) = load_text(&text);
    let settings = &result.unwrap().targets[&Target {
        pay_system: 11,
        person_type: 1,
    }]
        .settings;
    let secret = |s: &Setting| match &s.value {
        SettingValue::Secret(secret) => (s.source.clone(), SecretRef::clone(secret)),
        other => panic!("not a secret: {other:?}"),
    };
    assert_eq!(
        secret(&settings["A"]),
        (
            SOURCE_VALUE.into(),
            SecretRef::Env {
                name: "ACME_KEY".into()
            }
        )
    );
    let file = SecretRef::File {
        written: "keys/acme.txt".into(),
        path: dir.path().join("keys/acme.txt"),
    };
    assert_eq!(secret(&settings["B"]), (SOURCE_VALUE.into(), file));
    assert_eq!(
        secret(&settings["C"]),
        (
            SOURCE_VALUE.into(),
            SecretRef::Env {
                name: "OTHER".into()
            }
        )
    );
}

#[test]
fn file_secrets_are_relative_to_a_relative_manifest() {
    // A manifest given as a bare file name: its directory is the current one.
    let result = validate_one(Path::new("acme.yaml"), "  A: { secret: file:k.txt }\n");
    let setting = &result.targets[&Target {
        pay_system: 11,
        person_type: 1,
    }]
        .settings["A"];
    let expected = SecretRef::File {
        written: "k.txt".into(),
        path: PathBuf::from("k.txt"),
    };
    assert_eq!(setting.value, SettingValue::Secret(Box::new(expected)));
}

/// Parses and validates settings as if they came from `file`, without touching disk.
fn validate_one(file: &Path, body: &str) -> Desired {
    let text = format!("{HEADER}paySystem: 11\npersonType: 1\nsettings:\n{body}");
    let parsed = yaml::parse(&text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let mut validator = validate::Validator::default();
    for document in parsed.documents {
        validator.declare(validate::check(&file.into(), document));
    }
    assert!(
        validator.diagnostics.is_empty(),
        "{:#?}",
        validator.diagnostics
    );
    validator.desired
}

#[test]
fn multiple_documents_and_origins() {
    let text = format!(
        "# two targets\n{HEADER}paySystem: 11\npersonType: 1\nsettings:\n  A: x\n  B: {{ value: y }}\n---\n{HEADER}paySystem: 12\npersonType: 0\nsettings: {{}}\n"
    );
    let (dir, result) = load_text(&text);
    let desired = result.unwrap();
    let file = dir.path().join("m.yaml");
    assert_eq!(desired.targets.len(), 2);
    let first = &desired.targets[&Target {
        pay_system: 11,
        person_type: 1,
    }];
    assert_eq!(
        first.origin,
        Origin {
            file: file.as_path().into(),
            line: 2,
            column: 1,
            len: 0,
        }
    );
    assert_eq!(
        *first.origin_of("A").unwrap(),
        Origin {
            file: file.as_path().into(),
            line: 7,
            column: 3,
            len: 1,
        }
    );
    assert_eq!(
        *first.origin_of("B").unwrap(),
        Origin {
            file: file.as_path().into(),
            line: 8,
            column: 3,
            len: 1,
        }
    );
    let second = &desired.targets[&Target {
        pay_system: 12,
        person_type: 0,
    }];
    assert_eq!(
        second.origin,
        Origin {
            file: file.into(),
            line: 10,
            column: 1,
            len: 0,
        }
    );
    assert!(
        second.settings.is_empty(),
        "an empty settings map declares a managed target with no codes"
    );
}

#[test]
fn directories_are_searched_recursively_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for file in [
        "b/2.yaml",
        "b/1.yml",
        "a.yaml",
        "z/deep/d.yaml",
        ".github/ci.yml",
        "b/.hidden.yaml",
        "notes.txt",
        "a-b.yaml",
    ] {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }
    let found = discover(&[
        root.to_path_buf(),
        root.join("a.yaml"),
        root.join("./b/1.yml"),
    ])
    .unwrap();
    let relative: Vec<_> = found
        .iter()
        .map(|p| normalized(p.strip_prefix(root).unwrap()))
        .collect();
    let expected: Vec<PathBuf> = ["a-b.yaml", "a.yaml", "b/1.yml", "b/2.yaml", "z/deep/d.yaml"]
        .map(PathBuf::from)
        .into();
    assert_eq!(relative, expected);
}

#[test]
fn relative_paths_stay_relative() {
    let found = discover(&[PathBuf::from("examples/manifests")]).unwrap();
    assert_eq!(
        found,
        [
            PathBuf::from("examples/manifests/acme-defaults.yaml"),
            PathBuf::from("examples/manifests/acme.yaml"),
            PathBuf::from("examples/manifests/acmepay.yaml")
        ]
    );
}

#[test]
fn missing_paths_and_empty_directories() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = discover(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(err.0[0].code, Code::NotFound);
    assert_eq!(*err.0[0].origin.file, *missing);
    let err = load(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(err.0[0].code, Code::NoManifests);
}

#[test]
fn problems_are_located_precisely() {
    let text = format!(
        "{HEADER}paySystem: 0\npersonType: 1\nsettings:\n  A: {{ type: VALUE, value: 4.12 }}\n  b: x\n  C: [1]\n  D: {{ value: x, secret: env:K }}\n  E:\n"
    );
    let (_dir, result) = load_text(&text);
    assert_eq!(
        codes(&result),
        [
            ("invalid-value", 3, 12),
            ("invalid-value", 6, 28),
            ("lowercase-code", 7, 3),
            ("invalid-value", 8, 6),
            ("conflicting-fields", 9, 18),
            ("invalid-value", 10, 4),
        ]
    );
}

#[test]
fn duplicate_targets_point_at_the_first() {
    let doc = format!("{HEADER}paySystem: 11\npersonType: 1\nsettings: {{}}\n");
    let (_dir, result) = load_text(&format!("{doc}---\n{doc}"));
    let diagnostics = result.unwrap_err();
    let [duplicate] = &diagnostics.0[..] else {
        panic!("{diagnostics:#?}")
    };
    assert_eq!(
        (
            duplicate.code,
            duplicate.origin.line,
            duplicate.origin.column
        ),
        (Code::DuplicateTarget, 9, 12)
    );
    assert_eq!(
        (duplicate.notes[0].0.line, duplicate.notes[0].0.column),
        (3, 12)
    );
}

#[test]
fn a_bad_document_does_not_hide_the_next() {
    let text = format!(
        "{HEADER}paySystem: 11\npersonType: 1\nbogus: 1\nsettings: {{}}\n---\n{HEADER}paySystem: 12\npersonType: 1\nsettings:\n  A: true\n"
    );
    let (_dir, result) = load_text(&text);
    assert_eq!(
        codes(&result),
        [("unknown-field", 5, 1), ("invalid-value", 13, 6)]
    );
}

/// YAML documents → JSON, as an editor with the schema would see them.
fn documents(path: &Path) -> Vec<serde_json::Value> {
    yaml::to_json(&fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn committed_schema() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string("schema/paysync.schema.json").unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn examples_load_and_match_the_committed_schema() {
    let schema = committed_schema();
    let examples = discover(&[PathBuf::from("examples/manifests")]).unwrap();
    assert!(!examples.is_empty());
    for example in &examples {
        let text = fs::read_to_string(example).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../../schema/paysync.schema.json\n"),
            "{}",
            example.display()
        );
        for document in documents(example) {
            let errors: Vec<String> = schema
                .iter_errors(&document)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", example.display());
        }
    }
    let desired = load(&examples).unwrap_or_else(|d| panic!("{:#?}", d.0));
    // Named portably: resolved on each portal.
    let acme = desired
        .pending
        .iter()
        .find(|t| t.reference.as_ref().unwrap().to_string() == "xmlId:acme_card_b2c/1")
        .unwrap();
    assert_eq!(acme.settings["REST_SERVICE_ID_IFRAME"], plain("00412"));
    assert!(matches!(
        acme.settings["REST_SERVICE_KEY_IFRAME"].value,
        SettingValue::Secret(ref r) if matches!(**r, SecretRef::Env { .. })
    ));
    assert_eq!(desired.pending.len(), 2);
    // The handler and the pay systems they run on.
    let handler = &desired.objects.handlers["acmepay"];
    assert_eq!(handler.codes.len(), 5);
    assert_eq!(
        handler.settings["CODES"]["PAYMENT_ID"]["DEFAULT"],
        serde_json::json!({"PROVIDER_KEY": "PAYMENT", "PROVIDER_VALUE": "ACCOUNT_NUMBER"})
    );
    let b2b = &desired.objects.pay_systems["acme_card_b2b"];
    assert_eq!(
        (b2b.handler.as_str(), b2b.registry_type.as_str()),
        ("acmepay", "ORDER")
    );
    assert_eq!(b2b.person_type, crate::model::PersonTypeRef::Id(2));
}

#[test]
fn the_schema_rejects_the_bad_fixtures_too() {
    let schema = committed_schema();
    // Problems the schema cannot see: YAML-level ones (a hex integer or a tagged value
    // reaches the schema as a plain number or string), and targets spread over files.
    let yaml_level = [
        "yaml-syntax",
        "tab-indent",
        "duplicate-key",
        "empty-file",
        "non-decimal-ids",
        "yaml-tags",
    ];
    for entry in fs::read_dir("tests/fixtures/manifests/bad").unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() || yaml_level.contains(&stem.as_str()) {
            continue;
        }
        let rejected = documents(&path)
            .iter()
            .any(|document| !schema.is_valid(document));
        assert!(rejected, "the schema accepts {}", path.display());
    }
}

#[test]
fn edge_cases_are_located() {
    let target = "paySystem: 11\npersonType: 1\n";
    type Case = (
        &'static str,
        String,
        &'static [(&'static str, usize, usize)],
    );
    let cases: [Case; 6] = [
        (
            "null settings",
            format!("{HEADER}{target}settings:\n"),
            &[("invalid-value", 5, 9)],
        ),
        (
            "merge key",
            format!("{HEADER}{target}settings:\n  <<: {{A: b}}\n"),
            &[("yaml-unsupported", 6, 3)],
        ),
        (
            "alias",
            format!("{HEADER}{target}settings:\n  A: &v \"0x10\"\n  B: &n 0x10\n  C: *n\n"),
            &[("invalid-value", 7, 9), ("invalid-value", 8, 6)],
        ),
        (
            "crlf",
            format!("{HEADER}{target}settings:\n  A: 1.5\n").replace('\n', "\r\n"),
            &[("invalid-value", 6, 6)],
        ),
        (
            "bom",
            format!("\u{feff}{HEADER}{target}settings:\n  a: x\n"),
            &[("lowercase-code", 6, 3)],
        ),
        (
            "empty mapping",
            "# nothing declared\n{}\n".to_owned(),
            &[("missing-field", 2, 1); 5],
        ),
    ];
    for (name, text, expected) in cases {
        let (_dir, result) = load_text(&text);
        assert_eq!(codes(&result), expected, "{name}");
    }
}

#[test]
fn alias_bombs_hit_the_budget() {
    let mut text = format!(
        "{HEADER}paySystem: 11\npersonType: 1\nsettings:\n  A: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    );
    for level in 1..8 {
        let previous = format!("*a{}", level - 1);
        text += &format!(
            "  A{level}: &a{level} [{}]\n",
            vec![previous; 10].join(", ")
        );
    }
    let (_dir, result) = load_text(&text);
    assert!(
        matches!(codes(&result)[..], [("yaml-limit", _, _)]),
        "{:?}",
        codes(&result)
    );
}

/// What `paysync import` writes reads back as the same settings, whatever the portal
/// sent: quotes, backslashes, line breaks, control and invisible characters, text YAML
/// would read as something else; and the file shows none of those characters raw.
#[test]
fn written_manifests_read_back_as_written() {
    let values = [
        "",
        "00412",
        "Y",
        "null",
        "1_000",
        "a: b # c",
        "  padded  ",
        "line\nbreak\r\n",
        "quote \" and \\ backslash",
        "bell \u{7} esc \u{1b}[31m del \u{7f} nel \u{85}",
        "bidi \u{202e}txet\u{202c} zero\u{200b}width \u{2028} bom \u{feff}",
        "- [x] {y} & *z !tag %",
        "Юникод 😀",
    ];
    let codes = ["Y", "NULL", "123", "A_B"];
    let mut documents = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut settings = BTreeMap::new();
        for (j, code) in codes.iter().enumerate() {
            let setting = match j % 3 {
                0 => NewSetting::Literal((*value).to_owned()),
                1 => NewSetting::Source {
                    source: "PAYMENT".into(),
                    value: (*value).to_owned(),
                },
                _ => NewSetting::Secret("env:ACME_KEY".into()),
            };
            settings.insert((*code).to_owned(), setting);
        }
        documents.push(NewDocument {
            reference: None,
            target: Target {
                pay_system: 11,
                person_type: i as u64,
            },
            settings,
        });
    }
    let header = [
        "a header with a\nline break and \u{1b}[2J".to_owned(),
        String::new(),
    ];
    let text = write_file(&header, &documents);
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && crate::untrusted::is_unsafe_char(c)),
        "{text}"
    );
    let (_dir, result) = load_text(&text);
    let desired = result.unwrap_or_else(|d| panic!("{:#?}\n{text}", d.0));
    for document in &documents {
        let read = &desired.targets[&document.target].settings;
        assert_eq!(read.len(), document.settings.len(), "{text}");
        for (code, written) in &document.settings {
            let expected = match written {
                NewSetting::Literal(value) => plain(value),
                NewSetting::Source { source, value } => Setting {
                    source: source.as_str().into(),
                    value: SettingValue::Plain(value.as_str().into()),
                },
                NewSetting::Secret(reference) => Setting {
                    source: SOURCE_VALUE.into(),
                    value: SettingValue::Secret(Box::new(
                        SecretRef::parse(reference, Path::new("m.yaml")).unwrap(),
                    )),
                },
            };
            assert_eq!(read[code], expected, "{code} in\n{text}");
        }
    }
}

//! Manifests from the user's side: every file of the bad-manifest corpus renders as a
//! reviewed snapshot of its diagnostics, problems in several files are reported together,
//! the examples load, and the committed JSON Schema matches the code.
//!
//! Paths are relative to the crate root (where cargo runs tests), as a user would type
//! them, so the snapshots are the same on every machine.

use std::path::PathBuf;

use paysync::manifest::{self, Diagnostics};
use paysync::render::diagnostics::render;

fn problems(paths: &[&str]) -> Diagnostics {
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    match manifest::load(&paths) {
        Ok(desired) => panic!("{paths:?} loaded without problems: {desired:#?}"),
        Err(diagnostics) => diagnostics,
    }
}

/// Loads `path`, checks that each expected code is among the diagnostics and that each
/// diagnostic is located, and snapshots the plain rendering.
fn check(name: &str, path: &str, codes: &[&str]) {
    let diagnostics = problems(&[path]);
    let rendered = render(&diagnostics, false);
    for diagnostic in &diagnostics.0 {
        assert!(
            diagnostic.origin.line >= 1 && diagnostic.origin.column >= 1,
            "not located: {diagnostic}"
        );
    }
    for code in codes {
        assert!(
            diagnostics.0.iter().any(|d| d.code.as_str() == *code),
            "no {code} in:\n{rendered}"
        );
    }
    insta::assert_snapshot!(name, rendered);
}

macro_rules! bad_manifests {
    ($($name:ident: $path:literal => $($code:literal),+;)*) => {$(
        #[test]
        fn $name() {
            check(stringify!($name), concat!("tests/fixtures/manifests/bad/", $path), &[$($code),+]);
        }
    )*};
}

bad_manifests! {
    yaml_syntax: "yaml-syntax.yaml" => "yaml-syntax";
    tab_indent: "tab-indent.yaml" => "tab-indent";
    unknown_field: "unknown-field.yaml" => "unknown-field";
    missing_settings: "missing-settings.yaml" => "missing-field";
    boolean_value: "boolean-value.yaml" => "invalid-value";
    float_value: "float-value.yaml" => "invalid-value";
    null_value: "null-value.yaml" => "invalid-value";
    list_value: "list-value.yaml" => "invalid-value";
    duplicate_key: "duplicate-key.yaml" => "duplicate-key";
    duplicate_target: "duplicate-target" => "duplicate-target";
    lowercase_code: "lowercase-code.yaml" => "lowercase-code";
    wrong_api_version: "wrong-api-version.yaml" => "wrong-api-version";
    wrong_kind: "wrong-kind.yaml" => "wrong-kind";
    non_integer_pay_system: "non-integer-pay-system.yaml" => "invalid-value";
    non_decimal_ids: "non-decimal-ids.yaml" => "invalid-value";
    yaml_tags: "yaml-tags.yaml" => "yaml-tag";
    bad_secret_ref: "bad-secret-ref.yaml" => "bad-secret-ref";
    empty_file: "empty-file.yaml" => "empty-file";
    many_problems: "many-problems.yaml" =>
        "invalid-value", "lowercase-code", "invalid-code", "unknown-field",
        "conflicting-fields", "duplicate-target";
}

#[test]
fn a_broken_file_does_not_hide_the_problems_of_others() {
    let diagnostics = problems(&[
        "tests/fixtures/manifests/bad/yaml-syntax.yaml",
        "tests/fixtures/manifests/bad/unknown-field.yaml",
        "tests/fixtures/manifests/does-not-exist.yaml",
    ]);
    let codes: Vec<&str> = diagnostics.0.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(
        codes,
        ["unknown-field", "yaml-syntax", "not-found"],
        "sorted by file"
    );
}

#[test]
fn the_whole_corpus_is_reported_at_once() {
    let diagnostics = problems(&["tests/fixtures/manifests/bad"]);
    let corpus = manifest::discover(&[PathBuf::from("tests/fixtures/manifests/bad")]).unwrap();
    for file in &corpus {
        let first_of_pair = file.ends_with("duplicate-target/a.yaml");
        assert!(
            first_of_pair || diagnostics.0.iter().any(|d| *d.origin.file == **file),
            "nothing reported for {}",
            file.display()
        );
    }
    let rendered = render(&diagnostics, false);
    let summary = rendered.lines().last().unwrap();
    let expected = format!(
        "{} problems found in {} files",
        diagnostics.0.len(),
        diagnostics.file_count()
    );
    assert!(
        summary.starts_with("error: ") && summary.contains(&expected),
        "{summary}"
    );
}

#[test]
fn examples_load() {
    let desired = manifest::load(&[PathBuf::from("examples/manifests")])
        .unwrap_or_else(|d| panic!("{}", render(&d, false)));
    assert_eq!(desired.targets.len(), 2);
}

#[test]
fn committed_schema_is_up_to_date() {
    let generated = serde_json::to_string_pretty(&manifest::json_schema()).unwrap() + "\n";
    let committed = std::fs::read_to_string("schema/paysync.schema.json").unwrap_or_default();
    assert!(
        committed == generated,
        "schema/paysync.schema.json differs from the schema the code generates; \
         regenerate it with `cargo run -- schema > schema/paysync.schema.json` and commit it"
    );
}

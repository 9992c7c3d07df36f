//! Manifests from the user's side: every file of the bad-manifest corpus renders as a
//! reviewed snapshot of its diagnostics, problems in several files are reported together,
//! the examples load, and the committed JSON Schema matches the code. Strict inputs
//! (issue 7.9): what a manifest may say is exactly what its reader expects; anything else
//! is a located error (exit 3) through every command, never guessed at or skipped.
//!
//! Paths are relative to the crate root (where cargo runs tests), as a user would type
//! them, so the snapshots are the same on every machine.

use std::path::PathBuf;

use paysync::manifest::{self, Diagnostics};
use paysync::render::diagnostics::render;

use crate::support::World;

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
    // Named by XML_ID: resolved on each portal (or from the state).
    assert_eq!(desired.pending.len(), 2);
    assert_eq!(desired.objects.handlers.len(), 1);
    assert_eq!(desired.objects.pay_systems.len(), 2);
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

/// Regression (issue 7.9): a dangling or looping symlink in a manifest directory used to be
/// skipped silently, turning its targets into "no longer managed".
#[cfg(unix)]
#[test]
fn a_dangling_or_looping_symlink_in_a_manifest_directory_is_a_located_error() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    w.write(
        "m/ok.yaml",
        &crate::support::manifest(11, 1, &[("PAYMENT_ID", "x")]),
    );
    symlink("gone.yaml", w.path("m/dangling.yaml")).unwrap();
    symlink("loop-b.yaml", w.path("m/loop-a.yaml")).unwrap();
    symlink("loop-a.yaml", w.path("m/loop-b.yaml")).unwrap();
    // Links that work are read; links to directories are not followed.
    w.write(
        "elsewhere/linked.yaml",
        &crate::support::manifest(12, 0, &[("PAYMENT_ID", "y")]),
    );
    symlink("../elsewhere/linked.yaml", w.path("m/linked.yaml")).unwrap();
    symlink("../elsewhere", w.path("m/dir-link")).unwrap();
    let out = w.run(&["validate", "m"]);
    out.expect_code(3);
    for (path, why) in [
        ("m/dangling.yaml", "a symlink to nothing"),
        ("m/loop-a.yaml", "a symlink that cannot be followed"),
        ("m/loop-b.yaml", "a symlink that cannot be followed"),
    ] {
        assert!(
            out.stderr.contains(&format!("--> {path}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("{path} is {why}")),
            "{}",
            out.stderr
        );
    }
    std::fs::remove_file(w.path("m/dangling.yaml")).unwrap();
    std::fs::remove_file(w.path("m/loop-a.yaml")).unwrap();
    std::fs::remove_file(w.path("m/loop-b.yaml")).unwrap();
    let out = w.run(&["validate", "m"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Valid: 2 targets"), "{}", out.stdout);
}

/// Regression (issue 7.9): `paySystem: 0x65` was taken as pay system 101, and a
/// `!!binary` value was decoded silently; both are now exit 3 with their location, and
/// nothing is sent.
#[test]
fn non_decimal_ids_and_yaml_tags_are_located_errors_through_every_command() {
    let w = World::new();
    w.write(
        "hex/m.yaml",
        &crate::support::manifest(11, 1, &[("PAYMENT_ID", "x")])
            .replace("paySystem: 11", "paySystem: 0x65"),
    );
    w.write(
        "tag/m.yaml",
        &crate::support::manifest(11, 1, &[("PAYMENT_ID", "x")])
            .replace("PAYMENT_ID: \"x\"", "PAYMENT_ID: !!binary eA=="),
    );
    for (dir, place, what) in [
        ("hex", "hex/m.yaml:3:12", "found `0x65`"),
        (
            "tag",
            "tag/m.yaml:6:15",
            "YAML tag `!!binary` is not allowed",
        ),
    ] {
        for command in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
            let mut args = command.to_vec();
            args.push(dir);
            let out = w.run(&args);
            out.expect_code(3);
            assert!(
                out.stderr.contains(&format!("--> {place}")),
                "{}",
                out.stderr
            );
            assert!(out.stderr.contains(what), "{}", out.stderr);
        }
    }
    assert!(w.requests().is_empty());
}

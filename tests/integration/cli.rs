//! The command line as a user meets it: exit codes, the bundled example, bad input.

use crate::support::{World, manifest, repo_root};

#[test]
fn usage_errors_do_not_collide_with_changes_present() {
    let w = World::new();
    w.run(&["plan", "--no-such-flag"]).expect_code(64);
    w.run(&["frobnicate"]).expect_code(64);
    w.run(&["--help"]).expect_code(0);
    w.run(&["--version"]).expect_code(0);
}

#[test]
fn every_flag_has_help_text() {
    let w = World::new();
    for sub in ["validate", "plan", "apply", "schema"] {
        let out = w.run(&[sub, "-h"]);
        out.expect_code(0);
        for line in out
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("--"))
        {
            let text = line.trim();
            assert!(
                text.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2,
                "`paysync {sub} --help`: flag without help: {line}"
            );
        }
    }
}

#[test]
fn apply_without_a_terminal_needs_approval_and_sends_nothing() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w.run(&["apply", "m.yaml"]);
    out.expect_code(1);
    assert!(out.stderr.contains("--auto-approve"), "{}", out.stderr);
    assert!(w.requests().is_empty());
}

#[test]
fn plan_on_the_bundled_example_is_offline_and_shows_additions_and_changes() {
    let w = World::new();
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .current_dir(repo_root())
        .args([
            "plan",
            "--state",
            "examples/paysync.state.json",
            "examples/manifests",
        ])
        .run();
    assert_eq!(out.code, 0);
    let stdout = out.stdout.as_str();
    assert!(stdout.contains("\n  + "), "{stdout}");
    assert!(stdout.contains("\n  ~ "), "{stdout}");
    assert!(stdout.contains("Plan: "), "{stdout}");
}

#[test]
fn bad_manifests_fail_with_locations_and_send_nothing() {
    let w = World::new();
    let bad = repo_root().join("tests/fixtures/manifests/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "the corpus has {} cases", cases.len());
    for case in cases {
        let case = case.to_str().unwrap();
        for args in [
            vec!["validate", case],
            vec!["plan", case],
            vec!["apply", "--auto-approve", case],
        ] {
            let out = w.run(&args);
            out.expect_code(3);
            let has_location = out.stderr.lines().any(|l| {
                l.contains("-->")
                    && l.rsplit(':')
                        .take(2)
                        .all(|n| n.trim().parse::<usize>().is_ok())
            });
            assert!(
                has_location,
                "{args:?}: no file:line:col in\n{}",
                out.stderr
            );
        }
    }
    assert!(w.requests().is_empty(), "bad input reached the portal");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let w = World::new();
    let out = w.run(&["schema"]);
    out.expect_code(0);
    let committed =
        std::fs::read_to_string(repo_root().join("schema/paysync.schema.json")).unwrap();
    assert_eq!(
        out.stdout, committed,
        "run `cargo run -- schema > schema/paysync.schema.json`"
    );
}

#[test]
fn output_has_no_escape_codes_without_a_terminal() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w
        .cmd()
        .env_remove("NO_COLOR")
        .args(["plan", "m.yaml"])
        .run();
    assert!(!out.stdout.contains('\x1b') && !out.stderr.contains('\x1b'));
}

//! `--log-format json`: every line on stderr is a JSON object — logs, errors, manifest
//! diagnostics, the report of an incomplete apply, usage errors — so a log collector
//! reads all of it.

use paysync_emulator::Fault;

use crate::support::{Outcome, World, manifest};

#[track_caller]
fn every_line_is_json(out: &Outcome) -> Vec<serde_json::Value> {
    assert!(!out.stderr.trim().is_empty(), "stderr is empty");
    out.stderr
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n--- stderr\n{}", out.stderr));
            assert!(v["level"].is_string() && v["message"].is_string(), "{v}");
            v
        })
        .collect()
}

#[test]
fn a_failing_apply_a_bad_manifest_and_a_usage_error_log_only_json() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &format!(
            "{}---\n{}",
            manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
            manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")])
        ),
    );
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let out = w.run(&["--log-format", "json", "apply", "--auto-approve", "m"]);
    out.expect_code(6);
    let lines = every_line_is_json(&out);
    let report = lines
        .iter()
        .find(|l| l["failed"].is_array())
        .expect("the apply report as an object");
    assert_eq!(report["failed"][0], "paySystem 12 / personType 0");
    assert_eq!(report["applied"][0], "paySystem 11 / personType 1");
    assert!(lines.iter().any(|l| l["exit_code"] == 6), "{}", out.stderr);

    w.write(
        "bad/a.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\nsetings: {}\n",
    );
    let out = w.run(&["--log-format", "json", "plan", "bad"]);
    out.expect_code(3);
    let lines = every_line_is_json(&out);
    assert!(
        lines
            .iter()
            .any(|l| l["code"] == "unknown-field" && l["line"] == 3)
    );

    let out = w.run(&["--log-format", "json", "plan", "--no-such-flag"]);
    out.expect_code(64);
    let lines = every_line_is_json(&out);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );

    // The environment variable asks for it too.
    let out = w
        .cmd()
        .env("PAYSYNC_LOG_FORMAT", "json")
        .args(["plan", "--no-such-flag"])
        .run();
    out.expect_code(64);
    every_line_is_json(&out);
}

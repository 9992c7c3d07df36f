//! Terminal and CI manners: no escape codes off a terminal or with `NO_COLOR`, plain
//! progress lines off a terminal, `--log-format json`, shell completions and the man page.
//!
//! Colour precedence (anstream's, documented in the README): `--no-color` and `NO_COLOR`
//! always win; `CLICOLOR_FORCE` forces colour only when neither is given.

use crate::support::{Cmd, Outcome, World, manifest};

const ESC: char = '\u{1b}';

/// Two targets with plain settings, under `manifests/`.
fn world() -> World {
    let w = World::new();
    w.write(
        "manifests/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.write(
        "manifests/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.write(
        "bad/many.yaml",
        &std::fs::read_to_string(
            crate::support::repo_root().join("tests/fixtures/manifests/bad/many-problems.yaml"),
        )
        .unwrap(),
    );
    w
}

/// Runs paysync without a terminal (pipes) with exactly the colour variables given.
fn run_env(w: &World, env: &[(&str, &str)], args: &[&str]) -> Outcome {
    [
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "PAYSYNC_LOG_FORMAT",
    ]
    .into_iter()
    .fold(w.cmd(), Cmd::env_remove)
    .envs(env.iter().copied())
    .args(args)
    .run()
}

#[track_caller]
fn assert_no_escapes(o: &Outcome, what: &str) {
    assert!(
        !o.stdout.contains(ESC) && !o.stderr.contains(ESC),
        "escape codes in {what}\n--- stdout\n{:?}\n--- stderr\n{:?}",
        o.stdout,
        o.stderr
    );
}

/// plan, apply (with refresh, so both progress paths run) and validate with errors.
fn every_command(w: &World, env: &[(&str, &str)], label: &str) {
    let state = format!("{label}.state.json");
    let plan = run_env(
        w,
        env,
        &["plan", "--refresh", "--state", &state, "manifests"],
    );
    plan.expect_code(0);
    assert_no_escapes(&plan, &format!("plan ({label})"));
    let apply = run_env(
        w,
        env,
        &[
            "-v",
            "apply",
            "--auto-approve",
            "--refresh",
            "--state",
            &state,
            "manifests",
        ],
    );
    apply.expect_code(0);
    assert_no_escapes(&apply, &format!("apply ({label})"));
    let validate = run_env(w, env, &["validate", "bad"]);
    validate.expect_code(3);
    assert_no_escapes(&validate, &format!("validate ({label})"));
}

#[test]
fn no_escape_codes_without_a_terminal() {
    every_command(&world(), &[], "plain");
}

#[test]
fn no_escape_codes_with_no_color() {
    every_command(&world(), &[("NO_COLOR", "1")], "no-color");
}

#[test]
fn no_color_wins_over_clicolor_force() {
    every_command(
        &world(),
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
        "no-color-and-force",
    );
}

#[test]
fn no_color_flag_wins_over_clicolor_force() {
    let w = world();
    let o = run_env(
        &w,
        &[("CLICOLOR_FORCE", "1")],
        &["--no-color", "validate", "bad"],
    );
    o.expect_code(3);
    assert_no_escapes(&o, "validate --no-color with CLICOLOR_FORCE");
}

#[test]
fn clicolor_force_alone_colours_diagnostics() {
    // The control for the tests above: colour is really there to be turned off.
    let w = world();
    let o = run_env(&w, &[("CLICOLOR_FORCE", "1")], &["validate", "bad"]);
    o.expect_code(3);
    assert!(o.stderr.contains(ESC), "{:?}", o.stderr);
}

#[test]
fn apply_without_a_terminal_prints_one_plain_progress_line_per_batch() {
    let w = world();
    let o = run_env(&w, &[], &["apply", "--auto-approve", "manifests"]);
    o.expect_code(0);
    let lines: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains("batch 1/"))
        .collect();
    assert_eq!(
        lines,
        ["sent batch 1/1 (2 targets): 2 confirmed"],
        "{}",
        o.stderr
    );
}

#[test]
fn quiet_apply_prints_no_progress() {
    let w = world();
    let o = run_env(&w, &[], &["-q", "apply", "--auto-approve", "manifests"]);
    o.expect_code(0);
    assert!(!o.stderr.contains("sent batch"), "{}", o.stderr);
}

fn webhook_secret(w: &World) -> String {
    let url = w.portal.webhook_url();
    let secret = url.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(secret.len() >= 8, "unexpected webhook URL {url}");
    secret.to_owned()
}

/// Every stderr line is a JSON object with a level and a message.
#[track_caller]
fn assert_json_logs(o: &Outcome) -> usize {
    let mut n = 0;
    for line in o.stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}\n{}", o.stderr));
        assert!(v.is_object(), "{line}");
        assert!(v.get("level").is_some(), "no level: {line}");
        assert!(v.get("message").is_some(), "no message: {line}");
        n += 1;
    }
    n
}

#[test]
fn log_format_json_writes_one_object_per_line_without_secrets() {
    let w = world();
    let secret = webhook_secret(&w);
    let plan = run_env(
        &w,
        &[],
        &[
            "-v",
            "--log-format",
            "json",
            "plan",
            "--refresh",
            "manifests",
        ],
    );
    plan.expect_code(0);
    assert!(assert_json_logs(&plan) > 0, "no log lines: {}", plan.stderr);
    // The plan itself goes to stdout, as text.
    assert!(
        plan.stdout.contains("PS_WORK_MODE_IFRAME"),
        "{}",
        plan.stdout
    );

    // From the environment too; apply's progress is its JSON log events, not plain lines.
    let apply = run_env(
        &w,
        &[("PAYSYNC_LOG_FORMAT", "json")],
        &["-vv", "apply", "--auto-approve", "--refresh", "manifests"],
    );
    apply.expect_code(0);
    assert!(
        assert_json_logs(&apply) > 0,
        "no log lines: {}",
        apply.stderr
    );

    for o in [&plan, &apply] {
        assert!(!o.stdout.contains(&secret) && !o.stderr.contains(&secret));
        assert_no_escapes(o, "json logs");
    }
}

#[test]
fn completions_for_bash_name_paysync_and_its_subcommands() {
    let w = World::new();
    let o = w.run(&["completions", "bash"]);
    o.expect_code(0);
    for word in [
        "paysync",
        "plan",
        "apply",
        "validate",
        "schema",
        "completions",
    ] {
        assert!(o.stdout.contains(word), "{word} missing");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = w.run(&["completions", shell]);
        o.expect_code(0);
        assert!(o.stdout.contains("paysync"), "{shell}");
    }
}

#[test]
fn completions_without_a_shell_is_a_usage_error() {
    World::new().run(&["completions"]).expect_code(64);
}

#[test]
fn man_page_is_roff_naming_the_commands() {
    let o = World::new().run(&["man"]);
    o.expect_code(0);
    assert!(o.stdout.contains(".TH"), "{}", o.stdout);
    assert!(o.stdout.contains("plan"), "{}", o.stdout);
    assert!(o.stdout.contains("apply"), "{}", o.stdout);
}

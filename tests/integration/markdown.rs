//! The pull-request plan through the binary: `--format markdown`, and the copy appended to
//! `$GITHUB_STEP_SUMMARY` whatever the format. (The layout, escaping and size budget are
//! snapshot-tested in `src/render/plan_markdown.rs`.)

use paysync::render::plan_markdown::{GITHUB_COMMENT_LIMIT, MARKER};

use crate::support::{CANARY, Manifest, World, acme_with_secret, manifest};

#[test]
fn markdown_plan_shows_a_changed_secret_by_reference_only() {
    let w = World::new();
    w.write("m/acme.yaml", &acme_with_secret().text());
    let applied = w
        .cmd()
        .env("ACME_KEY", CANARY)
        .args(["apply", "--auto-approve", "m"])
        .run();
    assert_eq!(applied.code, 0, "{applied:?}");
    w.write(
        "m/acme.yaml",
        &acme_with_secret().text().replace("REGULAR", "TEST<br>|`x`"),
    );
    let out = w
        .cmd()
        .env("ACME_KEY", format!("{CANARY}-v2"))
        .args(["plan", "--format", "markdown", "--detailed-exitcode", "m"])
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    let md = out.stdout;
    let stderr = out.stderr.as_str();
    assert!(md.starts_with(&format!("{MARKER}\n")), "{md}");
    assert!(
        md.contains("**Plan: 1 target to change, 2 settings (0 to add, 2 to change).**"),
        "{md}"
    );
    assert!(
        md.contains("| to change | 2 | 1 |\n| of which secrets | 1 | 1 |\n"),
        "{md}"
    );
    // The changed secret and the mode lead, with where they are declared.
    assert!(
        md.contains("<code>REST&#95;SERVICE&#95;KEY&#95;IFRAME</code>: secret changes: <code>env&#58;ACME&#95;KEY</code> (<code>m/acme.yaml&#58;7</code>)"),
        "{md}"
    );
    assert!(
        md.contains("! REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)"),
        "{md}"
    );
    assert!(
        md.contains("! PS_WORK_MODE_IFRAME: \"REGULAR\" -> \"TEST<br>|`x`\""),
        "{md}"
    );
    assert!(
        md.contains(
            "<details><summary>paySystem 11 / personType 1: 2 need attention, 2 to change \
             (m/acme.yaml&#58;1)</summary>"
        ),
        "{md}"
    );
    assert!(!md.contains(CANARY) && !stderr.contains(CANARY));
    assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT);
}

#[test]
fn plan_appends_the_markdown_to_the_github_step_summary_whatever_the_format() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let summary = w.write("summary.md", "## An earlier step\n");
    for format in ["text", "json"] {
        let out = w
            .cmd()
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["plan", "--format", format, "m.yaml"])
            .run();
        assert_eq!(out.code, 0, "{out:?}");
        let stdout = out.stdout;
        assert!(
            !stdout.contains(MARKER),
            "stdout keeps its format: {stdout}"
        );
    }
    let written = w.read("summary.md");
    assert!(
        written.starts_with("## An earlier step\n\n<!-- paysync-plan -->\n"),
        "appended, not overwritten: {written}"
    );
    assert_eq!(written.matches(MARKER).count(), 2, "{written}");
    assert_eq!(
        written
            .matches("**Plan: 1 target to change, 1 setting (1 to add, 0 to change).**")
            .count(),
        2,
        "{written}"
    );
    assert!(w.requests().is_empty());
}

#[test]
fn an_unwritable_step_summary_is_a_warning_not_a_failed_plan() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    // A directory cannot be opened for appending.
    std::fs::create_dir(w.path("summary-dir")).unwrap();
    let out = w
        .cmd()
        .env("GITHUB_STEP_SUMMARY", w.path("summary-dir"))
        .args(["plan", "--detailed-exitcode", "m.yaml"])
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    let stderr = out.stderr.as_str();
    assert!(stderr.contains("GITHUB_STEP_SUMMARY"), "{stderr}");
}

/// In CI the header names the commit and links the run (GitHub Actions' variables), and
/// the portal by its host only: never the webhook path or code.
#[test]
fn the_header_names_version_portal_host_commit_and_run_and_never_the_webhook_code() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &Manifest::new()
            .target(11, 1)
            .literal("PS_WORK_MODE_IFRAME", "REGULAR")
            .text(),
    );
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    w.write(
        "m/acme.yaml",
        &Manifest::new()
            .target(11, 1)
            .literal("PS_WORK_MODE_IFRAME", "TEST")
            .text(),
    );
    let out = w
        .cmd()
        .env("GITHUB_SHA", "3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_RUN_ID", "42")
        .args(["plan", "--format", "markdown", "m"])
        .run();
    let md = out.stdout;
    let header = md.lines().nth(2).unwrap();
    let host = w
        .portal
        .base_url()
        .replace("http://", "")
        .replace(':', "&#58;");
    assert_eq!(
        header,
        format!(
            "<sub>paysync {} · portal <code>{host}</code> · commit <code>3f9c2d1e8b7a</code> · \
             [CI run](https://github.com/acme/shop/actions/runs/42) · compared with the \
             last-applied state (changes made outside paysync: `--refresh`)</sub>",
            env!("CARGO_PKG_VERSION")
        )
    );
    let webhook = w.portal.webhook_url();
    let code = webhook.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(!md.contains(code), "{md}");
    // JSON names the same.
    let json: serde_json::Value = serde_json::from_str(
        &w.cmd()
            .env("GITHUB_SHA", "3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1")
            .args(["plan", "--format", "json", "m"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["commit"], "3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1");
    assert_eq!(json["portal"], w.portal.base_url());
}

/// Issue 23.2: apply writes what it did to the job summary, and annotates each target the
/// portal refused at its manifest; no secret reaches either.
#[test]
fn apply_writes_its_outcome_to_the_job_summary_and_annotates_failed_targets() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &acme_with_secret()
            .target(12, 0)
            .literal("PS_CHANGE_STATUS_PAY", "Y")
            .text(),
    );
    w.portal.inject(
        paysync_emulator::Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let summary = w.write("summary.md", "");
    let out = w
        .cmd()
        .env("ACME_KEY", CANARY)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_ACTIONS", "true")
        .args(["apply", "--auto-approve", "m"])
        .run();
    out.expect_code(6);
    let written = w.read("summary.md");
    assert!(
        written.starts_with("<!-- paysync-apply -->\n### paysync apply: incomplete\n"),
        "{written}"
    );
    assert!(
        written.contains("**1 target applied (") && written.contains(", 1 failed; "),
        "{written}"
    );
    assert!(written.contains("#### Failed (1)"), "{written}");
    assert!(
        written.contains("**paySystem 12 / personType 0**: <code>ACCESS&#95;DENIED</code>"),
        "{written}"
    );
    assert!(
        written.contains("<details><summary>Applied: 1 target</summary>"),
        "{written}"
    );
    let annotation = out
        .stderr
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation:\n{}", out.stderr));
    assert!(
        annotation.starts_with("::error file=m/acme.yaml,line=")
            && annotation.contains(",title=paysync apply::paySystem 12 / personType 0: the portal refused the settings: ACCESS_DENIED: Access denied"),
        "{annotation}"
    );
    for text in [&written, &out.stdout, &out.stderr] {
        assert!(!text.contains(CANARY), "{text}");
    }
}

//! An untrusted portal (or a proxy in front of it): what it sends is untrusted. Error
//! descriptions that quote the request, live values and names with terminal control
//! characters: no secret reaches any output, state or plan, and nothing from the portal
//! reaches a terminal raw (issue 7.2).

use paysync_emulator::{Fault, OAuthTokenSeed, PaySystemSeed, Seed};

use crate::support::{CANARY, World};

const HOOK_CANARY: &str = "CANARYHOOKe1a9d07";
const TOKEN_CANARY: &str = "CANARY-token-5d2e81";

use crate::support::secrets_manifest;

fn assert_clean(what: &str, text: &str) {
    for secret in [CANARY, HOOK_CANARY, TOKEN_CANARY] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into {what}:\n{text}"
        );
    }
}

/// Runs paysync at trace level with the given log format; returns (code, stdout + stderr).
fn run_traced(w: &World, log_format: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = w
        .cmd()
        .env("RUST_LOG", "trace")
        .env("ACME_KEY", CANARY)
        .args(["-vv", "--log-format", log_format])
        .envs(env.iter().copied())
        .args(args)
        .run();
    (out.code, format!("{}\n{}", out.stdout, out.stderr))
}

/// Regression (issue 7.2): a portal error that quotes the request (setting values in the
/// batch commands, the webhook code in the path) used to print both at default verbosity.
#[test]
fn an_error_quoting_the_request_leaks_no_secret_through_a_webhook() {
    let w = World::with_seed(crate::seeds::with_webhook_code(HOOK_CANARY));
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", &format!("{CANARY}-file\n"));
    for log_format in ["text", "json"] {
        w.portal.clear_faults();
        w.portal
            .inject(Fault::echo_request("ERROR_CHECK_FAILURE", 400).method("batch"));
        let (code, text) = run_traced(&w, log_format, &[], &["apply", "--auto-approve", "m"]);
        assert_eq!(code, 1, "{text}");
        // The error is shown, scrubbed: the portal's code and the quoted request.
        assert!(text.contains("ERROR_CHECK_FAILURE"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert_clean(&format!("apply output ({log_format} logs)"), &text);
        // The same with a refresh (settings.get) and a saved plan.
        let (code, text) = run_traced(
            &w,
            log_format,
            &[],
            &["plan", "--refresh", "--out", "plan.json", "m"],
        );
        assert_eq!(code, 1, "{text}");
        assert_clean(&format!("plan --refresh output ({log_format} logs)"), &text);
    }
    // Proof that the portal really echoed them: its request log has the values.
    assert!(
        w.portal
            .requests()
            .iter()
            .any(|r| r.params.to_string().contains(CANARY)),
    );
    assert!(!w.path("plan.json").exists());
    assert_clean("state file", &w.read("paysync.state.json"));
}

/// Regression (issue 7.2): a live value that holds a secret (a key pasted into the wrong
/// field, a callback URL with the webhook code) is scrubbed from the plan in every format
/// and from the saved plan.
#[test]
fn a_live_value_holding_a_secret_is_scrubbed_from_plans_and_saved_plans() {
    let w = World::with_seed(crate::seeds::with_webhook_code(HOOK_CANARY));
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", &format!("{CANARY}-file\n"));
    let (code, text) = run_traced(&w, "text", &[], &["apply", "--auto-approve", "m"]);
    assert_eq!(code, 0, "{text}");
    w.portal.set_setting(
        11,
        1,
        "PS_WORK_MODE_IFRAME",
        "VALUE",
        &format!("key={CANARY} hook=/rest/1/{HOOK_CANARY}/"),
    );
    for format in ["text", "json", "markdown"] {
        let (code, text) = run_traced(
            &w,
            "json",
            &[],
            &[
                "plan",
                "--refresh",
                "--format",
                format,
                "--out",
                "p.json",
                "m",
            ],
        );
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert_clean(&format!("plan --refresh --format {format}"), &text);
        assert_clean("saved plan", &w.read("p.json"));
    }
    let (code, text) = run_traced(&w, "text", &[], &["drift", "--format", "json"]);
    assert_eq!(code, 7, "{text}");
    assert_clean("drift", &text);
}

/// Regression (issue 7.2): the same for an OAuth `auth` token in the request body.
#[test]
fn an_error_quoting_the_request_leaks_no_oauth_token() {
    let mut seed = Seed::demo();
    seed.oauth_tokens.push(OAuthTokenSeed::new(TOKEN_CANARY));
    let w = World::with_seed(seed);
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", &format!("{CANARY}-file\n"));
    let oauth = [
        ("PAYSYNC_WEBHOOK_URL", ""),
        ("PAYSYNC_PORTAL_URL", &w.portal.base_url()),
        ("PAYSYNC_ACCESS_TOKEN", TOKEN_CANARY),
    ];
    for log_format in ["text", "json"] {
        w.portal.clear_faults();
        w.portal
            .inject(Fault::echo_request("ACCESS_DENIED", 403).method("batch"));
        let (code, text) = run_traced(&w, log_format, &oauth, &["apply", "--auto-approve", "m"]);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("ACCESS_DENIED"), "{text}");
        assert_clean(&format!("apply output ({log_format} logs)"), &text);
    }
    assert!(
        w.portal
            .requests()
            .iter()
            .all(|r| !r.params.to_string().contains(TOKEN_CANARY)),
        "the emulator's log keeps no token"
    );
    assert_clean("state file", &w.read("paysync.state.json"));
}

/// Whether text holds a byte that must not reach a terminal from the portal.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && (c.is_control() || c == '\u{202e}'))
        .collect()
}

const HOSTILE: &str = "x\u{1b}[2J\u{7}\r\nNo changes.\u{202e}";

/// Regression (issue 7.2): live values with ESC, BEL, CR and LF, and a pay-system name
/// with them, reach no terminal raw and cannot forge a line such as "No changes.".
#[test]
fn live_values_and_names_with_control_characters_are_escaped() {
    let mut seed = Seed::demo();
    for p in &mut seed.pay_systems {
        if p.id == 12 {
            p.name = format!("Evil{HOSTILE}");
        }
    }
    seed.pay_systems.push(PaySystemSeed {
        id: 13,
        name: format!("Cash{HOSTILE}"),
        action_file: "cash".into(),
        ..seed.pay_systems[0].clone()
    });
    let w = World::with_seed(seed);
    w.write(
        "m/acme.yaml",
        &crate::support::manifest(11, 1, &[("REST_SERVICE_ID_IFRAME", "00412")]),
    );
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    w.portal
        .set_setting(11, 1, "REST_SERVICE_ID_IFRAME", "VALUE", HOSTILE);
    w.portal
        .set_setting(12, 0, "REST_SERVICE_ID_IFRAME", "VALUE", HOSTILE);
    w.portal
        .set_setting(12, 0, "PAYMENT_ID", &format!("P{HOSTILE}"), HOSTILE);

    let forged = |text: &str| text.lines().any(|l| l.trim() == "No changes.");
    for args in [&["plan", "--refresh", "m"][..], &["drift"]] {
        let out = w.run(args);
        assert!(out.code == 0 || out.code == 7, "{args:?}: {out:?}");
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert_eq!(
                raw_controls(text),
                Vec::<char>::new(),
                "{args:?} {stream}:\n{text}"
            );
            assert!(!forged(text), "{args:?} {stream}:\n{text}");
        }
        assert!(
            out.stdout.contains("\\u001b[2J\\u0007\\r\\nNo changes."),
            "{}",
            out.stdout
        );
    }
    // JSON keeps the exact value, JSON-escaped.
    let json = w.run(&["plan", "--refresh", "--format", "json", "m"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        doc["targets"][0]["changes"][0]["before"]["value"], HOSTILE,
        "{}",
        json.stdout
    );

    // Import: the report and the files.
    let out = w.run(&["import", "--all", "--out", "imported"]);
    out.expect_code(0);
    assert_eq!(
        raw_controls(&out.stdout),
        Vec::<char>::new(),
        "{}",
        out.stdout
    );
    assert_eq!(
        raw_controls(&out.stderr),
        Vec::<char>::new(),
        "{}",
        out.stderr
    );
    let file = w.read("imported/paysystem-12.yaml");
    assert_eq!(raw_controls(&file), Vec::<char>::new(), "{file}");
    assert!(!forged(&file), "{file}");
    // ... and what was imported reads back exactly.
    let back = w.run(&["plan", "--refresh", "imported"]);
    back.expect_code(0);
    assert!(!back.stdout.contains("\u{1b}"), "{}", back.stdout);

    // A name in a live-validation message.
    w.write(
        "bad/cash.yaml",
        &crate::support::manifest(13, 0, &[("X", "1")]),
    );
    let out = w.run(&["validate", "--live", "bad"]);
    out.expect_code(3);
    assert!(out.stderr.contains("built-in"), "{}", out.stderr);
    assert_eq!(
        raw_controls(&out.stderr),
        Vec::<char>::new(),
        "{}",
        out.stderr
    );
    assert!(!forged(&out.stderr), "{}", out.stderr);
}

/// Regression (issue 7.2): a description as long as the portal likes is cut.
#[test]
fn a_huge_error_description_is_cut() {
    let w = World::new();
    w.write(
        "m.yaml",
        &crate::support::manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.inject(Fault::request_error(
        "ACCESS_DENIED",
        403,
        "y".repeat(200_000),
    ));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(out.stderr.len() < 10_000, "{} bytes", out.stderr.len());
    assert!(out.stderr.contains("more characters)"), "{}", out.stderr);
}

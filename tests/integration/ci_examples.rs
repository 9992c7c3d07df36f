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
//! - `$NAME`, `${NAME}` and `${{ ... }}` are expanded, also inside a word
//!   (`plan-${{ matrix.env }}.json`), from the workflow's own top-level `env:` /
//!   `variables:` and the job's matrix; any other expansion fails the test (keep the
//!   examples literal, or add the variable there);
//! - a job with a matrix (GitHub's `strategy: matrix:`, whose values are `matrix.NAME`;
//!   GitLab's `parallel: matrix:`, whose values are variables, also set in paysync's
//!   environment) runs its commands once per combination, in the matrix's order;
//! - paths are relative to the repository root of the user's project, which the test's
//!   world mirrors: `manifests/` (a copy of `examples/manifests/`) and the state file
//!   `paysync.state.json` beside it; or, when a command selects an environment (`--env`),
//!   a copy of `examples/environments/` (the project file `paysync.yaml`, `manifests/`,
//!   `envs/`), with each environment's state where the project file puts it;
//! - a command with `--env NAME` gets the credentials as the workflow's job does: only in
//!   the variables the project file maps them to for NAME (`TEST_WEBHOOK_URL`), never
//!   under paysync's own names (`PAYSYNC_WEBHOOK_URL`);
//! - a step of the paysync Action (`uses: paysync/paysync@…`) with `command: plan`,
//!   `apply` or `drift` runs `paysync COMMAND ARGS` as the Action does (a plan with
//!   `--detailed-exitcode`); `install` and `rollup` steps run nothing here (the Action's
//!   own test runs its script).
//!
//! Every `--flag` must also be documented in the README, and an `apply --env NAME --plan
//! FILE` must apply a plan an earlier `plan --env NAME --out FILE` saved.

use std::collections::BTreeMap;

use paysync_emulator::StateService;
use serde_json::Value;

use crate::support::{World, repo_root};

/// A command found in a workflow, ready to run.
#[derive(Debug)]
struct CommandLine {
    /// As written, for messages (with the matrix combination it runs with, if any).
    written: String,
    /// Arguments after `paysync`, normalised.
    args: Vec<String>,
    /// The matrix combination of its job (empty without a matrix).
    matrix: BTreeMap<String, String>,
}

impl CommandLine {
    /// The value of `--flag VALUE` or `--flag=VALUE`.
    fn option(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args.iter().enumerate().find_map(|(i, a)| {
            if a == flag {
                self.args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(prefix.as_str())
            }
        })
    }

    /// The environment it selects (`--env NAME`).
    fn env(&self) -> Option<&str> {
        self.option("--env")
    }
}

/// A shell snippet and the matrix of the job it belongs to.
#[derive(Debug)]
struct Snippet {
    text: String,
    /// One variable map per job the matrix makes; a single empty map without a matrix.
    matrix: Vec<BTreeMap<String, String>>,
}

fn load(rel: &str) -> (String, Value) {
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    let yaml: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    (text, yaml)
}

/// Shell snippets: every string under a `run`, `script`, `before_script` or
/// `after_script` key, in document order, each with the matrix of the nearest enclosing
/// job that has one.
fn scripts(v: &Value, matrix: &[BTreeMap<String, String>], out: &mut Vec<Snippet>) {
    match v {
        Value::Object(map) => {
            let own = job_matrix(v);
            let matrix = own.as_deref().unwrap_or(matrix);
            if let Some(text) = action_command(v) {
                out.push(Snippet {
                    text,
                    matrix: matrix.to_vec(),
                });
                return;
            }
            for (key, value) in map {
                let texts: Vec<String> = match (key.as_str(), value) {
                    ("run" | "script" | "before_script" | "after_script", Value::String(s)) => {
                        vec![s.clone()]
                    }
                    ("run" | "script" | "before_script" | "after_script", Value::Array(items)) => {
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    }
                    ("run" | "script" | "before_script" | "after_script", _) => Vec::new(),
                    _ => {
                        scripts(value, matrix, out);
                        continue;
                    }
                };
                out.extend(texts.into_iter().map(|text| Snippet {
                    text,
                    matrix: matrix.to_vec(),
                }));
            }
        }
        Value::Array(items) => items.iter().for_each(|i| scripts(i, matrix, out)),
        _ => {}
    }
}

/// The command line a step of the paysync Action runs, for `plan`, `apply` and `drift`.
fn action_command(step: &Value) -> Option<String> {
    let uses = step.get("uses")?.as_str()?;
    if !uses.starts_with("paysync/paysync@") {
        return None;
    }
    let with = step.get("with")?;
    let command = with
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("plan");
    let args = with.get("args").and_then(Value::as_str).unwrap_or_default();
    match command {
        "plan" => Some(format!("paysync plan --detailed-exitcode {args}")),
        "apply" | "drift" => Some(format!("paysync {command} {args}")),
        _ => None,
    }
}

/// A matrix value as the CI system substitutes it.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("a matrix value that is not a scalar: {other}"),
    }
}

/// Every combination of the dimensions, the first dimension varying slowest.
fn product(dimensions: &[(String, Vec<String>)]) -> Vec<BTreeMap<String, String>> {
    let mut combinations = vec![BTreeMap::new()];
    for (name, values) in dimensions {
        let mut next = Vec::new();
        for combination in &combinations {
            for value in values {
                let mut c = combination.clone();
                c.insert(name.clone(), value.clone());
                next.push(c);
            }
        }
        combinations = next;
    }
    combinations
}

/// The matrix of a job, if it has one: GitHub's `strategy: matrix:` (values named
/// `matrix.NAME`) or GitLab's `parallel: matrix:` (a list of maps, each a product of its
/// own; values named like the variables they are).
fn job_matrix(job: &Value) -> Option<Vec<BTreeMap<String, String>>> {
    let values = |v: &Value| match v {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    };
    if let Some(matrix) = job.get("strategy").and_then(|s| s.get("matrix")) {
        let matrix = matrix
            .as_object()
            .unwrap_or_else(|| panic!("strategy.matrix is not a map: {matrix}"));
        let dimensions: Vec<(String, Vec<String>)> = matrix
            .iter()
            .map(|(name, v)| {
                assert!(
                    !matches!(name.as_str(), "include" | "exclude"),
                    "matrix {name} is not supported by this test; list the values"
                );
                (format!("matrix.{name}"), values(v))
            })
            .collect();
        return Some(product(&dimensions));
    }
    let entries = job.get("parallel")?.get("matrix")?.as_array()?;
    Some(
        entries
            .iter()
            .flat_map(|entry| {
                let entry = entry
                    .as_object()
                    .unwrap_or_else(|| panic!("parallel.matrix entry is not a map: {entry}"));
                let dimensions: Vec<(String, Vec<String>)> = entry
                    .iter()
                    .map(|(name, v)| (name.clone(), values(v)))
                    .collect();
                product(&dimensions)
            })
            .collect(),
    )
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

/// `${{ expression }}` written without white space inside, so that the expression stays
/// in one word, as GitHub substitutes it before the shell splits the line.
fn compact_expressions(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after.find("}}").map_or(after.len(), |e| e + 2);
        out.extend(after[..end].chars().filter(|c| !c.is_whitespace()));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expands `$NAME`, `${NAME}` and `${{ NAME }}` / `${{ env.NAME }}` / `${{ matrix.NAME }}`
/// anywhere in a word.
fn expand(word: &str, vars: &BTreeMap<String, String>, written: &str) -> String {
    let fail = || -> ! {
        panic!("`{written}`: cannot expand {word}; add it to the workflow's env/variables")
    };
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let (name, len) = if let Some(expression) = after.strip_prefix("${{") {
            let end = expression.find("}}").unwrap_or_else(|| fail());
            let name = expression[..end].trim();
            (name.strip_prefix("env.").unwrap_or(name), 3 + end + 2)
        } else if let Some(braced) = after.strip_prefix("${") {
            let end = braced.find('}').unwrap_or_else(|| fail());
            (&braced[..end], 2 + end + 1)
        } else {
            let name = &after[1..];
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            (&name[..end], 1 + end)
        };
        out.push_str(vars.get(name).unwrap_or_else(|| fail()));
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn commands(yaml: &Value, vars: &BTreeMap<String, String>) -> Vec<CommandLine> {
    let mut snippets = Vec::new();
    scripts(yaml, &[BTreeMap::new()], &mut snippets);
    let mut found = Vec::new();
    for snippet in snippets {
        let joined = snippet.text.replace("\\\n", " ");
        for combination in &snippet.matrix {
            let mut vars = vars.clone();
            vars.extend(combination.clone());
            for line in joined.lines() {
                let line = compact_expressions(line.trim());
                let all = words(&line);
                if all.first().map(String::as_str) != Some("paysync") {
                    continue;
                }
                let written = if combination.is_empty() {
                    line.clone()
                } else {
                    let values: Vec<String> = combination
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    format!("{line} [{}]", values.join(", "))
                };
                let args: Vec<String> = all[1..]
                    .iter()
                    .take_while(|w| {
                        !matches!(w.as_str(), ">" | ">>" | "2>" | "|" | "||" | "&&" | ";")
                    })
                    .map(|w| expand(w, &vars, &written))
                    .collect();
                found.push(CommandLine {
                    written,
                    args,
                    matrix: combination.clone(),
                });
            }
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
        Some("drift") => &[0, 7],
        other => panic!("unexpected paysync command in a CI example: {other:?}"),
    }
}

/// Runs every paysync command of one workflow in order, in a world laid out like the
/// user's repository, and returns the commands.
fn run_example(rel: &str) -> (String, Value, Vec<CommandLine>) {
    let (text, yaml) = load(rel);
    run_workflow(rel, text, yaml)
}

/// The worked example of environments, which the world of a workflow using `--env`
/// mirrors.
const ENVIRONMENTS: &str = "examples/environments";

/// Copies the files below `from` (a directory of the repository) to `to` in the world.
fn copy_tree(w: &World, from: &std::path::Path, to: &str) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if to.is_empty() {
            name
        } else {
            format!("{to}/{name}")
        };
        if entry.file_type().unwrap().is_dir() {
            copy_tree(w, &entry.path(), &rel);
        } else {
            w.write(&rel, &std::fs::read_to_string(entry.path()).unwrap());
        }
    }
}

/// Points every environment's pin (`portal:`) at `portal`: the example pins real portals,
/// which the world's emulator plays.
fn pin_to(w: &World, portal: &str) {
    let text = w.read("paysync.yaml");
    let pins = text
        .lines()
        .filter(|l| l.trim_start().starts_with("portal: "))
        .count();
    assert!(
        pins >= 2,
        "{ENVIRONMENTS}/paysync.yaml pins every environment's portal"
    );
    let pinned: String = text
        .lines()
        .map(|line| match line.find("portal: ") {
            Some(at) if line[..at].trim().is_empty() => {
                format!("{}portal: {portal}\n", &line[..at])
            }
            _ => format!("{line}\n"),
        })
        .collect();
    w.write("paysync.yaml", &pinned);
}

/// The project file of the world (a copy of `examples/environments/paysync.yaml`).
fn project(w: &World) -> Value {
    serde_saphyr::from_str(&w.read("paysync.yaml")).expect("paysync.yaml is valid YAML")
}

/// One environment of a project file, which must declare it.
fn environment<'p>(project: &'p Value, name: &str, written: &str) -> &'p Value {
    project["environments"].get(name).unwrap_or_else(|| {
        panic!("`{written}`: {ENVIRONMENTS}/paysync.yaml has no environment {name}")
    })
}

/// The environment variables of one command's run, as its job would have them: the
/// workflow's `PAYSYNC_*` variables, the webhook of the world's portal, the manifests'
/// secret, GitLab's matrix variables; for `--env NAME`, every credential moved to the
/// variable the project file maps it to for NAME.
fn command_env(
    w: &World,
    command: &CommandLine,
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("PAYSYNC_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert("PAYSYNC_WEBHOOK_URL".to_owned(), w.portal.webhook_url());
    env.insert("ACME_KEY".to_owned(), "ci-example-key".to_owned());
    // Under the environment's own variable when the project file maps it.
    env.insert(
        "PAYSYNC_FINGERPRINT_KEY".to_owned(),
        "ci-example-fingerprint-key".to_owned(),
    );
    env.extend(
        command
            .matrix
            .iter()
            .filter(|(k, _)| !k.contains('.'))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    if let Some(name) = command.env() {
        let project = project(w);
        let credentials = environment(&project, name, &command.written)["credentials"]
            .as_object()
            .unwrap_or_else(|| panic!("environment {name} maps no credentials"));
        for (paysync_var, holder) in credentials {
            let holder = holder.as_str().expect("a variable name");
            if let Some(value) = env.remove(paysync_var) {
                env.insert(holder.to_owned(), value);
            }
        }
    }
    env
}

/// [`run_example`] of a workflow already read.
fn run_workflow(rel: &str, text: String, yaml: Value) -> (String, Value, Vec<CommandLine>) {
    let mut vars = workflow_vars(&yaml);
    // GitLab's predefined variables, for its managed state (the emulator's double of
    // GitLab's Terraform state API); GitLab expands them inside `variables:` values.
    let service = StateService::start("gitlab-ci-token", "ci-job-token-canary").unwrap();
    if rel.contains("gitlab") {
        let api = service.address("x");
        let api = api.split("/projects/").next().unwrap().to_owned();
        let predefined = BTreeMap::from([
            ("CI_API_V4_URL".to_owned(), api),
            ("CI_PROJECT_ID".to_owned(), "1".to_owned()),
            ("CI_JOB_TOKEN".to_owned(), "ci-job-token-canary".to_owned()),
        ]);
        vars.extend(predefined.clone());
        for value in vars.values_mut() {
            if value.contains("$CI_") {
                *value = expand(value, &predefined, value);
            }
        }
    }
    let found = commands(&yaml, &vars);
    // The README and the guides: every flag the examples use is documented somewhere.
    let mut readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for entry in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            readme.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let w = World::new();
    let environments = found.iter().any(|c| c.env().is_some());
    if environments {
        copy_tree(&w, &repo_root().join(ENVIRONMENTS), "");
        pin_to(&w, &w.portal.base_url());
    } else {
        copy_tree(&w, &repo_root().join("examples/manifests"), "manifests");
    }
    // Saved plan -> the environment it was made for.
    let mut saved: BTreeMap<String, Option<String>> = BTreeMap::new();
    for command in &found {
        for flag in command.args.iter().filter(|a| a.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                readme.contains(&format!("`{flag}")),
                "{rel}: `{}` uses {flag}, which the README does not document",
                command.written
            );
        }
        let env = command.env().map(str::to_owned);
        match command.args[0].as_str() {
            "plan" => {
                if let Some(out) = command.option("--out") {
                    saved.insert(out.to_owned(), env.clone());
                }
            }
            "apply" => {
                if let Some(plan) = command.option("--plan") {
                    assert_eq!(
                        saved.get(plan),
                        Some(&env),
                        "{rel}: `{}` applies a plan that no earlier plan of its environment saved",
                        command.written
                    );
                }
            }
            _ => {}
        }
        let mut cmd = w.cmd();
        if env.is_some() {
            cmd = cmd.offline();
        }
        let out = cmd
            .envs(command_env(&w, command, &vars))
            .args(&command.args)
            .run();
        let code = out.code;
        let stdout = out.stdout.as_str();
        assert!(
            expected_codes(&command.args).contains(&code),
            "{rel}: `{}` exited {code}\n--- stdout\n{stdout}\n--- stderr\n{}",
            command.written,
            out.stderr.as_str()
        );
        if command
            .args
            .windows(2)
            .any(|a| a == ["--format", "markdown"])
        {
            assert!(
                stdout.starts_with("<!-- paysync-"),
                "{rel}: the comment or issue step finds its own by paysync's marker: {stdout}"
            );
        }
    }
    if environments {
        let project = project(&w);
        let applied: std::collections::BTreeSet<&str> = found
            .iter()
            .filter(|c| c.args[0] == "apply")
            .filter_map(CommandLine::env)
            .collect();
        assert!(
            !applied.is_empty(),
            "{rel}: no apply selects an environment"
        );
        for name in applied {
            let given = found
                .iter()
                .filter(|c| c.args[0] == "apply" && c.env() == Some(name))
                .find_map(|c| c.option("--state"));
            let state = given.unwrap_or_else(|| {
                environment(&project, name, rel)["state"]
                    .as_str()
                    .expect("each environment names its state file")
            });
            assert!(
                state_written(&w, &service, state),
                "{rel}: the apply of {name} wrote its state, {state}"
            );
        }
    } else {
        let state = vars
            .get("PAYSYNC_STATE")
            .map_or("paysync.state.json", String::as_str);
        assert!(
            state_written(&w, &service, state),
            "{rel}: the apply wrote the state, {state}"
        );
    }
    (text, yaml, found)
}

/// Whether `state` (a file of the world, or a state of the GitLab double) was written.
fn state_written(w: &World, service: &StateService, state: &str) -> bool {
    match state.split_once("/terraform/state/") {
        Some((_, name)) if state.starts_with("http") => service.state(name).is_some(),
        _ => w.path(state).exists(),
    }
}

fn subcommands(found: &[CommandLine]) -> Vec<&str> {
    found.iter().map(|c| c.args[0].as_str()).collect()
}

/// The environments of the worked example, in the order its project file declares them.
fn example_environments() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(ENVIRONMENTS).join("paysync.yaml"))
        .expect("the worked example has a project file");
    let project: Value = serde_saphyr::from_str(&text).unwrap();
    project["environments"]
        .as_object()
        .expect("environments is a map")
        .keys()
        .cloned()
        .collect()
}

/// The matrix values of one variable, in order.
fn matrix_values(found: &[CommandLine], subcommand: &str, var: &str) -> Vec<String> {
    found
        .iter()
        .filter(|c| c.args[0] == subcommand)
        .filter_map(|c| c.matrix.get(var).cloned())
        .collect()
}

#[test]
fn the_github_actions_example_runs_against_the_emulator() {
    let (_, yaml, found) = run_example("examples/ci/github-actions.yml");
    assert_eq!(
        subcommands(&found),
        [
            "validate", "validate", "plan", "plan", "plan", "apply", "plan", "apply", "drift",
            "drift"
        ],
        "{found:#?}"
    );
    let jobs = &yaml["jobs"];
    assert!(yaml["on"]["pull_request"].is_object(), "{yaml:#}");
    assert!(
        yaml["on"]["schedule"].is_array(),
        "a scheduled drift check: {yaml:#}"
    );
    // A plan job per environment of the project file (each its own comment, through the
    // Action), then the roll-up of them all; forks, without secrets, are not planned.
    let planned: Vec<String> = found
        .iter()
        .filter(|c| c.args[0] == "plan" && c.option("--out").is_none())
        .filter_map(|c| c.matrix.get("matrix.env").cloned())
        .collect();
    assert_eq!(planned, example_environments(), "{found:#?}");
    assert!(
        jobs["plan"]["if"]
            .as_str()
            .unwrap()
            .contains("head.repo.full_name == github.repository"),
        "{yaml:#}"
    );
    assert_eq!(jobs["rollup"]["needs"], "plan", "{yaml:#}");
    // The roll-up posted first, so that it heads the comments, then filled in.
    assert_eq!(jobs["plan"]["needs"], "rollup-start", "{yaml:#}");
    let start = serde_json::to_string(&jobs["rollup-start"]).unwrap();
    assert!(start.contains("--pending test --pending prod"), "{start}");
    // No state committed back: the state is remote (no job may push to main).
    let text = std::fs::read_to_string(repo_root().join("examples/ci/github-actions.yml")).unwrap();
    assert!(!text.contains("git push"), "the example pushes to main");
    assert!(
        !text.contains("contents: write"),
        "the example writes to the repository"
    );
    // Applied environment by environment, each one at a time and never cancelled
    // halfway; prod's plan approved before it is applied.
    let applies: Vec<Option<&str>> = found
        .iter()
        .filter(|c| c.args[0] == "apply")
        .map(CommandLine::env)
        .collect();
    assert_eq!(applies, [Some("test"), Some("prod")]);
    for job in ["apply-test", "apply-prod"] {
        assert!(jobs[job]["concurrency"]["group"].is_string(), "{job}");
        assert_eq!(
            jobs[job]["concurrency"]["cancel-in-progress"],
            Value::Bool(false),
            "{job}"
        );
    }
    assert_eq!(
        jobs["plan-prod"]["needs"], "apply-test",
        "prod only after test"
    );
    assert_eq!(jobs["apply-prod"]["needs"], "plan-prod");
    assert_eq!(jobs["apply-prod"]["environment"], "production");
    // The drift job opens, updates and closes its issue by paysync's marker.
    let drift = serde_json::to_string(&jobs["drift"]).unwrap();
    for needle in [
        "--format markdown",
        "gh issue create",
        "gh issue edit",
        "gh issue close",
    ] {
        assert!(drift.contains(needle), "{needle}: {drift}");
    }
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
        [
            "validate", "validate", "plan", "plan", "plan", "apply", "plan", "apply", "drift",
            "drift"
        ],
        "{found:#?}"
    );
    assert!(
        text.contains("<!-- paysync-plan"),
        "the note step looks for the marker"
    );
    // Each environment's plan in its apply's resource group (no apply of another
    // pipeline between them); the drift job opens, updates and closes its issue.
    for env in ["test", "prod"] {
        assert_eq!(
            yaml[format!("plan:{env}").as_str()]["resource_group"],
            yaml[format!("apply:{env}").as_str()]["resource_group"],
            "{yaml:#}"
        );
    }
    let drift = serde_json::to_string(&yaml["drift"]).unwrap();
    for needle in ["--format markdown", "state_event=close", "startswith($m)"] {
        assert!(drift.contains(needle), "{needle}: {drift}");
    }
    assert_eq!(
        matrix_values(&found, "plan", "PAYSYNC_ENV"),
        example_environments(),
        "a merge-request plan per environment: {found:#?}"
    );
    assert_eq!(yaml["note:merge-request"]["needs"][0], "plan:merge-request");
    for env in ["test", "prod"] {
        let apply = &yaml[format!("apply:{env}").as_str()];
        assert!(apply["resource_group"].is_string(), "{yaml:#}");
        assert_eq!(apply["needs"][0], format!("plan:{env}"), "{yaml:#}");
    }
    assert_eq!(
        yaml["apply:prod"]["needs"][1]["job"], "apply:test",
        "prod only after test: {yaml:#}"
    );
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
    let mut yaml: Value = serde_saphyr::from_str(&jobs).unwrap();
    // Regression (issue 23.4): an included template's top-level `variables:` are set for
    // every job of the project (PAYSYNC_STATE among them); paysync's are its jobs' own.
    assert!(
        yaml.get("variables").is_none(),
        "top-level variables: {yaml:#}"
    );
    assert!(yaml[".paysync"]["variables"]["PAYSYNC_STATE"].is_string());
    // Every paysync job extends `.paysync`: run with its variables, as GitLab does.
    yaml["variables"] = yaml[".paysync"]["variables"].clone();
    let (_, yaml, found) = run_workflow(rel, jobs, yaml);
    assert_eq!(
        subcommands(&found),
        ["validate", "plan", "plan", "apply"],
        "{found:#?}"
    );
    assert_eq!(yaml["paysync:apply"]["needs"][0], "paysync:plan:main");
    assert!(yaml["paysync:apply"]["resource_group"].is_string());
    assert_eq!(
        yaml["paysync:plan:main"]["resource_group"], yaml["paysync:apply"]["resource_group"],
        "the plan in its apply's resource group"
    );
    for (name, job) in yaml.as_object().unwrap() {
        if name.starts_with("paysync:") {
            assert_eq!(job["extends"], ".paysync", "{name}");
        }
    }
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

#[test]
fn a_matrix_runs_each_command_once_per_value_expanded_inside_words() {
    let yaml = serde_json::json!({
        "env": {"PAYSYNC_VERSION": "0.1.0"},
        "jobs": {
            "plan": {
                "strategy": {"matrix": {"env": ["test", "prod"]}},
                "steps": [{"run": "paysync plan --env ${{ matrix.env }} --out plan-${{ matrix.env }}.json > plan-${{ matrix.env }}.md"}],
            },
            "apply": {"steps": [{"run": "paysync apply --env test --plan plan-test.json"}]},
        },
        "plan:mr": {
            "parallel": {"matrix": [{"PAYSYNC_ENV": ["test", "prod"]}, {"PAYSYNC_ENV": "qa"}]},
            "script": ["paysync plan --env \"$PAYSYNC_ENV\" --out \"plan-${PAYSYNC_ENV}.json\" || [ $? -eq 2 ]"],
        },
    });
    let found = commands(&yaml, &workflow_vars(&yaml));
    let args: Vec<String> = found.iter().map(|c| c.args.join(" ")).collect();
    assert_eq!(
        args,
        [
            "plan --env test --out plan-test.json",
            "plan --env prod --out plan-prod.json",
            "apply --env test --plan plan-test.json",
            "plan --env test --out plan-test.json",
            "plan --env prod --out plan-prod.json",
            "plan --env qa --out plan-qa.json",
        ],
        "{found:#?}"
    );
    assert_eq!(found[0].env(), Some("test"));
    assert_eq!(found[1].matrix["matrix.env"], "prod");
    assert_eq!(found[5].matrix["PAYSYNC_ENV"], "qa");
    assert!(found[2].matrix.is_empty());
}

/// The webhook's scopes are stated once, the same everywhere (issue 23.4: the CI files
/// said `pay_system`, the README `pay_system` and `sale`).
#[test]
fn the_webhook_scopes_are_the_same_in_the_ci_files_and_the_guide() {
    let guide = std::fs::read_to_string(repo_root().join("docs/connecting.md")).unwrap();
    assert!(
        guide.contains("**`pay_system` and `sale`**"),
        "docs/connecting.md"
    );
    for file in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("scope") && l.contains("pay_system"))
            .collect();
        assert!(!lines.is_empty(), "{file} names the webhook's scopes");
        for line in lines {
            assert!(
                line.contains("scopes `pay_system` and `sale`"),
                "{file}: {line}"
            );
        }
    }
}

/// A fake `gh` for `gh issue list|create|edit|close`: the repository's issues kept in a
/// file, as the CLI would read and change them.
fn fake_gh_issues(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let store = dir.join("issues.json");
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, subprocess, sys
store = {store:?}
issues = json.load(open(store)) if os.path.exists(store) else []
args = sys.argv[1:]
assert args[0] == "issue", args
verb, rest = args[1], args[2:]
def opt(name):
    return rest[rest.index(name) + 1] if name in rest else None
if verb == "list":
    shown = [{{"number": i["number"], "body": i["body"]}} for i in issues if i["state"] == "open"]
    out = json.dumps(shown)
    jq = opt("--jq")
    if jq: out = subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(out)
elif verb == "create":
    issues.append({{"number": len(issues) + 1, "title": opt("--title"), "body": open(opt("--body-file")).read(), "state": "open"}})
elif verb == "edit":
    for i in issues:
        if i["number"] == int(rest[0]): i["body"] = open(opt("--body-file")).read()
elif verb == "close":
    for i in issues:
        if i["number"] == int(rest[0]): i["state"] = "closed"; i["closing"] = opt("--comment")
json.dump(issues, open(store, "w"))
"#
    );
    let gh = bin.join("gh");
    std::fs::write(&gh, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    store
}

/// The GitHub example's drift step, run as its job runs it (bash, `gh` on the PATH)
/// against the emulator: drift opens an issue, the next run updates the same one, and a
/// run without drift closes it (issue 23.2).
#[test]
fn the_github_drift_step_opens_updates_and_closes_one_issue() {
    let (_, yaml) = load("examples/ci/github-actions.yml");
    let step = yaml["jobs"]["drift"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Drift")
        .expect("a Drift step");
    let script = step["run"]
        .as_str()
        .unwrap()
        .replace("${{ matrix.env }}", "test");
    let w = World::new();
    copy_tree(&w, &repo_root().join(ENVIRONMENTS), "");
    pin_to(&w, &w.portal.base_url());
    let creds = [
        ("TEST_WEBHOOK_URL", w.portal.webhook_url()),
        (
            "TEST_FINGERPRINT_KEY",
            "ci-example-fingerprint-key".to_owned(),
        ),
        ("ACME_KEY", "ci-example-key".to_owned()),
    ];
    for args in [
        &["plan", "--env", "test", "--out", "p.json"][..],
        &["apply", "--env", "test", "--plan", "p.json"],
    ] {
        w.cmd().envs(creds.clone()).args(args).run().expect_code(0);
    }
    let store = fake_gh_issues(w.dir.path());
    let paysync_dir = std::path::Path::new(env!("CARGO_BIN_EXE_paysync"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}:{}",
        w.path("fakebin").display(),
        paysync_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        let mut bash = std::process::Command::new("bash");
        w.paysync_env(&mut bash);
        let status = bash
            .args(["-e", "-c", &script])
            .current_dir(w.dir.path())
            .envs(creds.clone())
            .env("PATH", &path)
            .status()
            .unwrap();
        assert!(status.success(), "the drift step failed: {status}");
        let issues: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&store).unwrap_or("[]".into())).unwrap();
        issues
    };
    // No drift, no issue.
    assert!(run().is_empty());
    // Drift: one issue, headed by paysync's marker.
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    let issues = run();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["state"], "open");
    assert_eq!(issues[0]["title"], "paysync: drift in test");
    let body = issues[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- paysync-drift env:test -->\n"),
        "{body}"
    );
    assert!(body.contains("PS&#95;WORK&#95;MODE&#95;IFRAME"), "{body}");
    // Still drifted: the same issue, updated.
    assert_eq!(run().len(), 1);
    // Fixed on the portal: closed.
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    let issues = run();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["state"], "closed", "{issues:?}");
    assert!(
        issues[0]["closing"]
            .as_str()
            .unwrap()
            .starts_with("No drift any more"),
        "{issues:?}"
    );
}

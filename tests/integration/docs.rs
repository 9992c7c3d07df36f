//! The documentation is tested: every ```console block of README.md and of the guides
//! under docs/ runs here, against the emulator, in the order written (trycmd's format,
//! run by this small harness so that a file's blocks share one directory and one portal,
//! as a reader following the walkthrough does).
//!
//! In a block, a line `$ COMMAND` runs COMMAND with `sh -c` (paysync on the `PATH`), in a
//! directory holding a copy of `examples/manifests` as `manifests/` and of `examples/`
//! (`$ cd DIR` changes the directory of the commands after it), with
//! `PAYSYNC_WEBHOOK_URL` set to the emulator's demo portal and `ACME_KEY` set. The lines
//! after it, up to the next command or a blank line before one, are what it prints
//! (standard output and error as one stream): `...` on a line of its own stands for any
//! number of lines, `[..]` within a line for any text. A command followed by nothing is
//! only run. `? N` right after a command expects exit code N (0 otherwise). A file with
//! the line `<!-- docs test: emulator/seeds/empty.yaml -->` runs against a new portal
//! (payer types only) instead of the demo portal.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{World, copy_dir, repo_root};

/// One command of a block, with what it should print.
struct Step {
    file: String,
    line: usize,
    command: String,
    code: i32,
    expected: Vec<String>,
}

/// The ```console blocks of `text`, as steps.
fn steps(file: &str, text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        if !in_block {
            in_block = line.trim_end() == "```console";
            continue;
        }
        if line.starts_with("```") {
            in_block = false;
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                file: file.to_owned(),
                line: n + 1,
                command: command.to_owned(),
                code: 0,
                expected: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            match line.strip_prefix("? ") {
                Some(code) if step.expected.is_empty() => {
                    step.code = code.trim().parse().expect("`? N` is an exit code");
                }
                _ => step.expected.push(line.to_owned()),
            }
        }
    }
    for step in &mut steps {
        while step.expected.last().is_some_and(|l| l.is_empty()) {
            step.expected.pop();
        }
    }
    steps
}

/// Whether `line` matches the `expected` line, where `[..]` stands for any text.
fn line_matches(expected: &str, line: &str) -> bool {
    let mut parts = expected.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether the output lines match the expected ones (`...` for any number of lines).
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && matches(rest, more)),
    }
}

/// A guide whose blocks run against a new portal (`emulator/seeds/empty.yaml`) rather
/// than the demo portal says so with this line.
const EMPTY_PORTAL: &str = "<!-- docs test: emulator/seeds/empty.yaml -->";

/// Runs a file's steps in a fresh directory against a fresh demo portal (or an empty
/// one, see [`EMPTY_PORTAL`]).
fn run_file(rel: &str) -> usize {
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    let steps = steps(rel, &text);
    let w = if text.contains(EMPTY_PORTAL) {
        World::with_seed(
            paysync_emulator::Seed::from_path(&repo_root().join("emulator/seeds/empty.yaml"))
                .expect("the empty seed loads"),
        )
    } else {
        World::new()
    };
    copy_dir(
        &repo_root().join("examples/manifests"),
        &w.path("manifests"),
    );
    copy_dir(&repo_root().join("examples"), &w.path("examples"));
    let mut cwd = w.dir.path().to_owned();
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_paysync"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in &steps {
        if let Some(dir) = step.command.strip_prefix("cd ") {
            cwd = cwd.join(dir.trim());
            assert!(
                cwd.is_dir(),
                "{}:{}: no directory {dir}",
                step.file,
                step.line
            );
            continue;
        }
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut sh = Command::new("sh");
        // Only the environment paysync's own tests run it with (the portal, NO_COLOR).
        sh.env_clear();
        w.paysync_env(&mut sh);
        sh.arg("-c")
            .arg(&step.command)
            .current_dir(&cwd)
            .env("PATH", &path)
            .env("ACME_KEY", "my-test-key")
            .env("HOME", w.dir.path())
            .stdin(Stdio::null())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer);
        let mut child = sh.spawn().unwrap();
        drop(sh);
        let mut output = String::new();
        reader.read_to_string(&mut output).unwrap();
        let status = child.wait().unwrap();
        let actual: Vec<&str> = output.trim_end().lines().collect();
        let here = format!("{}:{}: `{}`", step.file, step.line, step.command);
        assert_eq!(
            status.code(),
            Some(step.code),
            "{here} exited {status}\n{output}"
        );
        if !step.expected.is_empty() {
            assert!(
                matches(&step.expected, &actual),
                "{here} printed\n{output}\nexpected\n{}",
                step.expected.join("\n")
            );
        }
    }
    steps.len()
}

/// The files whose ```console blocks run: the README and every guide.
fn documents() -> Vec<String> {
    let mut files = vec!["README.md".to_owned()];
    let mut guides: Vec<String> = std::fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    guides.sort();
    files.extend(guides);
    files
}

#[test]
fn every_console_block_of_the_readme_and_the_guides_prints_what_it_says() {
    let mut ran = 0;
    for file in documents() {
        ran += run_file(&file);
    }
    // The README's walkthrough alone has ten commands: a parser that found none would
    // pass everything.
    assert!(ran >= 10, "{ran} commands found");
}

#[test]
fn the_harness_tells_a_changed_output_from_a_matching_one() {
    let expected: Vec<String> = ["Plan: [..] (7 to add, 0 to change).", "...", "done"]
        .map(String::from)
        .to_vec();
    assert!(matches(
        &expected,
        &[
            "Plan: 2 targets to change, 7 settings (7 to add, 0 to change).",
            "a",
            "b",
            "done"
        ]
    ));
    assert!(matches(
        &expected,
        &["Plan: x (7 to add, 0 to change).", "done"]
    ));
    assert!(!matches(
        &expected,
        &["Plan: 2 targets (6 to add, 0 to change).", "done"]
    ));
    assert!(!matches(&expected, &["Plan: x (7 to add, 0 to change)."]));
    let parsed = steps(
        "t.md",
        "text\n```console\n$ paysync plan m\n? 2\nPlan: x\n\n$ sed -i s/a/b/ f\n```\n",
    );
    assert_eq!(parsed.len(), 2);
    assert_eq!((parsed[0].code, parsed[0].expected.len()), (2, 1));
    assert!(parsed[1].expected.is_empty());
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every relative link of the README and the guides leads to a file of the repository,
/// and every `#anchor` to a heading of its file: moving text between guides cannot leave
/// a link dangling.
#[test]
fn every_relative_link_of_the_readme_and_the_guides_resolves() {
    let mut broken = Vec::new();
    let mut links = 0;
    for file in documents() {
        let text = std::fs::read_to_string(repo_root().join(&file)).unwrap();
        let dir = Path::new(&file).parent().unwrap().to_owned();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.contains(char::is_whitespace)
                || target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            links += 1;
            let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
            let linked = if path.is_empty() {
                repo_root().join(&file)
            } else {
                repo_root().join(&dir).join(path)
            };
            if !linked.exists() {
                broken.push(format!("{file}: {target} (no such file)"));
                continue;
            }
            if !fragment.is_empty() && linked.extension().is_some_and(|e| e == "md") {
                let heads = std::fs::read_to_string(&linked).unwrap();
                let found = heads
                    .lines()
                    .filter_map(|l| {
                        l.trim_start_matches('#')
                            .strip_prefix(' ')
                            .filter(|_| l.starts_with('#'))
                    })
                    .any(|h| anchor(h) == fragment);
                if !found {
                    broken.push(format!("{file}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(links > 30, "{links} links found");
    assert!(broken.is_empty(), "{broken:#?}");
}

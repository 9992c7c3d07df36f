//! `paysync validate --format json|github`: problems for programs and for the pull
//! request's diff, on stdout, with the places the text diagnostics give.

use serde_json::Value;

use crate::support::{World, repo_root};

const MANY: &str = "tests/fixtures/manifests/bad/many-problems.yaml";

fn validate(format: &str, path: &str) -> (i32, String, String) {
    let w = World::new();
    let out = w
        .cmd()
        .current_dir(repo_root())
        .args(["validate", "--format", format, path])
        .run();
    (out.code, out.stdout, out.stderr)
}

#[test]
fn json_lists_every_problem_with_its_place() {
    let (code, stdout, stderr) = validate("json", MANY);
    assert_eq!(code, 3, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["format_version"], 2);
    assert_eq!(doc["valid"], false);
    let problems = doc["diagnostics"].as_array().unwrap();
    // A summary when it fails too: how many problems, in how many files.
    assert_eq!(doc["summary"]["problems"], problems.len(), "{stdout}");
    assert!(doc["summary"]["files_with_problems"].as_u64().unwrap() >= 1);
    assert!(doc["summary"]["targets"].is_null(), "{stdout}");
    assert!(problems.len() >= 5, "{doc:#}");
    for p in problems {
        assert_eq!(p["file"], MANY);
        assert!(p["line"].as_u64().unwrap() > 0, "{p}");
        assert!(p["code"].as_str().is_some_and(|c| !c.is_empty()));
    }
    assert!(!stderr.contains("error["), "no text diagnostics: {stderr}");

    let (code, stdout, _) = validate("json", "examples/manifests");
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["summary"]["targets"], 2);
}

/// `::error file=F,line=L,col=C[,endColumn=E],title=paysync CODE::MESSAGE`, each at the
/// place the JSON gives.
#[test]
fn github_lines_are_workflow_commands_at_the_right_place() {
    let (code, stdout, _) = validate("github", MANY);
    assert_eq!(code, 3);
    let (_, json, _) = validate("json", MANY);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let problems = doc["diagnostics"].as_array().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), problems.len(), "{stdout}");
    for (line, p) in lines.iter().zip(problems) {
        let rest = line
            .strip_prefix("::error ")
            .unwrap_or_else(|| panic!("{line}"));
        let (properties, message) = rest.split_once("::").unwrap();
        assert!(!message.is_empty() && !message.contains('\n'));
        let props: std::collections::BTreeMap<&str, &str> = properties
            .split(',')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        assert_eq!(props["file"], MANY);
        assert_eq!(props["line"], p["line"].to_string());
        assert_eq!(props["col"], p["column"].to_string());
        let span = p["span"].as_u64().unwrap();
        if span > 0 {
            let end: u64 = props["endColumn"].parse().unwrap();
            assert_eq!(end, p["column"].as_u64().unwrap() + span - 1);
        }
        assert_eq!(
            props["title"],
            format!("paysync {}", p["code"].as_str().unwrap())
        );
    }

    let (code, stdout, _) = validate("github", "examples/manifests");
    assert_eq!(code, 0);
    assert!(stdout.is_empty(), "{stdout}");
}

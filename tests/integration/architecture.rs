//! The shape of `src/` and the emulator, checked: no import cycle between modules
//! (files), nor between top-level modules (a folder or a top-level file counts as one);
//! dependencies pointing down only; no source file over 700 lines, its tests left out
//! (CONTRIBUTING.md, "Code map").
//!
//! The graph is read from the source text: an edge from file A to file B for every path
//! A names into B — each `use` tree (braces expanded), each inline `crate::`, `super::`
//! or `self::` path, and in a `mod.rs` (or `lib.rs`) each path through a child module.
//! A path goes to the longest module prefix it names, so using an item a `mod.rs`
//! re-exports is an edge to that `mod.rs`. Test modules (`#[cfg(test)] mod ... { }`, and
//! `tests.rs` files) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_root;

/// Module name (`bitrix::client`, `lib`, `main`) → the file's text, tests and comments
/// removed, of paysync's `src/`. A test module in a file of its own (`tests.rs`, declared
/// `#[cfg(test)] mod tests;`) is left out like an inline one.
fn modules() -> BTreeMap<String, (String, bool)> {
    modules_of("src")
}

/// [`modules`] of another source folder of the repository (`emulator/src`).
fn modules_of(root: &str) -> BTreeMap<String, (String, bool)> {
    let src = repo_root().join(root);
    let mut found = BTreeMap::new();
    walk(&src, &src, &mut found);
    found
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, (String, bool)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, found);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let dir_module = parts.last().is_some_and(|p| p == "mod");
            if dir_module {
                parts.pop();
            }
            let name = parts.join("::");
            let dir_module = dir_module || name == "lib" || name == "main";
            let text = without_tests(&code_only(&std::fs::read_to_string(&path).unwrap()));
            found.insert(name, (text, dir_module));
        }
    }
}

/// The text without `#[cfg(test)] mod name { ... }` blocks.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let header = after.trim_start();
        let is_block = header.starts_with("mod ")
            || header.starts_with("pub mod ")
            || header.starts_with("pub(super) mod ")
            || header.starts_with("pub(crate) mod ");
        let open = after.find('{');
        let semicolon = after.find(';');
        match (is_block, open) {
            (true, Some(open)) if semicolon.is_none_or(|s| s > open) => {
                out.push_str(&rest[..at]);
                let body = &after[open..];
                let mut depth = 0usize;
                let mut end = body.len();
                for (i, c) in body.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &body[end..];
            }
            _ => {
                out.push_str(&rest[..at + "#[cfg(test)]".len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The code alone: comments (doc comments included) removed, string and character
/// literals emptied, so that neither is read as a path.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && at(i + 1) == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && !at(i.wrapping_sub(1)).is_alphanumeric()))
        {
            // r"...", r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && at(i + 1) == '\\' {
            // '\n', '\u{..}'
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && at(i + 2) == '\'' {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("");
        return vec![path.chars().filter(|c| !c.is_whitespace()).collect()];
    };
    let prefix: String = tree[..open]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(|i| {
            let prefix = prefix.clone();
            expand(i).into_iter().map(move |p| format!("{prefix}{p}"))
        })
        .collect()
}

/// The module a path from `module` names: its longest module prefix.
fn resolve(module: &str, dir_module: bool, path: &str, names: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let here: Vec<&str> = if module == "lib" || module == "main" {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut absolute: Vec<&str> = match parts.first() {
        Some(&"crate") => parts.split_off(1),
        Some(&"super") | Some(&"self") => {
            let mut at = here.clone();
            while let Some(&first) = parts.first() {
                match first {
                    "super" => {
                        at.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                parts.remove(0);
            }
            at.extend(parts);
            at
        }
        Some(_) if dir_module => here.iter().copied().chain(parts).collect(),
        _ => return None,
    };
    while !absolute.is_empty() {
        let candidate = absolute.join("::");
        if names.contains(&candidate) {
            return Some(candidate);
        }
        absolute.pop();
    }
    None
}

/// Module → the modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    graph_of(modules())
}

/// [`graph`] of any module set.
fn graph_of(modules: BTreeMap<String, (String, bool)>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (module, (text, dir_module)) in &modules {
        let mut to = BTreeSet::new();
        let mut add = |path: &str| {
            if let Some(target) = resolve(module, *dir_module, path, &names)
                && target != *module
            {
                to.insert(target);
            }
        };
        // `use` trees, `pub use` included.
        for statement in text.split(';') {
            let statement = statement.trim_start();
            let statement = statement
                .strip_prefix("pub(crate) ")
                .or_else(|| statement.strip_prefix("pub(super) "))
                .or_else(|| statement.strip_prefix("pub "))
                .unwrap_or(statement);
            if let Some(tree) = statement.strip_prefix("use ") {
                for path in expand(tree) {
                    let relative_ok = *dir_module
                        || ["crate::", "super::", "self::"]
                            .iter()
                            .any(|p| path.starts_with(p));
                    if relative_ok {
                        add(&path);
                    }
                }
            }
        }
        // Inline paths.
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let boundary =
                i == 0 || !(chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '_' | ':'));
            if boundary && (chars[i].is_alphabetic() || chars[i] == '_') {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | ':'))
                {
                    i += 1;
                }
                let path: String = chars[start..i].iter().collect();
                if path.contains("::") {
                    let first = path.split("::").next().unwrap_or("");
                    if matches!(first, "crate" | "super" | "self") || *dir_module {
                        add(&path);
                    }
                }
            } else {
                i += 1;
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

/// A cycle of the graph, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The graph between top-level modules (a folder or a top-level file is one; `lib` and
/// `main`, which only wire them, are left out).
fn top_level(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        if matches!(from.as_str(), "lib" | "main") {
            continue;
        }
        let entry = tops.entry(top(from).to_owned()).or_default();
        for target in to {
            if top(target) != top(from) && !matches!(target.as_str(), "lib" | "main") {
                entry.insert(top(target).to_owned());
            }
        }
    }
    tops
}

#[test]
fn no_import_cycle_between_top_level_modules_of_src_or_the_emulator() {
    for root in ["src", "emulator/src"] {
        let edges = graph_of(modules_of(root));
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{root}: import cycle: {}", cycle.join(" -> "));
        }
        let tops = top_level(&edges);
        assert!(tops.len() > 8, "{root}: found only {:?}", tops.keys());
        if let Some(cycle) = find_cycle(&tops) {
            panic!(
                "{root}: import cycle between top-level modules: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn src_has_no_import_cycle_between_modules() {
    let edges = graph();
    assert!(edges.len() > 40, "found only {} modules", edges.len());
    assert!(
        edges["commands::apply"].contains("commands::steps"),
        "the graph sees use trees: {:?}",
        edges["commands::apply"]
    );
    assert!(
        edges["commands"].contains("commands::plan"),
        "the graph sees a mod.rs's paths through its children: {:?}",
        edges["commands"]
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn dependencies_point_down_only() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (from, to) in &edges {
        for target in to {
            // Only the entry points reach the commands.
            if top(target) == "commands" && top(from) != "commands" && from != "lib" {
                wrong.push(format!("{from} -> {target}"));
            }
            // The domain layers know nothing of commands, arguments, the program's
            // errors or rendering.
            let domain = ["bitrix", "manifest", "plan", "state", "secrets", "model"];
            let above = ["commands", "cli", "error", "render"];
            if domain.contains(&top(from)) && above.contains(&top(target)) {
                wrong.push(format!("{from} -> {target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_graph_reader_finds_a_cycle_when_there_is_one() {
    let edges = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::new()),
    ]);
    assert_eq!(
        find_cycle(&edges).unwrap(),
        ["a", "b", "c", "a"].map(String::from)
    );
    assert_eq!(
        expand("crate::{a, b::{c, d as e}}"),
        ["crate::a", "crate::b::c", "crate::b::d"]
    );
}

/// Errors print each cause once (src/error.rs): a message names its cause, and no error
/// also returns it from `source()`.
#[test]
fn no_error_keeps_a_cause_its_message_shows() {
    for (module, (text, _)) in modules() {
        assert!(
            !text.contains("#[source]"),
            "{module}: causes are named in the message, not kept as #[source]"
        );
    }
}
/// No source file of paysync or the emulator is longer than 700 lines, its test module
/// left out: a file holds one concern.
#[test]
fn no_source_file_is_over_700_lines() {
    let mut long = Vec::new();
    for root in ["src", "emulator/src"] {
        let dir = repo_root().join(root);
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path.file_name().is_some_and(|n| n != "tests.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let lines = without_tests(&text).lines().count();
                    if lines > 700 {
                        long.push(format!("{} ({lines} lines)", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over 700 lines:\n{}",
        long.join("\n")
    );
}

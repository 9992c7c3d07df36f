//! Manifests: discovery, strict YAML parsing and validation into [`crate::model::Desired`].
//!
//! ```text
//! paths ──discover──▶ files ──yaml::parse──▶ RawDocument (located nodes) ──validate──▶ Desired
//!                                   └────────────── Diagnostics (every problem, located) ◀──┘
//! ```
//!
//! This module reads files and nothing else: no network, no environment (secret
//! references are parsed, never resolved here). User mistakes are never returned one at
//! a time: [`load`] reads every file and document it can and returns all the problems
//! together, sorted by file, line and column.
//!
//! Submodules: `yaml` (the only code that calls the YAML crate), `raw` (the document
//! shape for serde and the JSON Schema), `validate` (the rules of SPEC §1),
//! `diagnostic` (the located problem type).

mod diagnostic;
mod raw;
mod validate;
mod yaml;

#[cfg(test)]
mod tests;

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use raw::json_schema;

use crate::model::{Desired, Origin};

/// The files `paths` name: each file as given, and every `.yaml`/`.yml` file under each
/// directory (recursively, skipping hidden entries such as `.git` and `.github`, whose
/// CI workflows are YAML too; symlinked directories are not followed). Sorted by path,
/// each file once; paths stay as given (relative stays relative), since messages show them.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut diagnostics = Vec::new();
    let files = discover_into(paths, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(files)
    } else {
        Err(Diagnostics::sorted(diagnostics))
    }
}

/// Discovers, parses and validates the manifests under `paths`.
///
/// On error every problem found is returned: a file that cannot be parsed does not stop
/// the others from being checked, nor does a bad document stop the rest of its file.
pub fn load(paths: &[PathBuf]) -> Result<Desired, Diagnostics> {
    let mut diagnostics = Vec::new();
    let files = discover_into(paths, &mut diagnostics);
    let mut validator = validate::Validator::default();
    for file in &files {
        let text = match fs::read(file).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                diagnostics.push(whole_path(
                    "unreadable",
                    file,
                    format!("cannot read {}: not UTF-8 text", file.display()),
                ));
                continue;
            }
            Err(error) => {
                diagnostics.push(whole_path(
                    "unreadable",
                    file,
                    format!("cannot read {}: {error}", file.display()),
                ));
                continue;
            }
        };
        let parsed = yaml::parse(text.strip_prefix('\u{feff}').unwrap_or(&text));
        if parsed.documents.is_empty() && parsed.errors.is_empty() {
            let start = Origin {
                file: file.clone(),
                line: 1,
                column: 1,
            };
            diagnostics.push(
                Diagnostic::new("empty-file", start, "file has no manifest documents")
                    .help("remove the file, or declare a target: apiVersion, kind, paySystem, personType and settings"),
            );
        }
        diagnostics.extend(
            parsed
                .errors
                .into_iter()
                .map(|e| validate::yaml_diagnostic(file, e)),
        );
        for document in &parsed.documents {
            validator.document(file, document);
        }
    }
    diagnostics.append(&mut validator.diagnostics);
    if diagnostics.is_empty() {
        Ok(validator.desired)
    } else {
        Err(Diagnostics::sorted(diagnostics))
    }
}

fn discover_into(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files, diagnostics),
            Ok(_) => files.push(path.clone()),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                let message = format!("{} does not exist", path.display());
                diagnostics.push(
                    whole_path("not-found", path, message)
                        .help("give a manifest file or a directory of manifests"),
                );
            }
            Err(error) => diagnostics.push(whole_path(
                "unreadable",
                path,
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }
    // `dir` and `./dir/a.yaml` name the same file: keep it once, or its target would clash with itself.
    files.sort_by_cached_key(|file| (normalized(file), file.clone()));
    files.dedup_by(|a, b| normalized(a) == normalized(b));
    if files.is_empty() && diagnostics.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let message = format!(
            "no manifest files (.yaml, .yml) found in {}",
            shown.join(", ")
        );
        let path = paths.first().cloned().unwrap_or_default();
        diagnostics.push(
            whole_path("no-manifests", &path, message)
                .help("give the directory that holds the manifests"),
        );
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match fs::read_dir(dir).and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
    {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(whole_path(
                "unreadable",
                dir,
                format!("cannot read {}: {error}", dir.display()),
            ));
            return;
        }
    };
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = dir.join(entry.file_name());
        let is_manifest = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(&path, files, diagnostics),
            Ok(_) if is_manifest && path.is_file() => files.push(path),
            Ok(_) => {}
            Err(error) => diagnostics.push(whole_path(
                "unreadable",
                &path,
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }
}

/// The path without `.` components, for sorting and de-duplication.
fn normalized(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// A problem about a whole path (no line or column).
fn whole_path(code: &'static str, path: &Path, message: String) -> Diagnostic {
    Diagnostic::new(
        code,
        Origin {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
        },
        message,
    )
}

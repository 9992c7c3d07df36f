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
//! Submodules: `located` (located YAML values, plain types), `yaml` (the only code that
//! calls the YAML crate), `raw` (the document shape for serde and the JSON Schema),
//! `validate` (the rules of SPEC §1), `diagnostic` (the located problem type).

mod diagnostic;
mod located;
mod raw;
mod validate;
mod yaml;

#[cfg(test)]
mod tests;

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

pub use diagnostic::{Code, Diagnostic, Diagnostics};
pub use raw::{json_schema, reader_order};

use crate::files::{ReadError, read_regular, size_text};
use crate::model::{Desired, Origin, Target, TargetRef};

pub use raw::{MAX_MANIFEST_BYTES, NewDocument, NewHandler, NewPaySystem, NewSetting};
pub use yaml::write::{Written, write_file, write_objects_file};

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
    finish(load_unchecked(paths)?, Vec::new())
}

/// [`load`], leaving `{ remove: true }` marks for [`load_layers`] to apply.
fn load_unchecked(paths: &[PathBuf]) -> Result<Desired, Diagnostics> {
    let mut diagnostics = Vec::new();
    let files = discover_into(paths, &mut diagnostics);
    let checked = check_files(&files);
    // Problems keep the order of reading one file at a time: every file's own problems,
    // then those of the documents, which `declare` takes in order (the final sort by
    // place is stable, so this order decides between problems at the same place).
    let mut validator = validate::Validator::default();
    let mut documents = Vec::with_capacity(checked.len());
    for file in checked {
        diagnostics.extend(file.problems);
        documents.push(file.documents);
    }
    for document in documents.into_iter().flatten() {
        validator.declare(document);
    }
    diagnostics.append(&mut validator.diagnostics);
    if diagnostics.is_empty() {
        Ok(validator.desired)
    } else {
        Err(Diagnostics::sorted(diagnostics))
    }
}

/// One file, read, parsed and its documents checked on their own.
struct CheckedFile {
    /// Problems with the file itself: unreadable, empty, not YAML.
    problems: Vec<Diagnostic>,
    documents: Vec<validate::CheckedDocument>,
}

/// Checks every file, in parallel; the results are in the order of `files`.
///
/// Reading, parsing and checking a file needs nothing from the other files (targets
/// declared twice are found afterwards, in order, by [`validate::Validator::declare`]),
/// and the YAML parse is most of the time `load` takes: on the 200,000-setting
/// benchmark (`cargo bench --bench paysync -- offline`) one thread per core cut `load`
/// nearly in half on a 2-core machine. Each thread takes the next file not yet taken,
/// so a large file does not hold up the files after it; the results are put back in
/// file order, so the outcome does not depend on the threads.
fn check_files(files: &[PathBuf]) -> Vec<CheckedFile> {
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len());
    if threads <= 1 {
        return files.iter().map(|file| check_file(file)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = files.get(index) else {
                return done;
            };
            done.push((index, check_file(file)));
        }
    };
    let mut slots: Vec<Option<CheckedFile>> = Vec::new();
    slots.resize_with(files.len(), || None);
    thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        let theirs = helpers.into_iter().map(|helper| {
            helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for (index, checked) in theirs.chain([mine]).flatten() {
            slots[index] = Some(checked);
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.expect("every file is checked"))
        .collect()
}

fn check_file(file: &Path) -> CheckedFile {
    let problem = |diagnostic: Diagnostic| CheckedFile {
        problems: vec![diagnostic],
        documents: Vec::new(),
    };
    let unreadable = |why: String| {
        problem(whole_path(
            Code::Unreadable,
            file,
            format!("cannot read {}: {why}", file.display()),
        ))
    };
    // The size and the kind of file are checked before anything is read: a FIFO or a
    // device is refused at once, never waited on, and a file over the limit is not
    // parsed at all.
    let bytes = match read_regular(file, MAX_MANIFEST_BYTES) {
        Ok(bytes) => bytes,
        Err(ReadError::NotRegular { kind }) => {
            return problem(
                whole_path(
                    Code::NotAFile,
                    file,
                    format!("{} is {kind}, not a regular file", file.display()),
                )
                .help("manifests are regular .yaml or .yml files"),
            );
        }
        Err(ReadError::TooLarge { size, limit }) => {
            return problem(
                whole_path(
                    Code::TooLarge,
                    file,
                    format!(
                        "{} is {}; a manifest file may be at most {}",
                        file.display(),
                        size_text(size),
                        size_text(limit)
                    ),
                )
                .help("split the documents over several files"),
            );
        }
        Err(error) => return unreadable(error.to_string()),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => return unreadable("not UTF-8 text".to_owned()),
    };
    let mut problems = Vec::new();
    // One copy of the path, shared by the origin of every setting of the file.
    let file: Arc<Path> = Arc::from(file);
    let file = &file;
    let parsed = yaml::parse(text.strip_prefix('\u{feff}').unwrap_or(&text));
    if parsed.documents.is_empty() && parsed.errors.is_empty() {
        let start = Origin {
            file: Arc::clone(file),
            line: 1,
            column: 1,
            len: 0,
        };
        problems.push(
            Diagnostic::new(Code::EmptyFile, start, "file has no manifest documents")
                .help("remove the file, or declare a target: apiVersion, kind, paySystem, personType and settings"),
        );
    }
    problems.extend(
        parsed
            .errors
            .into_iter()
            .map(|e| validate::messages::yaml_diagnostic(file, e)),
    );
    let documents = parsed
        .documents
        .into_iter()
        .map(|document| validate::check(file, document))
        .collect();
    CheckedFile {
        problems,
        documents,
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
                    whole_path(Code::NotFound, path, message)
                        .help("give a manifest file or a directory of manifests"),
                );
            }
            Err(error) => diagnostics.push(whole_path(
                Code::Unreadable,
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
            whole_path(Code::NoManifests, &path, message)
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
                Code::Unreadable,
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
            // A manifest behind a link is read; a linked directory is not followed. A
            // link that leads nowhere is an error, not a file silently skipped: its
            // targets would be planned as no longer managed.
            Ok(kind) if kind.is_symlink() && is_manifest => match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => files.push(path),
                Err(error) => {
                    let why = if error.kind() == ErrorKind::NotFound {
                        "a symlink to nothing (its target does not exist)".to_owned()
                    } else {
                        format!("a symlink that cannot be followed ({error})")
                    };
                    diagnostics.push(
                        whole_path(
                            Code::BrokenSymlink,
                            &path,
                            format!("{} is {why}", path.display()),
                        )
                        .help("remove the link or point it at a manifest"),
                    );
                }
            },
            // Anything else named .yaml/.yml is read: a FIFO, device or socket is then
            // refused with its location (see `check_file`), never skipped or waited on.
            Ok(kind) if is_manifest && !kind.is_symlink() => files.push(path),
            Ok(_) => {}
            Err(error) => diagnostics.push(whole_path(
                Code::Unreadable,
                &path,
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }
}

/// The path without `.` components, for sorting and de-duplication.
pub(crate) fn normalized(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// A problem about a whole path (no line or column).
fn whole_path(code: Code, path: &Path, message: String) -> Diagnostic {
    Diagnostic::new(
        code,
        Origin {
            file: path.into(),
            line: 0,
            column: 0,
            len: 0,
        },
        message,
    )
}

/// What a reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(Target),
    /// Not on the portal, or not one thing there: why, in words.
    Refused(String),
    /// Not known here (offline, and the state never recorded it): resolved at apply.
    Unknown,
}

/// Resolves the targets the manifests name by reference ([`Desired::pending`]) with
/// `resolve`: found ones join [`Desired::targets`] (a reference that lands on a target
/// declared by ID too is a duplicate), unknown ones stay pending, refused ones are
/// located errors.
pub fn resolve(
    desired: &mut Desired,
    mut resolve: impl FnMut(&TargetRef) -> Resolution,
) -> Result<(), Diagnostics> {
    let mut problems = Vec::new();
    for mut declared in std::mem::take(&mut desired.pending) {
        let Some(reference) = declared.reference.clone() else {
            continue;
        };
        match resolve(&reference) {
            Resolution::Found(target) => {
                if let Some(first) = desired.targets.get(&target) {
                    problems.push(
                        Diagnostic::new(
                            Code::DuplicateTarget,
                            declared.origin.clone(),
                            format!("{reference} is {target}, which is declared more than once"),
                        )
                        .help("declare each target in one document: merge the settings of both")
                        .note(first.origin.clone(), "also declared here"),
                    );
                    continue;
                }
                declared.target = target;
                desired.targets.insert(target, Box::new(declared));
            }
            Resolution::Refused(why) => {
                problems.push(unknown_reference(declared.origin.clone(), why));
            }
            Resolution::Unknown => desired.pending.push(declared),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics::sorted(problems))
    }
}

/// Loads manifest sources in order, each like [`load`] (a target declared twice within
/// one source is an error), and lays each over the ones before it: a target a later
/// source declares again (by the same IDs, or the same reference) is patched code by
/// code — a value replaces the earlier one (and where it comes from), `{ remove: true }`
/// removes the code. A target only a later source declares is added.
///
/// With `subset` (the PATHs given with `--env`), only the targets a document in those
/// files declares (as a base or an overlay) are kept, each with every layer applied.
pub fn load_layers(sources: &[PathBuf], subset: Option<&Subset>) -> Result<Desired, Diagnostics> {
    let mut problems = Vec::new();
    let mut layers = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        match load_unchecked(std::slice::from_ref(source)) {
            Ok(desired) => layers.push(desired),
            // An overlay directory with nothing in it yet (an environment without
            // differences) adds nothing; the first source must hold manifests.
            Err(found)
                if i > 0
                    && source.is_dir()
                    && found.0.iter().all(|d| d.code == Code::NoManifests) => {}
            Err(found) => problems.extend(found.0),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics::sorted(problems));
    }
    let mut merged = Desired::default();
    let mut chosen = Chosen::default();
    for layer in layers {
        if let Some(subset) = subset {
            chosen.note(subset, &layer);
        }
        for (target, declared) in layer.targets {
            match merged.targets.get_mut(&target) {
                Some(base) => patch(base, *declared, &mut problems),
                None => {
                    merged.targets.insert(target, declared);
                }
            }
        }
        // A handler or pay system a later source declares again replaces the earlier
        // declaration whole.
        merged.objects.handlers.extend(layer.objects.handlers);
        merged.objects.pay_systems.extend(layer.objects.pay_systems);
        for declared in layer.pending {
            match merged
                .pending
                .iter_mut()
                .find(|base| base.reference == declared.reference)
            {
                Some(base) => patch(base, declared, &mut problems),
                None => merged.pending.push(declared),
            }
        }
    }
    if subset.is_some() {
        merged.targets.retain(|t, _| chosen.targets.contains(t));
        merged
            .pending
            .retain(|d| chosen.references.contains(&d.reference));
    }
    finish(merged, problems)
}

/// The manifest files a subset of an environment's sources names (`--env NAME PATH...`),
/// compared by their canonical paths, so `./envs/test`, `envs/test/` and an absolute path
/// name the same files.
#[derive(Debug, Clone, Default)]
pub struct Subset {
    files: std::collections::BTreeSet<PathBuf>,
    /// Canonical path → whether it is in the subset, for the files met so far.
    seen: std::cell::RefCell<std::collections::HashMap<Arc<Path>, bool>>,
}

impl Subset {
    /// The files `paths` name (discovered like manifests). Each path must lie within one
    /// of `sources` (an environment's): otherwise `Err` names the first that does not.
    pub fn new(paths: &[PathBuf], sources: &[PathBuf]) -> Result<Subset, SubsetError> {
        let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| normalized(p));
        let roots: Vec<PathBuf> = sources.iter().map(|s| canonical(s)).collect();
        for path in paths {
            let path_c = canonical(path);
            if !roots.iter().any(|root| path_c.starts_with(root)) {
                return Err(SubsetError::Outside { path: path.clone() });
            }
        }
        let files = discover(paths)
            .map_err(SubsetError::Manifests)?
            .iter()
            .map(|f| canonical(f))
            .collect();
        Ok(Subset {
            files,
            seen: Default::default(),
        })
    }

    /// Whether the manifest file `file` is one of the subset's.
    fn contains(&self, file: &Arc<Path>) -> bool {
        if let Some(known) = self.seen.borrow().get(file) {
            return *known;
        }
        let inside = fs::canonicalize(file)
            .map(|c| self.files.contains(&c))
            .unwrap_or(false);
        self.seen.borrow_mut().insert(file.clone(), inside);
        inside
    }
}

/// Why a subset of an environment's manifests cannot be read.
#[derive(Debug)]
pub enum SubsetError {
    /// A PATH outside every source of the environment.
    Outside { path: PathBuf },
    /// The PATHs themselves could not be read.
    Manifests(Diagnostics),
}

/// The targets and references a subset's documents declare.
#[derive(Default)]
struct Chosen {
    targets: std::collections::BTreeSet<Target>,
    references: Vec<Option<Box<TargetRef>>>,
}

impl Chosen {
    fn note(&mut self, subset: &Subset, layer: &Desired) {
        for (target, declared) in &layer.targets {
            if subset.contains(&declared.origin.file) {
                self.targets.insert(*target);
            }
        }
        for declared in &layer.pending {
            if subset.contains(&declared.origin.file)
                && !self.references.contains(&declared.reference)
            {
                self.references.push(declared.reference.clone());
            }
        }
    }
}

/// A reference the portal does not resolve to one target, at `at`: `why`.
pub(crate) fn unknown_reference(at: Origin, why: String) -> Diagnostic {
    Diagnostic::new(Code::UnknownReference, at, why).help(
        "check the pay system's XML_ID (sale.paysystem.list) or the payer type's xmlId/code \
         (sale.persontype.list) on this portal",
    )
}

/// Lays `overlay` over `base`.
fn patch(
    base: &mut crate::model::DesiredTarget,
    overlay: crate::model::DesiredTarget,
    problems: &mut Vec<Diagnostic>,
) {
    for (code, at) in overlay.removed {
        if base.settings.remove(&code).is_none() {
            problems.push(removes_nothing(&code, at));
        }
    }
    // The overlay's values, and where they are declared, replace the base's.
    base.settings.extend(overlay.settings);
}

fn removes_nothing(code: &str, at: Origin) -> Diagnostic {
    Diagnostic::new(
        Code::OverlayWithoutBase,
        at,
        format!("`{code}: {{ remove: true }}` removes a code no earlier source declares for this target"),
    )
    .help("`remove` is for an environment's overlay: list the base manifests first in the environment's `sources`")
}

/// Codes left marked `{ remove: true }` (no earlier source had them) are errors; so is
/// a setting of a pay system the manifests declare whose handler (declared too) does not
/// have the code in its `codes` (the portal would store it and never return it; and a
/// handler update replaces its codes whole, so removing one still managed is caught
/// here); and a delete of a pay system (or handler) the manifests still use.
fn finish(mut desired: Desired, mut problems: Vec<Diagnostic>) -> Result<Desired, Diagnostics> {
    // A handler to delete that a declared pay system still runs.
    for pay_system in desired.objects.pay_systems.values().filter(|p| !p.delete) {
        if let Some(handler) = desired
            .objects
            .handlers
            .get(&pay_system.handler)
            .filter(|h| h.delete)
        {
            problems.push(
                Diagnostic::new(
                    Code::ConflictingFields,
                    pay_system.origin.clone(),
                    format!(
                        "handler {} is to be deleted, but pay system xmlId:{} still runs on it",
                        handler.code, pay_system.xml_id
                    ),
                )
                .help("delete the pay system too (`delete: true`), or keep the handler")
                .note(handler.origin.clone(), "the delete is declared here"),
            );
        }
    }
    for declared in desired
        .pending
        .iter()
        .chain(desired.targets.values().map(|t| &**t))
    {
        let Some(crate::model::PaySystemRef::XmlId(x)) =
            declared.reference.as_ref().map(|r| &r.pay_system)
        else {
            continue;
        };
        let Some(pay_system) = desired.objects.pay_systems.get(x) else {
            continue;
        };
        if pay_system.delete {
            problems.push(
                Diagnostic::new(
                    Code::ConflictingFields,
                    declared.origin.clone(),
                    format!("pay system xmlId:{x} is to be deleted, but this document still manages its settings"),
                )
                .help("remove this document too, or keep the pay system")
                .note(pay_system.origin.clone(), "the delete is declared here"),
            );
            continue;
        }
        let Some(handler) = desired.objects.handlers.get(&pay_system.handler) else {
            continue;
        };
        for code in declared.settings.keys() {
            if handler.codes.contains_key(code.as_str()) {
                continue;
            }
            let at = declared
                .origin_of(code)
                .cloned()
                .unwrap_or_else(|| declared.origin.clone());
            problems.push(
                Diagnostic::new(
                    Code::UndeclaredCode,
                    at,
                    format!(
                        "{code} is not one of the codes of handler {}, which pay system xmlId:{x} runs",
                        handler.code
                    ),
                )
                .help(format!(
                    "add `{code}:` to the handler's `codes`, or stop managing it here"
                ))
                .note(handler.origin.clone(), "the handler is declared here"),
            );
        }
    }
    for declared in desired
        .targets
        .values_mut()
        .map(|declared| &mut **declared)
        .chain(desired.pending.iter_mut())
    {
        for (code, at) in std::mem::take(&mut declared.removed) {
            problems.push(removes_nothing(&code, at));
        }
    }
    if problems.is_empty() {
        Ok(desired)
    } else {
        Err(Diagnostics::sorted(problems))
    }
}

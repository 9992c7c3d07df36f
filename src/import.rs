//! `paysync import`: reads live settings from the portal and writes manifests that
//! round-trip (applying them right after the import plans "No changes."), and with
//! `--adopt` records the imported values as last-applied state so that the first
//! `paysync plan` is empty too.
//!
//! Expected flow: resolve the targets (`--pay-system/--person-type` pairs, `--target`,
//! or `--all`) → `sale.paysystem.handler.list` and `sale.paysystem.list` (which pay
//! systems are REST handlers, the handlers' `CODES`) → with `--all`, the payer types of
//! `sale.persontype.list` → `sale.paysystem.settings.get` for every target (batched) →
//! manifest documents → files (all checked before any is written) → optionally the state.
//!
//! Decisions (also in the README):
//! - Codes written: every code `settings.get` returns with a non-null `TYPE` and `VALUE`
//!   (the plain-string shape of the docs is read as `type: VALUE`), **except inherited
//!   ones**: `settings.get` resolves through a fallback chain (bitrix24-api.md §4), so a
//!   code shows the handler's `DEFAULT` or the pay system's default (personType 0)
//!   mapping without being stored for the target. A value equal to what it would inherit
//!   (personType 0's value when that target is imported in the same run, otherwise the
//!   handler's `DEFAULT`) is left out, so each value is written once, where it is
//!   effectively defined. `--include-inherited` writes every value as read. Either way
//!   the manifests round-trip: a code left out is simply not managed.
//! - `--all` covers every pay system whose `ACTION_FILE` is a REST handler, × personType 0
//!   and every payer type of `sale.persontype.list`; targets left with no codes are
//!   skipped. Targets named explicitly are always written (`settings: {}` when empty).
//!   Targets refused with `ACCESS_DENIED` (another app's handler) are skipped with
//!   `--all` and stop the import when named explicitly.
//! - Secrets: a code whose name or handler `NAME` mentions KEY, SECRET, PASSWORD or TOKEN
//!   (any case), or one named with `--secret`, is written as `{ secret: env:NAME }` with
//!   `NAME = PAYSYNC_PS<id>_PT<id>_<CODE>` (only when its TYPE is `VALUE`: a field source
//!   is not a secret). Its value is never written, printed or logged; with `--adopt` only
//!   its keyed fingerprint reaches the state.
//! - Values are always double-quoted so that YAML keeps them strings.
//!
//! Guarantees: nothing is written unless every target could be read and no file would be
//! overwritten without `--force`; the state is written (under the apply lock) only after
//! the manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::app::{check_portal, connect, plural, runtime};
use crate::cli::{PortalArgs, StateArgs};
use crate::error::{Error, exit};
use crate::files::write_atomically;
use crate::fingerprint::Fingerprinter;
use crate::live::{self, DeclaredCode, PaySystem};
use crate::model::{LiveSetting, SOURCE_VALUE, Target};
use crate::render::terminal::Terminal;
use crate::secrets::Redacted;
use crate::state::store::StateStore;
use crate::state::{LastApplied, RecordedValue};
use crate::untrusted::portal_text;

/// Words that make a setting look secret (in its code or its handler `NAME`).
const SECRET_WORDS: [&str; 4] = ["KEY", "SECRET", "PASSWORD", "TOKEN"];

/// Arguments of `paysync import`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("selection").required(true).multiple(true)
    .args(["pay_system", "target", "all"]))]
pub struct ImportArgs {
    /// Pay system to import; repeatable, paired by position with --person-type.
    #[arg(long = "pay-system", value_name = "ID", requires = "person_type")]
    pub pay_system: Vec<u64>,
    /// Payer type for the --pay-system at the same position (0 = the pay system's defaults).
    #[arg(long = "person-type", value_name = "ID", requires = "pay_system")]
    pub person_type: Vec<u64>,
    /// A target as PAY_SYSTEM:PERSON_TYPE (repeatable), e.g. `--target 11:1 --target 12:0`.
    #[arg(long, value_name = "PAY_SYSTEM:PERSON_TYPE", value_parser = parse_target)]
    pub target: Vec<Target>,
    /// Every pay system backed by a REST handler × personType 0 and every payer type;
    /// targets with nothing set are skipped.
    #[arg(long, conflicts_with_all = ["pay_system", "person_type", "target"])]
    pub all: bool,
    /// Directory the manifests are written to (one file per pay system).
    #[arg(long, value_name = "DIR", default_value = "manifests")]
    pub out: PathBuf,
    /// Overwrite manifest files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Also treat this setting code as a secret (repeatable).
    #[arg(long = "secret", value_name = "CODE")]
    pub secrets: Vec<String>,
    /// Write every value settings.get returns, also those inherited from the pay
    /// system's defaults or the handler's DEFAULT.
    #[arg(long)]
    pub include_inherited: bool,
    /// Also record the imported values as last-applied state, so the first plan is empty.
    #[arg(long)]
    pub adopt: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// The `$schema` written in each file's yaml-language-server header.
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        default_value = "../schema/paysync.schema.json"
    )]
    pub schema_ref: String,
}

fn parse_target(text: &str) -> Result<Target, String> {
    let (ps, pt) = text
        .split_once(':')
        .ok_or_else(|| format!("expected PAY_SYSTEM:PERSON_TYPE, got {text:?}"))?;
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} in {text:?} is not a non-negative integer"))
    };
    let pay_system = number(ps, "the pay system")?;
    if pay_system == 0 {
        return Err(format!("the pay system in {text:?} must be positive"));
    }
    Ok(Target {
        pay_system,
        person_type: number(pt, "the payer type")?,
    })
}

/// Why an import stopped. Never carries a setting value.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "--pay-system was given {pay_systems} time{} and --person-type {person_types} time{}; give them in pairs (or use --target PAY_SYSTEM:PERSON_TYPE)",
        plural(*pay_systems),
        plural(*person_types)
    )]
    UnpairedTargets {
        pay_systems: usize,
        person_types: usize,
    },
    #[error("pay system {pay_system} does not exist on the portal")]
    NoSuchPaySystem { pay_system: u64 },
    #[error(
        "pay system {pay_system} uses the built-in handler {action_file:?}, not a REST handler; its settings cannot be read or managed through REST"
    )]
    NotRestHandler {
        pay_system: u64,
        action_file: String,
    },
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
}

/// One setting as it will be written.
#[derive(Debug)]
enum Imported {
    Plain {
        source: String,
        value: String,
    },
    /// `value` is the live value, kept only to fingerprint it for `--adopt`.
    Secret {
        env: String,
        value: Redacted<String>,
    },
}

/// One manifest document to write.
#[derive(Debug)]
struct Document {
    target: Target,
    settings: BTreeMap<String, Imported>,
}

pub fn run(args: &ImportArgs, term: &Terminal) -> Result<i32, Error> {
    let explicit = explicit_targets(args)?;
    let client = connect(args.portal.rate)?;
    // With --adopt, the lock is taken and the state checked (writable, of this portal)
    // before the first request.
    let adopting = if args.adopt {
        let store = StateStore::new(&args.state.state);
        let lock = store.lock()?;
        store.prepare_writes()?;
        let state = store.load()?.unwrap_or_default();
        check_portal(&store, &state, &client.portal())?;
        Some((store, lock, state))
    } else {
        None
    };
    let rt = runtime()?;
    // Payer types are needed only to enumerate targets for --all.
    let catalog = rt.block_on(live::fetch(&client, args.all))?;
    let pay_systems = &catalog.pay_systems;
    // Handler code → its declared codes (exact code, as ACTION_FILE names it).
    let handlers: BTreeMap<&str, &BTreeMap<String, DeclaredCode>> = catalog
        .handlers
        .iter()
        .map(|h| (h.code.as_str(), &h.codes))
        .collect();

    let targets: Vec<Target> = if args.all {
        let person_types = catalog.person_types.clone().unwrap_or_default();
        let mut targets = Vec::new();
        for (id, ps) in pay_systems {
            if !handlers.contains_key(ps.action_file.as_str()) {
                tracing::debug!(pay_system = id, action_file = %ps.action_file, "skipping a pay system with a built-in handler");
                continue;
            }
            for person_type in std::iter::once(0).chain(person_types.iter().copied()) {
                targets.push(Target {
                    pay_system: *id,
                    person_type,
                });
            }
        }
        targets
    } else {
        for t in &explicit {
            let ps = pay_systems
                .get(&t.pay_system)
                .ok_or(ImportError::NoSuchPaySystem {
                    pay_system: t.pay_system,
                })?;
            if !handlers.contains_key(ps.action_file.as_str()) {
                return Err(ImportError::NotRestHandler {
                    pay_system: t.pay_system,
                    action_file: ps.action_file.clone(),
                }
                .into());
            }
        }
        explicit
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };

    tracing::info!(targets = targets.len(), "reading live settings");
    let read = rt.block_on(live::read_settings(&client, &targets))?;
    let mut live = BTreeMap::new();
    let mut denied = Vec::new();
    for (target, result) in read {
        match result {
            Ok(settings) => {
                live.insert(target, settings);
            }
            // With --all, a pay system of another app's handler (OAuth) is refused; it is
            // not ours to import, so it is skipped rather than failing the whole import.
            Err(error) if args.all && error.code == "ACCESS_DENIED" => {
                tracing::warn!(%target, "skipping a target the portal refused to read (ACCESS_DENIED)");
                denied.push(target);
            }
            Err(error) => return Err(Error::Refresh { target, error }),
        }
    }

    let extra_secrets: BTreeSet<String> = args.secrets.iter().map(|c| c.to_uppercase()).collect();
    let mut documents = Vec::new();
    let mut skipped = Vec::new();
    let mut report = String::new();
    if !denied.is_empty() {
        let _ = writeln!(
            report,
            "Skipped {} target{} the portal refused to read (ACCESS_DENIED): {}.",
            denied.len(),
            plural(denied.len()),
            target_list(&denied)
        );
    }
    for (target, settings) in &live {
        let codes = handlers[pay_systems[&target.pay_system].action_file.as_str()];
        let baseline = (!args.include_inherited).then(|| {
            let defaults = live.get(&Target {
                pay_system: target.pay_system,
                person_type: 0,
            });
            inherited(*target, defaults, codes)
        });
        let doc = document(*target, settings, codes, baseline.as_ref(), &extra_secrets);
        if doc.settings.is_empty() && args.all {
            skipped.push(*target);
        } else {
            documents.push(doc);
        }
    }

    // One file per pay system; every file is checked before any is written.
    let mut files: BTreeMap<u64, Vec<&Document>> = BTreeMap::new();
    for doc in &documents {
        files.entry(doc.target.pay_system).or_default().push(doc);
    }
    let path_of = |ps: u64| args.out.join(format!("paysystem-{ps}.yaml"));
    if !args.force {
        for ps in files.keys() {
            let path = path_of(*ps);
            if path.exists() {
                return Err(ImportError::Exists { path }.into());
            }
        }
    }
    // Stopped by a signal while reading: nothing is written. Once writing starts (local
    // files, a moment), it goes to the end, so no set of files is left half-written.
    crate::app::not_interrupted()?;
    // With --adopt, secrets are recorded by fingerprint: a keyed state needs its key,
    // which is checked before anything is written.
    let adopting = match adopting {
        Some((store, lock, state)) => {
            let fingerprinter = state.fingerprinter(crate::fingerprint::key_from_env());
            let has_secrets = documents.iter().any(|d| {
                d.settings
                    .values()
                    .any(|s| matches!(s, Imported::Secret { .. }))
            });
            if has_secrets && !fingerprinter.can_fingerprint() {
                return Err(Error::FingerprintKeyMissing);
            }
            Some((store, lock, state, fingerprinter))
        }
        None => None,
    };
    if !files.is_empty() {
        std::fs::create_dir_all(&args.out).map_err(|source| Error::Write {
            path: args.out.clone(),
            source,
        })?;
    }
    for (ps, docs) in &files {
        let path = path_of(*ps);
        let system = &pay_systems[ps];
        let text = render_file(&args.schema_ref, *ps, system, docs);
        write_atomically(&path, text.as_bytes()).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let settings: usize = docs.iter().map(|d| d.settings.len()).sum();
        let _ = writeln!(
            report,
            "Wrote {}: {} target{}, {} setting{}.",
            path.display(),
            docs.len(),
            plural(docs.len()),
            settings,
            plural(settings)
        );
    }
    if files.is_empty() {
        report.push_str("Nothing to import: no target has settings of its own.\n");
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            report,
            "Skipped {} target{} with nothing set of their own: {}.",
            skipped.len(),
            plural(skipped.len()),
            target_list(&skipped)
        );
    }

    if let Some((store, _lock, mut state, fingerprinter)) = adopting {
        adopt(
            &store,
            &mut state,
            &fingerprinter,
            client.portal(),
            &documents,
        )?;
        let _ = writeln!(
            report,
            "Adopted {} target{} into {}.",
            documents.len(),
            plural(documents.len()),
            args.state.state.display()
        );
    }

    let variables: Vec<(&str, Target, &str)> = documents
        .iter()
        .flat_map(|d| {
            d.settings.iter().filter_map(|(code, s)| match s {
                Imported::Secret { env, .. } => Some((env.as_str(), d.target, code.as_str())),
                Imported::Plain { .. } => None,
            })
        })
        .collect();
    if !variables.is_empty() {
        let _ = writeln!(
            report,
            "\nSecrets were written as references, not values. Before plan and apply, set:"
        );
        for (env, target, code) in variables {
            let _ = writeln!(report, "  {env}  ({target}, {code})");
        }
    }
    term.out(&report);
    Ok(exit::SUCCESS)
}

/// `11:0, 11:2`.
fn target_list(targets: &[Target]) -> String {
    let list: Vec<String> = targets
        .iter()
        .map(|t| format!("{}:{}", t.pay_system, t.person_type))
        .collect();
    list.join(", ")
}

/// The targets named with `--pay-system/--person-type` pairs and `--target`.
fn explicit_targets(args: &ImportArgs) -> Result<Vec<Target>, ImportError> {
    if args.pay_system.len() != args.person_type.len() {
        return Err(ImportError::UnpairedTargets {
            pay_systems: args.pay_system.len(),
            person_types: args.person_type.len(),
        });
    }
    let mut targets: Vec<Target> = args
        .pay_system
        .iter()
        .zip(&args.person_type)
        .map(|(ps, pt)| Target {
            pay_system: *ps,
            person_type: *pt,
        })
        .collect();
    targets.extend(args.target.iter().copied());
    Ok(targets)
}

/// What each code of `target` would show without a mapping of its own: personType 0's
/// value when that target was read too, otherwise the handler's `DEFAULT`.
fn inherited(
    target: Target,
    defaults: Option<&BTreeMap<String, LiveSetting>>,
    codes: &BTreeMap<String, DeclaredCode>,
) -> BTreeMap<String, LiveSetting> {
    match defaults {
        Some(d) if target.person_type != 0 => d.clone(),
        _ => codes
            .iter()
            .filter_map(|(code, info)| {
                let (source, value) = info.default.clone()?;
                Some((
                    code.clone(),
                    LiveSetting {
                        source: Some(source),
                        value: Some(value),
                        source_known: true,
                    },
                ))
            })
            .collect(),
    }
}

fn is_upper_ident(s: &str, first_digit_ok: bool) -> bool {
    !s.is_empty()
        && (first_digit_ok || s.starts_with(|c: char| c.is_ascii_uppercase()))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The document of one target: the codes worth writing, secrets as references.
fn document(
    target: Target,
    settings: &BTreeMap<String, LiveSetting>,
    codes: &BTreeMap<String, DeclaredCode>,
    baseline: Option<&BTreeMap<String, LiveSetting>>,
    extra_secrets: &BTreeSet<String>,
) -> Document {
    let mut out = BTreeMap::new();
    for (code, live) in settings {
        let Some(value) = &live.value else { continue };
        let source = match (&live.source, live.source_known) {
            (Some(s), _) => s.clone(),
            // The docs' plain-string shape: no TYPE reported; assume a literal.
            (None, false) => SOURCE_VALUE.to_owned(),
            (None, true) => {
                tracing::warn!(%target, code = %portal_text(code), "skipping a setting with a value but no TYPE");
                continue;
            }
        };
        if !is_upper_ident(code, true) || !is_upper_ident(&source, false) {
            tracing::warn!(%target, code = %portal_text(code), source = %portal_text(&source), "skipping a setting whose code or TYPE a manifest cannot express");
            continue;
        }
        if let Some(base) = baseline.and_then(|b| b.get(code))
            && base.value.as_ref() == Some(value)
            && (!live.source_known || !base.source_known || base.source.as_ref() == Some(&source))
        {
            tracing::debug!(%target, code, "left out: inherited");
            continue;
        }
        let name = codes.get(code).and_then(|c| c.name.as_deref());
        // A value holding a credential paysync holds (a callback URL with the webhook
        // code, say) never reaches a file either.
        let holds_credential = crate::untrusted::holds_secret(value);
        if holds_credential && source != SOURCE_VALUE {
            tracing::warn!(%target, code, "skipping a setting whose value holds a credential paysync uses");
            continue;
        }
        let secret = holds_credential
            || extra_secrets.contains(code)
            || looks_secret(code)
            || name.is_some_and(looks_secret);
        let imported = if secret && source == SOURCE_VALUE {
            Imported::Secret {
                env: env_name(target, code),
                value: Redacted::new(value.clone()),
            }
        } else {
            Imported::Plain {
                source,
                value: value.clone(),
            }
        };
        out.insert(code.clone(), imported);
    }
    Document {
        target,
        settings: out,
    }
}

fn looks_secret(text: &str) -> bool {
    let upper = text.to_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// `PAYSYNC_PS<pay system>_PT<payer type>_<CODE>` (codes are `[A-Z0-9_]` already).
fn env_name(target: Target, code: &str) -> String {
    format!(
        "PAYSYNC_PS{}_PT{}_{code}",
        target.pay_system, target.person_type
    )
}

/// A YAML double-quoted scalar. JSON's escapes are YAML's; control characters and the
/// characters YAML treats as line breaks or a BOM are escaped too.
fn quote(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            // Control characters, and the invisible ones that reorder or hide text.
            c if crate::untrusted::is_unsafe_char(c) => {
                let _ = write!(s, "\\u{:04X}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A key written plainly when YAML cannot read it as anything but that string.
fn key(code: &str) -> String {
    const SPECIAL: [&str; 11] = [
        "NULL", "TRUE", "FALSE", "Y", "N", "YES", "NO", "ON", "OFF", "NAN", "INF",
    ];
    if code.starts_with(|c: char| c.is_ascii_uppercase()) && !SPECIAL.contains(&code) {
        code.to_owned()
    } else {
        quote(code)
    }
}

/// One line of free text for a comment: control and invisible characters escaped.
fn comment_text(text: &str) -> String {
    crate::untrusted::escape_controls(text).into_owned()
}

fn render_file(schema: &str, pay_system: u64, system: &PaySystem, docs: &[&Document]) -> String {
    let mut s = format!(
        "# yaml-language-server: $schema={}\n#\n",
        comment_text(schema)
    );
    let _ = writeln!(
        s,
        "# Imported by `paysync import`: pay system {pay_system}{}, handler {}.",
        system
            .name
            .as_deref()
            .map(|n| format!(" \"{}\"", comment_text(n)))
            .unwrap_or_default(),
        comment_text(&system.action_file)
    );
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            s.push_str("---\n");
        }
        let _ = write!(
            s,
            "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {}\npersonType: {}\n",
            doc.target.pay_system, doc.target.person_type
        );
        if doc.settings.is_empty() {
            s.push_str("settings: {}\n");
            continue;
        }
        s.push_str("settings:\n");
        for (code, setting) in &doc.settings {
            let value = match setting {
                Imported::Plain { source, value } if source == SOURCE_VALUE => quote(value),
                Imported::Plain { source, value } => {
                    format!("{{ type: {}, value: {} }}", quote(source), quote(value))
                }
                Imported::Secret { env, .. } => {
                    format!("{{ secret: {} }}", quote(&format!("env:{env}")))
                }
            };
            let _ = writeln!(s, "  {}: {value}", key(code));
        }
    }
    s
}

/// Records the imported settings as last-applied state (under the apply lock).
/// The caller holds the lock and has checked the state's portal.
fn adopt(
    store: &StateStore,
    state: &mut LastApplied,
    fingerprinter: &Fingerprinter,
    portal: String,
    documents: &[Document],
) -> Result<(), Error> {
    state.portal = Some(portal);
    if fingerprinter.is_keyed() {
        state.fingerprints.keyed = true;
    }
    for doc in documents {
        let recorded: BTreeMap<String, RecordedValue> = doc
            .settings
            .iter()
            .map(|(code, s)| {
                let value = match s {
                    Imported::Plain { source, value } => RecordedValue::Plain {
                        source: source.clone(),
                        value: value.clone(),
                    },
                    Imported::Secret { env, value } => RecordedValue::Secret {
                        source: SOURCE_VALUE.to_owned(),
                        secret: format!("env:{env}"),
                        fingerprint: fingerprinter.fingerprint(value),
                    },
                };
                (code.clone(), value)
            })
            .collect();
        if recorded.is_empty() {
            state.targets.remove(&doc.target);
        } else {
            state.targets.insert(doc.target, recorded);
        }
    }
    store.save(state)?;
    tracing::info!(path = %store.path().display(), targets = documents.len(), "adopted the imported settings");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_values_strings() {
        assert_eq!(quote("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\\u0007\"");
        assert_eq!(key("PS_MODE"), "PS_MODE");
        assert_eq!(key("NULL"), "\"NULL\"");
        assert_eq!(key("123"), "\"123\"");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_target("11:0"),
            Ok(Target {
                pay_system: 11,
                person_type: 0
            })
        );
        assert!(parse_target("0:1").is_err());
        assert!(parse_target("11").is_err());
    }

    #[test]
    fn secret_words() {
        assert!(looks_secret("REST_SERVICE_KEY_IFRAME"));
        assert!(looks_secret("Api token"));
        assert!(!looks_secret("PS_WORK_MODE_IFRAME"));
    }
}

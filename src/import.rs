//! Import: live settings → manifest documents (and, for `--adopt`, last-applied state).
//! Pure: the command ([`crate::commands::import`]) reads the portal and writes the files;
//! this module decides what is written. The documents round-trip: applying them right
//! after the import plans "No changes.".
//!
//! Decisions (also in docs/commands.md):
//! - Codes written: every code `settings.get` returns with a non-null `TYPE` and `VALUE`
//!   (the plain-string shape of the docs is read as `type: VALUE`), **except inherited
//!   ones**: `settings.get` resolves through a fallback chain (bitrix24-api.md §4), so a
//!   code shows the handler's `DEFAULT` or the pay system's default (personType 0)
//!   mapping without being stored for the target. A value equal to what it would inherit
//!   (personType 0's value when that target is imported in the same run, otherwise the
//!   handler's `DEFAULT`) is left out, so each value is written once, where it is
//!   effectively defined. `--include-inherited` writes every value as read. Either way
//!   the manifests round-trip: a code left out is simply not managed.
//! - `--all` covers every pay system whose `ACTION_FILE` is a REST handler (compared
//!   without regard to case, as the portal does: [`Catalog::handler_of`]), × personType 0
//!   and every payer type of `sale.persontype.list`; targets left with no codes are
//!   skipped. Targets named explicitly are always written (`settings: {}` when empty).
//! - Secrets: a code whose name or handler `NAME` mentions KEY, SECRET, PASSWORD or TOKEN
//!   (any case), or one named with `--secret`, is written as `{ secret: env:NAME }` with
//!   `NAME = PAYSYNC_PS<id>_PT<id>_<CODE>` (only when its TYPE is `VALUE`: a field source
//!   is not a secret). Its value is never written, printed or logged; with `--adopt` only
//!   its keyed fingerprint reaches the state.
//! - Values are always double-quoted so that YAML keeps them strings.

pub mod objects;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::bitrix::PortalError;
use crate::fingerprint::Fingerprinter;
use crate::live::{Catalog, DeclaredCode, PaySystem, ReadError, Reads};
use crate::manifest::{self, NewDocument, NewSetting};
use crate::model::{
    LiveSetting, LiveSettings, Names, PaySystemRef, PersonTypeRef, SOURCE_VALUE, Target, TargetRef,
};
use crate::secrets::Redacted;
use crate::state::{LastApplied, RecordedSettings, RecordedValue, TargetRecord};
use crate::untrusted::portal_text;

/// Words that make a code (or its handler `NAME`) a secret.
const SECRET_WORDS: [&str; 4] = ["KEY", "SECRET", "PASSWORD", "TOKEN"];

/// Why an import stopped. Never carries a setting value.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
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

/// The settings read of each target.
pub type Read = BTreeMap<Target, LiveSettings>;

/// A target whose settings could not be read: the import stops, writing nothing.
#[derive(Debug)]
pub enum ReadFailure {
    /// The portal refused to read it (and it was named explicitly, or the refusal is not
    /// `ACCESS_DENIED`).
    Refused { target: Target, error: PortalError },
    /// The portal's answer for it cannot be read: what was wrong, in words.
    Unreadable { target: Target, why: String },
}

/// The settings read, by target, and the targets skipped: with `all`, a target the
/// portal refuses to read with `ACCESS_DENIED` (a pay system of another app's handler,
/// with OAuth) is not ours to import and is skipped; named explicitly, it stops the
/// import, as does any other failure.
pub fn sort_reads(reads: Reads, all: bool) -> Result<(Read, Vec<Target>), ReadFailure> {
    let mut live = BTreeMap::new();
    let mut denied = Vec::new();
    for (target, result) in reads {
        match result {
            Ok(settings) => {
                live.insert(target, settings);
            }
            Err(ReadError::Refused(error)) if all && error.code == "ACCESS_DENIED" => {
                tracing::warn!(%target, "skipping a target the portal refused to read (ACCESS_DENIED)");
                denied.push(target);
            }
            Err(ReadError::Refused(error)) => return Err(ReadFailure::Refused { target, error }),
            Err(ReadError::Unreadable(why)) => {
                return Err(ReadFailure::Unreadable { target, why });
            }
        }
    }
    Ok((live, denied))
}

/// The files an import writes: one per pay system, `paysystem-<ID>.yaml` in `out`, with
/// its documents in order. Without `force`, a file that exists already stops the import
/// before any is written.
pub fn files<'a>(
    documents: &'a [Document],
    out: &Path,
    force: bool,
) -> Result<BTreeMap<u64, (PathBuf, Vec<&'a Document>)>, ImportError> {
    let mut files: BTreeMap<u64, (PathBuf, Vec<&Document>)> = BTreeMap::new();
    for doc in documents {
        let ps = doc.target.pay_system;
        files
            .entry(ps)
            .or_insert_with(|| (out.join(format!("paysystem-{ps}.yaml")), Vec::new()))
            .1
            .push(doc);
    }
    if !force && let Some((path, _)) = files.values().find(|(path, _)| path.exists()) {
        return Err(ImportError::Exists { path: path.clone() });
    }
    Ok(files)
}

/// The environment variables the documents' secrets are written as: (variable, target,
/// code), for the report.
pub fn variables(documents: &[Document]) -> Vec<(String, Target, String)> {
    documents
        .iter()
        .flat_map(|d| {
            d.variables()
                .map(|(env, code)| (env.to_owned(), d.target, code.to_owned()))
        })
        .collect()
}

/// One setting as it will be written.
#[derive(Debug)]
pub enum Imported {
    Plain {
        source: String,
        value: String,
    },
    /// `reference` is how the manifest references it (`--secret-ref-template`); `value`
    /// is the live value, kept only to fingerprint it for `--adopt`.
    Secret {
        reference: String,
        value: Redacted<String>,
    },
}

/// One manifest document to write.
#[derive(Debug)]
pub struct Document {
    pub target: Target,
    /// How the manifest names the target (`import --portable`); IDs when `None`.
    pub reference: Option<TargetRef>,
    pub settings: BTreeMap<String, Imported>,
}

impl Document {
    /// The document as a manifest writes it: secrets as `env:` references.
    pub fn manifest(&self) -> NewDocument {
        let settings = self
            .settings
            .iter()
            .map(|(code, imported)| {
                let setting = match imported {
                    Imported::Plain { source, value } if source == SOURCE_VALUE => {
                        NewSetting::Literal(value.clone())
                    }
                    Imported::Plain { source, value } => NewSetting::Source {
                        source: source.clone(),
                        value: value.clone(),
                    },
                    Imported::Secret { reference, .. } => NewSetting::Secret(reference.clone()),
                };
                (code.clone(), setting)
            })
            .collect();
        NewDocument {
            target: self.target,
            reference: self.reference.clone(),
            settings,
        }
    }

    /// What its secrets are written as (an `env:` reference as its variable's name,
    /// another as the whole reference), with their codes.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().filter_map(|(code, s)| match s {
            Imported::Secret { reference, .. } => Some((
                reference.strip_prefix("env:").unwrap_or(reference),
                code.as_str(),
            )),
            Imported::Plain { .. } => None,
        })
    }
}

/// What an import did, for its report ([`crate::render::import`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Targets the portal refused to read (`ACCESS_DENIED`), skipped with `--all`.
    pub denied: Vec<Target>,
    /// The files written, in order.
    pub written: Vec<WrittenFile>,
    /// Targets left out with nothing set of their own (`--all`).
    pub skipped: Vec<Target>,
    /// With `--adopt`: how many targets were recorded, in which state file.
    pub adopted: Option<(usize, crate::state::StateLocation)>,
    /// The environment variables secrets were written as: (variable, target, code).
    pub variables: Vec<(String, Target, String)>,
    /// `--all`: what of the handlers and pay systems could not be written (a pay system
    /// without an `XML_ID`, a handler field the manifests have none for).
    pub object_notes: Vec<String>,
}

/// One manifest file an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub targets: usize,
    pub settings: usize,
    /// The handler or pay system the file declares (`--all`), by name.
    pub object: Option<String>,
}

/// The targets to import: with `all`, every REST-handler pay system × personType 0 and
/// each of `person_types`; otherwise `explicit` (sorted, each once), each checked to be
/// a pay system of a REST handler.
pub fn targets(
    catalog: &Catalog,
    explicit: &[Target],
    all: bool,
) -> Result<Vec<Target>, ImportError> {
    if all {
        let person_types = catalog.person_types.iter().flatten().map(|(id, _)| *id);
        let mut targets = Vec::new();
        for (id, ps) in &catalog.pay_systems {
            if catalog.handler_of(ps).is_none() {
                tracing::debug!(pay_system = id, action_file = %portal_text(&ps.action_file), "skipping a pay system with a built-in handler");
                continue;
            }
            for person_type in std::iter::once(0).chain(person_types.clone()) {
                targets.push(Target {
                    pay_system: *id,
                    person_type,
                });
            }
        }
        return Ok(targets);
    }
    for t in explicit {
        let ps = catalog
            .pay_systems
            .get(&t.pay_system)
            .ok_or(ImportError::NoSuchPaySystem {
                pay_system: t.pay_system,
            })?;
        if catalog.handler_of(ps).is_none() {
            return Err(ImportError::NotRestHandler {
                pay_system: t.pay_system,
                action_file: portal_text(&ps.action_file),
            });
        }
    }
    let unique: BTreeSet<Target> = explicit.iter().copied().collect();
    Ok(unique.into_iter().collect())
}

/// How [`documents`] chooses what to write.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// Write inherited values too (`--include-inherited`).
    pub include_inherited: bool,
    /// Codes also treated as secrets (`--secret`, upper-cased).
    pub extra_secrets: BTreeSet<String>,
    /// Leave out targets with nothing to write (`--all`).
    pub skip_empty: bool,
    /// How secrets are referenced (`--secret-ref-template`).
    pub secret_template: crate::secrets::template::RefTemplate,
}

/// The documents to write for the settings read, and the targets left out because
/// nothing of their own is set (only with [`Choices::skip_empty`]). Every target of
/// `live` is a pay system of `catalog` with a REST handler ([`targets`]).
pub fn documents(
    catalog: &Catalog,
    live: &Read,
    choices: &Choices,
) -> (Vec<Document>, Vec<Target>) {
    let no_codes = BTreeMap::new();
    let mut documents = Vec::new();
    let mut skipped = Vec::new();
    for (target, settings) in live {
        let codes = catalog
            .pay_systems
            .get(&target.pay_system)
            .and_then(|ps| catalog.handler_of(ps))
            .map_or(&no_codes, |h| &h.codes);
        let baseline = (!choices.include_inherited).then(|| {
            let defaults = live.get(&Target {
                pay_system: target.pay_system,
                person_type: 0,
            });
            inherited(*target, defaults, codes)
        });
        let doc = document(*target, settings, codes, baseline.as_ref(), choices);
        if doc.settings.is_empty() && choices.skip_empty {
            skipped.push(*target);
        } else {
            documents.push(doc);
        }
    }
    (documents, skipped)
}

/// The text of the manifest file of `pay_system`: a header naming the schema and the
/// pay system, then its documents.
pub fn file_text(
    schema: &str,
    system: &PaySystem,
    object: Option<&manifest::NewPaySystem>,
    documents: &[&Document],
) -> String {
    let name = system
        .name
        .as_deref()
        .map(|n| format!(" \"{n}\""))
        .unwrap_or_default();
    let header = [
        format!("yaml-language-server: $schema={schema}"),
        String::new(),
        format!(
            "Imported by `paysync import`: pay system {}{name}, handler {}.",
            system.id, system.action_file
        ),
    ];
    let documents: Vec<NewDocument> = documents.iter().map(|d| d.manifest()).collect();
    let mut written: Vec<manifest::Written<'_>> = object
        .into_iter()
        .map(manifest::Written::PaySystem)
        .collect();
    written.extend(documents.iter().map(manifest::Written::Settings));
    manifest::write_objects_file(&header, &written)
}

/// The text of a handler's manifest file (`import --all`).
pub fn handler_file_text(schema: &str, handler: &manifest::NewHandler) -> String {
    let header = [
        format!("yaml-language-server: $schema={schema}"),
        String::new(),
        format!(
            "Imported by `paysync import --all`: REST handler {}.",
            handler.code
        ),
    ];
    manifest::write_objects_file(&header, &[manifest::Written::Handler(handler)])
}

/// A payer type as a portable manifest names it: by its `xmlId`, else its `code`, else
/// (or for 0, the pay system's common settings) its ID.
pub fn portable_person_type(catalog: &Catalog, id: u64) -> PersonTypeRef {
    catalog
        .person_types
        .as_ref()
        .and_then(|types| types.get(&id))
        .filter(|_| id != 0)
        .and_then(|p| match (&p.xml_id, &p.code) {
            (Some(x), _) => Some(PersonTypeRef::XmlId(x.clone())),
            (None, Some(c)) => Some(PersonTypeRef::Code(c.clone())),
            (None, None) => None,
        })
        .unwrap_or(PersonTypeRef::Id(id))
}

/// `import --all`'s reference of a target: its pay system by `XML_ID` (when it has one),
/// its payer type by ID, so the documents apply to a portal where IDs differ.
pub fn xml_id_reference(catalog: &Catalog, target: Target) -> Option<TargetRef> {
    let xml_id = catalog
        .pay_systems
        .get(&target.pay_system)?
        .xml_id
        .clone()
        .filter(|x| !x.is_empty())?;
    Some(TargetRef {
        pay_system: PaySystemRef::XmlId(xml_id),
        person_type: PersonTypeRef::Id(target.person_type),
    })
}

/// Records the imported settings as last-applied state for `portal`, with each target's
/// reference and file (as apply records them) and the `names` read (the caller holds
/// the state lock and saves it).
pub fn adopt(
    state: &mut LastApplied,
    fingerprinter: &Fingerprinter,
    portal: String,
    files: &BTreeMap<u64, (PathBuf, Vec<&Document>)>,
    names: Names,
) {
    state.portal = Some(portal);
    // The names read are recorded, so later plans show them.
    let mut names = names;
    names.fill_from(&state.names);
    state.names = names;
    let documents = files
        .values()
        .flat_map(|(path, docs)| docs.iter().map(move |d| (path, *d)));
    if fingerprinter.is_keyed() {
        state.fingerprints.keyed = true;
    }
    for (path, doc) in documents {
        // Each adopted target's reference and file, as apply records them.
        state.records.insert(
            doc.target,
            TargetRecord {
                reference: doc.reference.as_ref().map(ToString::to_string),
                manifest: Some(path.display().to_string()),
            },
        );
        let recorded: RecordedSettings = doc
            .settings
            .iter()
            .map(|(code, s)| {
                let value = match s {
                    Imported::Plain { source, value } => RecordedValue::Plain {
                        source: source.into(),
                        value: value.into(),
                    },
                    Imported::Secret { reference, value } => RecordedValue::Secret {
                        source: SOURCE_VALUE.into(),
                        // Checked by the template when the import began.
                        secret: Box::new(reference.parse().expect("a template's references parse")),
                        fingerprint: fingerprinter.fingerprint(value),
                    },
                };
                (code.as_str(), value)
            })
            .collect();
        if recorded.is_empty() {
            state.targets.remove(&doc.target);
        } else {
            state.targets.insert(doc.target, recorded);
        }
    }
}

/// What each code of `target` would show without a mapping of its own: personType 0's
/// value when that target was read too, otherwise the handler's `DEFAULT`.
fn inherited(
    target: Target,
    defaults: Option<&LiveSettings>,
    codes: &BTreeMap<String, DeclaredCode>,
) -> LiveSettings {
    match defaults {
        Some(d) if target.person_type != 0 => d.clone(),
        _ => codes
            .iter()
            .filter_map(|(code, info)| {
                let (source, value) = info.default.clone()?;
                Some((
                    code.clone(),
                    LiveSetting {
                        source: Some(source.into()),
                        value: Some(value.into()),
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
    settings: &LiveSettings,
    codes: &BTreeMap<String, DeclaredCode>,
    baseline: Option<&LiveSettings>,
    choices: &Choices,
) -> Document {
    let extra_secrets = &choices.extra_secrets;
    let mut out = BTreeMap::new();
    for (code, live) in settings {
        let Some(value) = live.value.as_deref() else {
            continue;
        };
        let source = match (&live.source, live.source_known) {
            (Some(s), _) => s.to_string(),
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
            && base.value.as_deref() == Some(value)
            && (!live.source_known
                || !base.source_known
                || base.source.as_deref() == Some(&*source))
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
                reference: choices.secret_template.render(
                    target.pay_system,
                    target.person_type,
                    code,
                ),
                value: Redacted::new(value.to_owned()),
            }
        } else {
            Imported::Plain {
                source,
                value: value.to_owned(),
            }
        };
        out.insert(code.to_owned(), imported);
    }
    Document {
        reference: None,
        target,
        settings: out,
    }
}

fn looks_secret(text: &str) -> bool {
    let upper = text.to_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// The portable name of `target` on the portal of `catalog` (`import --portable`): the
/// pay system by its `XML_ID`, the payer type by its `xmlId` or else its `code` (0 stays
/// 0); `None` when neither has one.
pub fn portable_reference(catalog: &Catalog, target: Target) -> Option<TargetRef> {
    let pay_system = match catalog
        .pay_systems
        .get(&target.pay_system)
        .and_then(|p| p.xml_id.clone())
    {
        Some(x) => PaySystemRef::XmlId(x),
        None => PaySystemRef::Id(target.pay_system),
    };
    let person_type = portable_person_type(catalog, target.person_type);
    let reference = TargetRef {
        pay_system,
        person_type,
    };
    reference.ids().is_none().then_some(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Handler;

    fn catalog(action_file: &str, handler: &str) -> Catalog {
        Catalog {
            handlers: vec![Handler {
                code: handler.to_owned(),
                codes: BTreeMap::new(),
            }],
            pay_systems: BTreeMap::from([(
                11,
                PaySystem {
                    id: 11,
                    name: None,
                    xml_id: None,
                    action_file: action_file.to_owned(),
                },
            )]),
            person_types: Some(BTreeMap::from([(1, Default::default())])),
        }
    }

    const T11_1: Target = Target {
        pay_system: 11,
        person_type: 1,
    };

    #[test]
    fn secret_words() {
        assert!(looks_secret("REST_SERVICE_KEY_IFRAME"));
        assert!(looks_secret("Api token"));
        assert!(!looks_secret("PS_WORK_MODE_IFRAME"));
    }

    #[test]
    fn handler_codes_are_matched_without_regard_to_case() {
        let catalog = catalog("ACMEPAY", "acmepay");
        assert_eq!(targets(&catalog, &[T11_1], false).unwrap(), [T11_1]);
        assert_eq!(
            targets(&catalog, &[], true).unwrap().len(),
            2,
            "personType 0 and 1"
        );
        let builtin = catalog_with_builtin();
        assert!(matches!(
            targets(&builtin, &[T11_1], false),
            Err(ImportError::NotRestHandler { .. })
        ));
        assert!(targets(&builtin, &[], true).unwrap().is_empty());
    }

    fn catalog_with_builtin() -> Catalog {
        catalog("cash", "acmepay")
    }
}

//! `paysync import`: reads live settings from the portal and writes manifests that
//! round-trip (what is written is decided in [`crate::import`]), and with `--adopt`
//! records the imported values as last-applied state so that the first `paysync plan`
//! is empty too.
//!
//! Flow: the targets (`--pay-system/--person-type` pairs, `--target`, or `--all`) →
//! `sale.paysystem.handler.list` and `sale.paysystem.list` (which pay systems are REST
//! handlers, the handlers' `CODES`) → with `--all`, the payer types of
//! `sale.persontype.list` → `sale.paysystem.settings.get` for every target (batched) →
//! manifest documents → files (all checked before any is written) → optionally the state.
//!
//! Targets refused with `ACCESS_DENIED` (another app's handler) are skipped with `--all`
//! and stop the import when named explicitly.
//!
//! Guarantees: nothing is written unless every target could be read and no file would be
//! overwritten without `--force`; the state is written (under the apply lock) only after
//! the manifests.

use std::collections::BTreeMap;

use super::steps::{Context, not_interrupted, runtime};
use crate::cli::ImportSettings;
use crate::error::{Error, exit};
use crate::files::write_atomically;
use crate::import::{self, Choices, Document, ImportError, ImportReport, WrittenFile};
use crate::live::{self, ReadError};
use crate::render;

pub fn run(settings: &ImportSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let client = ctx.connect(settings.rate)?;
    // With --adopt, the lock is taken and the state checked (writable, of this portal)
    // before the first request.
    let adopting = if settings.adopt {
        let store = crate::state::open(&settings.state);
        let lock = store.lock()?;
        store.prepare_writes()?;
        let state = store.load()?.unwrap_or_default();
        state.check_portal(store.location(), &client.portal())?;
        Some((store, lock, state))
    } else {
        None
    };
    let rt = runtime()?;
    // Payer types are needed only to enumerate targets for --all.
    let catalog = rt.block_on(live::fetch(&client, settings.all || settings.portable))?;
    let targets = import::targets(&catalog, &settings.targets, settings.all)?;

    tracing::info!(targets = targets.len(), "reading live settings");
    let read = rt.block_on(live::read_settings(&client, &targets))?;
    let mut live = BTreeMap::new();
    let mut report = ImportReport::default();
    for (target, result) in read {
        match result {
            Ok(settings) => {
                live.insert(target, settings);
            }
            // With --all, a pay system of another app's handler (OAuth) is refused; it is
            // not ours to import, so it is skipped rather than failing the whole import.
            Err(ReadError::Refused(error)) if settings.all && error.code == "ACCESS_DENIED" => {
                tracing::warn!(%target, "skipping a target the portal refused to read (ACCESS_DENIED)");
                report.denied.push(target);
            }
            Err(ReadError::Refused(error)) => return Err(Error::Refresh { target, error }),
            Err(ReadError::Unreadable(why)) => {
                return Err(Error::UnreadableTarget {
                    target,
                    why: crate::untrusted::escape_controls(&why).into_owned(),
                });
            }
        }
    }
    let choices = Choices {
        include_inherited: settings.include_inherited,
        extra_secrets: settings.secrets.iter().cloned().collect(),
        skip_empty: settings.all,
    };
    let (mut documents, skipped) = import::documents(&catalog, &live, &choices);
    if settings.portable {
        for doc in &mut documents {
            doc.reference = import::portable_reference(&catalog, doc.target);
        }
    }
    report.skipped = skipped;

    // One file per pay system; every file is checked before any is written.
    let mut files: BTreeMap<u64, Vec<&Document>> = BTreeMap::new();
    for doc in &documents {
        files.entry(doc.target.pay_system).or_default().push(doc);
    }
    let path_of = |ps: u64| settings.out.join(format!("paysystem-{ps}.yaml"));
    if !settings.force {
        for ps in files.keys() {
            let path = path_of(*ps);
            if path.exists() {
                return Err(ImportError::Exists { path }.into());
            }
        }
    }
    // Stopped by a signal while reading: nothing is written. Once writing starts (local
    // files, a moment), it goes to the end, so no set of files is left half-written.
    not_interrupted()?;
    // With --adopt, secrets are recorded by fingerprint: a keyed state needs its key,
    // which is checked before anything is written.
    let adopting = match adopting {
        Some((store, lock, state)) => {
            let fingerprinter = state.fingerprinter(ctx.fingerprint_key());
            let has_secrets = documents.iter().any(|d| d.variables().next().is_some());
            if has_secrets && !fingerprinter.can_fingerprint() {
                return Err(ctx.fingerprint_key_missing());
            }
            Some((store, lock, state, fingerprinter))
        }
        None => None,
    };
    if !files.is_empty() {
        std::fs::create_dir_all(&settings.out).map_err(|source| Error::Write {
            path: settings.out.clone(),
            error: source,
        })?;
    }
    for (ps, docs) in &files {
        let path = path_of(*ps);
        let text = import::file_text(&settings.schema_ref, &catalog.pay_systems[ps], docs);
        write_atomically(&path, text.as_bytes()).map_err(|source| Error::Write {
            path: path.clone(),
            error: source,
        })?;
        report.written.push(WrittenFile {
            path,
            targets: docs.len(),
            settings: docs.iter().map(|d| d.settings.len()).sum(),
        });
    }

    if let Some((store, _lock, mut state, fingerprinter)) = adopting {
        import::adopt(&mut state, &fingerprinter, client.portal(), &documents);
        // Each adopted target's reference and file, as apply records them.
        for doc in &documents {
            state.records.insert(
                doc.target,
                crate::state::TargetRecord {
                    reference: doc.reference.as_ref().map(ToString::to_string),
                    manifest: Some(path_of(doc.target.pay_system).display().to_string()),
                },
            );
        }
        // The names read are recorded, so later plans show them.
        let mut names = catalog.names();
        names.fill_from(&state.names);
        state.names = names;
        store.save(&mut state)?;
        tracing::info!(path = %store.location(), targets = documents.len(), "adopted the imported settings");
        report.adopted = Some((documents.len(), settings.state.clone()));
    }
    report.variables = documents
        .iter()
        .flat_map(|d| {
            d.variables()
                .map(|(env, code)| (env.to_owned(), d.target, code.to_owned()))
        })
        .collect();
    ctx.term.out(&render::import::render(&report));
    Ok(exit::SUCCESS)
}

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

use super::steps::{Context, fingerprinter_for_writing, not_interrupted, runtime};
use crate::cli::ImportSettings;
use crate::error::{Error, exit};
use crate::files::write_atomically;
use crate::import::{self, Choices, ImportReport, WrittenFile};
use crate::live;
use crate::render;

pub fn run(settings: &ImportSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let client = ctx
        .connect(settings.rate)?
        .with_parallelism(settings.parallelism);
    // With --adopt, the lock is taken and the state checked (writable, of this portal)
    // before the first request.
    let adopting = if settings.adopt {
        let store = ctx.open_state(&settings.state)?;
        let lock = store.lock(&super::steps::lock_request(
            "import --adopt",
            None,
            settings.lock_timeout,
        ))?;
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
    let (live, denied) = import::sort_reads(read, settings.all)?;
    let mut report = ImportReport {
        denied,
        ..ImportReport::default()
    };
    let choices = Choices {
        include_inherited: settings.include_inherited,
        extra_secrets: settings.secrets.iter().cloned().collect(),
        skip_empty: settings.all,
        secret_template: settings.secret_template.clone(),
    };
    let (mut documents, skipped) = import::documents(&catalog, &live, &choices);
    if settings.portable {
        for doc in &mut documents {
            doc.reference = import::portable_reference(&catalog, doc.target);
        }
    }
    report.skipped = skipped;

    // One file per pay system; every file is checked before any is written.
    let files = import::files(&documents, &settings.out, settings.force)?;
    // Stopped by a signal while reading: nothing is written. Once writing starts (local
    // files, a moment), it goes to the end, so no set of files is left half-written.
    not_interrupted()?;
    // With --adopt, secrets are recorded by fingerprint: a keyed state needs its key,
    // which is checked before anything is written.
    let adopting = match adopting {
        Some((store, lock, state)) => {
            let has_secrets = documents.iter().any(|d| d.variables().next().is_some());
            let fingerprinter = fingerprinter_for_writing(&state, has_secrets, ctx)?;
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
    for (ps, (path, docs)) in &files {
        let text = import::file_text(&settings.schema_ref, &catalog.pay_systems[ps], docs);
        write_atomically(path, text.as_bytes()).map_err(|source| Error::Write {
            path: path.clone(),
            error: source,
        })?;
        report.written.push(WrittenFile {
            path: path.clone(),
            targets: docs.len(),
            settings: docs.iter().map(|d| d.settings.len()).sum(),
        });
    }

    if let Some((store, _lock, mut state, fingerprinter)) = adopting {
        let portal = client.portal();
        import::adopt(&mut state, &fingerprinter, portal, &files, catalog.names());
        store.save(&mut state)?;
        tracing::info!(path = %store.location(), targets = documents.len(), "adopted the imported settings");
        report.adopted = Some((documents.len(), settings.state.clone()));
    }
    report.variables = import::variables(&documents);
    ctx.term.out(&render::import::render(&report));
    Ok(exit::SUCCESS)
}

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
    } else if settings.all {
        // The pay systems are written too, and found by XML_ID on another portal.
        for doc in &mut documents {
            doc.reference = import::xml_id_reference(&catalog, doc.target);
        }
    }
    report.skipped = skipped;
    // --all: the handlers and pay systems themselves.
    let objects = if settings.all {
        let denied: std::collections::BTreeSet<u64> =
            report.denied.iter().map(|t| t.pay_system).collect();
        rt.block_on(portal_objects(
            &client,
            &catalog,
            &denied,
            settings.portable,
        ))?
    } else {
        PortalObjects::default()
    };
    report.object_notes = objects.notes.clone();

    // One file per pay system; every file is checked before any is written.
    let mut files = import::files(&documents, &settings.out, settings.force)?;
    // A pay system with no settings of its own still gets its file (its document).
    for ps in objects.pay_systems.keys() {
        files.entry(*ps).or_insert_with(|| {
            (
                settings.out.join(format!("paysystem-{ps}.yaml")),
                Vec::new(),
            )
        });
    }
    let handler_files: Vec<(std::path::PathBuf, &crate::manifest::NewHandler)> = objects
        .handlers
        .iter()
        .map(|h| (settings.out.join(handler_file_name(&h.code)), h))
        .collect();
    if !settings.force
        && let Some(path) = handler_files
            .iter()
            .map(|(p, _)| p)
            .chain(files.values().map(|(p, _)| p))
            .find(|p| p.exists())
    {
        return Err(crate::import::ImportError::Exists { path: path.clone() }.into());
    }
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
    if !files.is_empty() || !handler_files.is_empty() {
        std::fs::create_dir_all(&settings.out).map_err(|source| Error::Write {
            path: settings.out.clone(),
            error: source,
        })?;
    }
    // Each file written whole (atomically), then noted for the report.
    let mut write = |text: String, file: WrittenFile| -> Result<(), Error> {
        write_atomically(&file.path, text.as_bytes()).map_err(|source| Error::Write {
            path: file.path.clone(),
            error: source,
        })?;
        report.written.push(file);
        Ok(())
    };
    for (path, handler) in &handler_files {
        write(
            import::handler_file_text(&settings.schema_ref, handler),
            WrittenFile {
                path: path.clone(),
                targets: 0,
                settings: 0,
                object: Some(format!("handler {}", handler.code)),
            },
        )?;
    }
    for (ps, (path, docs)) in &files {
        let object = objects.pay_systems.get(ps).map(|(document, _)| document);
        write(
            import::file_text(&settings.schema_ref, &catalog.pay_systems[ps], object, docs),
            WrittenFile {
                path: path.clone(),
                targets: docs.len(),
                settings: docs.iter().map(|d| d.settings.len()).sum(),
                object: object.map(|o| format!("pay system xmlId:{}", o.xml_id)),
            },
        )?;
    }

    if let Some((store, _lock, mut state, fingerprinter)) = adopting {
        let portal = client.portal();
        import::adopt(&mut state, &fingerprinter, portal, &files, catalog.names());
        // The handlers and pay systems, as the written manifests declare them.
        let written: Vec<std::path::PathBuf> =
            report.written.iter().map(|f| f.path.clone()).collect();
        if !objects.handlers.is_empty() || !objects.pay_systems.is_empty() {
            let desired = crate::manifest::load(&written).map_err(Error::Manifests)?;
            adopt_objects(&mut state, &desired.objects, &objects);
        }
        store.save(&mut state)?;
        tracing::info!(path = %store.location(), targets = documents.len(), "adopted the imported settings");
        report.adopted = Some((documents.len(), settings.state.clone()));
    }
    report.variables = import::variables(&documents);
    ctx.term.out(&render::import::render(&report));
    Ok(exit::SUCCESS)
}

/// The handlers and pay systems `import --all` writes, and what it cannot.
#[derive(Default)]
struct PortalObjects {
    handlers: Vec<crate::manifest::NewHandler>,
    /// Each handler's ID, by code.
    handler_ids: std::collections::BTreeMap<String, u64>,
    /// By pay system ID, with its payer type's ID on this portal.
    pay_systems: std::collections::BTreeMap<u64, (crate::manifest::NewPaySystem, u64)>,
    notes: Vec<String>,
}

/// Reads the portal's REST handlers (whole) and pay systems, as documents: every handler
/// but one a refused pay system runs (another application's), every REST pay system with
/// an `XML_ID` that was not refused.
async fn portal_objects(
    client: &crate::bitrix::Client,
    catalog: &crate::live::Catalog,
    denied: &std::collections::BTreeSet<u64>,
    portable: bool,
) -> Result<PortalObjects, Error> {
    use crate::import::objects::{handler_document, pay_system_document, portal_handlers};
    let handlers = portal_handlers(&client.call(&crate::bitrix::Request::handler_list()).await?);
    let live = crate::live::read_objects(client, false).await?;
    let mut out = PortalObjects::default();
    let foreign: std::collections::BTreeSet<String> = catalog
        .pay_systems
        .values()
        .filter(|p| denied.contains(&p.id))
        .map(|p| p.action_file.to_lowercase())
        .collect();
    for handler in &handlers {
        if foreign.contains(&handler.code.to_lowercase()) {
            out.notes.push(format!(
                "handler {} (its pay systems could not be read: another application's)",
                crate::untrusted::portal_text(&handler.code)
            ));
            continue;
        }
        out.handler_ids.insert(handler.code.clone(), handler.id);
        let (document, left_out) = handler_document(handler);
        if !left_out.is_empty() {
            out.notes.push(format!(
                "{} of handler {} (no manifest field)",
                left_out.join(", "),
                crate::untrusted::portal_text(&handler.code)
            ));
        }
        out.handlers.push(document);
    }
    for system in catalog.pay_systems.values() {
        if catalog.handler_of(system).is_none() || denied.contains(&system.id) {
            continue;
        }
        let Some(xml_id) = system.xml_id.as_deref().filter(|x| !x.is_empty()) else {
            out.notes.push(format!(
                "pay system {} as a PaySystem document (it has no XML_ID to find it by on another portal; its settings are written by ID)",
                system.id
            ));
            continue;
        };
        let Some(found) = live
            .pay_systems
            .get(xml_id)
            .and_then(|all| all.iter().find(|p| p.id == system.id))
        else {
            continue;
        };
        let person_type_id: u64 = found
            .fields
            .get(crate::model::objects::PERSON_TYPE_FIELD)
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        let person_type = if portable {
            crate::import::portable_person_type(catalog, person_type_id)
        } else {
            crate::model::PersonTypeRef::Id(person_type_id)
        };
        if let Some(document) = pay_system_document(system, &found.fields, person_type) {
            out.pay_systems
                .insert(system.id, (document, person_type_id));
        }
    }
    Ok(out)
}

/// `handler-CODE.yaml`, the code kept to characters safe in a file name.
fn handler_file_name(code: &str) -> String {
    let safe: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("handler-{safe}.yaml")
}

/// Records the handlers and pay systems written (`import --all --adopt`) as the state
/// records what apply created: each with its ID here and its fields as the manifests
/// declare them, so the first plan is empty.
fn adopt_objects(
    state: &mut crate::state::LastApplied,
    declared: &crate::model::objects::DesiredObjects,
    objects: &PortalObjects,
) {
    for (code, handler) in &declared.handlers {
        if let Some(id) = objects.handler_ids.get(code) {
            state.objects.handlers.insert(
                code.clone(),
                crate::state::RecordedObject {
                    id: *id,
                    fields: handler.fields(),
                    manifest: Some(handler.origin.file.display().to_string()),
                    deleted: false,
                },
            );
        }
    }
    for (id, (written, person_type)) in &objects.pay_systems {
        let Some(pay_system) = declared.pay_systems.get(&written.xml_id) else {
            continue;
        };
        state.objects.pay_systems.insert(
            written.xml_id.clone(),
            crate::state::RecordedObject {
                id: *id,
                fields: pay_system.fields(Some(*person_type)),
                manifest: Some(pay_system.origin.file.display().to_string()),
                deleted: false,
            },
        );
    }
}

//! `paysync validate`: the manifests parsed and checked; with `--live`, also against what
//! the portal declares (reads only). Problems exit 3; with `--format json` or `github`
//! they are reported on stdout, for programs and for the pull request's diff.

use std::collections::BTreeSet;
use std::path::Path;

use super::steps::{Context, load_manifests, runtime};
use crate::cli::{ValidateFormat, ValidateSettings};
use crate::error::{Error, exit};
use crate::live::{Prefetch, check_live_reading};
use crate::manifest::Diagnostics;
use crate::model::Desired;
use crate::render::diagnostics;
use crate::wording::plural;

pub fn run(settings: &ValidateSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    // The portal the documents name: the one `--live` reads.
    let portal = settings
        .live
        .then(|| ctx.connect(settings.rate).ok().map(|c| c.portal()))
        .flatten();
    let about = crate::ci::about(portal, settings.environment.clone());
    match (check(settings, ctx), settings.format) {
        (Ok(desired), ValidateFormat::Text) => {
            let (targets, codes, files) = counts(&desired);
            let secrets = if settings.secrets {
                format!(
                    "; {} resolve",
                    plural(desired.secret_refs().len(), "secret reference")
                )
            } else {
                String::new()
            };
            let objects = match (
                desired.objects.handlers.len(),
                desired.objects.pay_systems.len(),
            ) {
                (0, 0) => String::new(),
                (h, p) => format!("{}, {}, ", plural(h, "handler"), plural(p, "pay system")),
            };
            ctx.term.out(&format!(
                "Valid: {objects}{} with {} in {}{secrets}.\n",
                plural(targets, "target"),
                plural(codes, "setting"),
                plural(files, "file"),
            ));
            Ok(exit::SUCCESS)
        }
        (Ok(desired), ValidateFormat::Json) => {
            let (targets, codes, files) = counts(&desired);
            let summary = diagnostics::Counts {
                targets,
                settings: codes,
                files,
                handlers: desired.objects.handlers.len(),
                pay_systems: desired.objects.pay_systems.len(),
            };
            ctx.term.out(&diagnostics::json(
                &Diagnostics::default(),
                Some(summary),
                &about,
            ));
            Ok(exit::SUCCESS)
        }
        (Ok(_), ValidateFormat::Github) => Ok(exit::SUCCESS),
        (Err(Error::Manifests(found)), ValidateFormat::Json) => {
            ctx.term.out(&diagnostics::json(&found, None, &about));
            Ok(exit::INVALID_INPUT)
        }
        (Err(Error::Manifests(found)), ValidateFormat::Github) => {
            ctx.term.out(&diagnostics::github(&found));
            Ok(exit::INVALID_INPUT)
        }
        (Err(e), _) => Err(e),
    }
}

/// The manifests, checked (and checked against the portal with `--live`).
fn check(settings: &ValidateSettings, ctx: &Context<'_>) -> Result<Desired, Error> {
    let mut desired = load_manifests(
        &settings.paths,
        settings.layered,
        settings.subset.as_deref(),
    )?;
    if settings.secrets {
        // Every source, commands included; the values are dropped at once.
        let refs = desired.secret_refs();
        crate::apply::ResolvedSecrets::resolve(&ctx.secret_resolver(), refs.iter().copied())
            .map_err(|errors| {
                Error::Secrets(crate::secrets::Unresolved::list(
                    errors,
                    &desired.secret_places(),
                ))
            })?;
    }
    if settings.live {
        let client = ctx.connect(settings.rate)?;
        let state = crate::state::LastApplied::default();
        let rt = runtime()?;
        rt.block_on(check_live_reading(
            &client,
            &mut desired,
            &state.resolutions(),
            &mut Vec::new(),
            Prefetch::None,
        ))?;
        // Handlers and pay systems: what the plan would refuse (a changed registry type,
        // an XML_ID several pay systems share, a handler or payer type not there).
        if !desired.objects.is_empty() {
            let portable = desired.objects.names_person_types_portably();
            let live = rt.block_on(crate::live::read_objects(&client, portable))?;
            crate::plan::objects::compute(
                &desired.objects,
                &state.objects,
                Some(&live),
                &|_| 0,
                &|_| true,
            )
            .map_err(|problems| Error::Manifests(Diagnostics::sorted(problems)))?;
        }
    }
    Ok(desired)
}

/// Targets, settings and files of valid manifests: those named by IDs and those named
/// by a reference not resolved offline alike.
fn counts(desired: &Desired) -> (usize, usize, usize) {
    let targets = || {
        desired
            .targets
            .values()
            .map(|t| &**t)
            .chain(desired.pending.iter())
    };
    let codes: usize = targets().map(|t| t.settings.len()).sum();
    let objects = desired
        .objects
        .handlers
        .values()
        .map(|h| &*h.origin.file)
        .chain(
            desired
                .objects
                .pay_systems
                .values()
                .map(|p| &*p.origin.file),
        );
    let files: BTreeSet<&Path> = targets().map(|t| &*t.origin.file).chain(objects).collect();
    (targets().count(), codes, files.len())
}

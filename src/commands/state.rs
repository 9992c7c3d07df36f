//! `paysync state ...`: work on the state file itself.

use std::path::Path;
use std::time::Duration;

use super::steps::{Context, lock_request, record_history, runtime};
use crate::bitrix;
use crate::cli::{ListFormat, MovePortalSettings};
use crate::error::{Error, StateNeededFor, exit};
use crate::state::{LastApplied, StateLocation};
use crate::wording::plural;

/// `paysync state move-portal URL`: re-points the state file at a portal's new address
/// (the credentials must already point there), after checking that the portal answers
/// there. Under the state lock; the serial is bumped, so plans made before are stale.
pub fn move_portal(settings: &MovePortalSettings, ctx: &Context<'_>) -> Result<i32, Error> {
    let requested = bitrix::portal_address(&settings.url)?;
    let client = ctx.connect(settings.rate)?;
    if !bitrix::same_portal(&client.portal(), &requested) {
        return Err(Error::CredentialsElsewhere {
            requested,
            credentials: client.portal(),
            variable: client.address_variable(),
        });
    }
    let store = ctx.open_state(&settings.state)?;
    let _lock = store.lock(&super::steps::lock_request(
        "state move-portal",
        None,
        settings.lock_timeout,
    ))?;
    store.prepare_writes()?;
    let Some(mut state) = store.load()? else {
        return Err(Error::NoStateFile {
            state: store.location().clone(),
            needed_for: StateNeededFor::MovePortal,
        });
    };
    if let Some(recorded) = &state.portal
        && bitrix::same_portal(recorded, &requested)
    {
        ctx.term.out(&format!(
            "The state file {} already points at {recorded}; nothing to do.\n",
            store.location()
        ));
        return Ok(exit::SUCCESS);
    }
    // A read the portal answers only with working credentials and the pay_system scope.
    runtime()?.block_on(async {
        client
            .call(&bitrix::Request::handler_list())
            .await
            .map_err(|source| Error::NotAnswering {
                portal: requested.clone(),
                error: source,
            })
    })?;
    // A format-1 state is written as format 2 here: carry over what can be.
    let fingerprinter = state.fingerprinter(ctx.fingerprint_key());
    let recorded_env =
        crate::apply::ResolvedSecrets::available(&ctx.secret_resolver(), state.env_secrets());
    state.carry_over(&fingerprinter, |_, _, recorded| recorded_env.get(recorded));
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let before = state.move_portal(requested.clone(), now);
    store.save(&mut state)?;
    tracing::info!(
        from = before.as_deref().unwrap_or("(none)"),
        to = %requested,
        serial = state.serial,
        "moved the state file to the portal's new address"
    );
    ctx.term.out(&format!(
        "Moved the state file {} from {} to {requested} (serial {}). Plans made before the move \
         are stale; plan again.\n",
        store.location(),
        before.as_deref().unwrap_or("no portal"),
        state.serial
    ));
    Ok(exit::SUCCESS)
}

/// `paysync state pull`: the state as JSON on stdout, with a stopped run's records
/// replayed. Takes no lock.
pub fn pull(location: &StateLocation, ctx: &Context<'_>) -> Result<i32, Error> {
    let state = load_existing(location, StateNeededFor::Show, ctx)?;
    ctx.term.out(&String::from_utf8_lossy(
        &crate::state::replay::state_bytes(&state),
    ));
    Ok(exit::SUCCESS)
}

fn load_existing(
    location: &StateLocation,
    needed_for: StateNeededFor,
    ctx: &Context<'_>,
) -> Result<LastApplied, Error> {
    let store = ctx.open_state(location)?;
    store.load()?.ok_or_else(|| Error::NoStateFile {
        state: location.clone(),
        needed_for,
    })
}

/// `paysync state push FILE`: replaces the state with FILE under the lock; FILE must be
/// of the state's lineage and portal and not older, unless `force`.
pub fn push(
    file: &Path,
    force: bool,
    location: &StateLocation,
    timeout: Duration,
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    let bytes =
        crate::files::read_regular(file, crate::state::file::MAX_STATE_BYTES).map_err(|e| {
            Error::StateTool {
                message: format!("cannot read {}: {e}", file.display()),
            }
        })?;
    let mut pushed =
        crate::state::replay::parse_state(bytes, &StateLocation::File(file.to_owned()))?;
    let store = ctx.open_state(location)?;
    let _lock = store.lock(&lock_request("state push", None, timeout))?;
    store.prepare_writes()?;
    let current = store.load()?;
    let serial_before = current.as_ref().map_or(0, |c| c.serial);
    if let Some(current) = &current {
        let refusal = if current.lineage != pushed.lineage {
            Some(format!(
                "{} is of lineage {}, but the state {location} is of lineage {}: it is another \
                 state",
                file.display(),
                pushed.lineage,
                current.lineage
            ))
        } else if pushed.serial < current.serial {
            Some(format!(
                "{} is at serial {}, but the state {location} is at {}: it is older, and pushing \
                 it would lose what was applied since",
                file.display(),
                pushed.serial,
                current.serial
            ))
        } else if let (Some(a), Some(b)) = (&pushed.portal, &current.portal)
            && !crate::bitrix::same_portal(a, b)
        {
            Some(format!(
                "{} was made for {}, but the state {location} is of {}",
                file.display(),
                crate::untrusted::portal_text(a),
                crate::untrusted::portal_text(b)
            ))
        } else {
            None
        };
        match refusal {
            Some(reason) if !force => {
                return Err(Error::StateTool {
                    message: format!(
                        "{reason}; nothing was pushed (--force pushes anyway: dangerous)"
                    ),
                });
            }
            Some(reason) => tracing::warn!("--force: {reason}; pushing anyway"),
            None => {}
        }
        pushed.serial = pushed.serial.max(current.serial);
    }
    store.save(&mut pushed)?;
    let operation = if force {
        "state push --force"
    } else {
        "state push"
    };
    record_history(
        &*store,
        operation,
        None,
        (serial_before, pushed.serial),
        Vec::new(),
    );
    ctx.term.out(&format!(
        "Pushed {} to {location} (serial {}).\n",
        file.display(),
        pushed.serial
    ));
    Ok(exit::SUCCESS)
}

/// `paysync state migrate --to LOCATION`: copies the state (lineage, serial, every byte)
/// and its audit trail to a location that holds none, both under their locks.
pub fn migrate(
    from: &StateLocation,
    to: &StateLocation,
    timeout: Duration,
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    if from == to {
        return Err(Error::StateTool {
            message: format!("--to {to} is where the state is already"),
        });
    }
    let source = ctx.open_state(from)?;
    let _source_lock = source.lock(&lock_request("state migrate", None, timeout))?;
    source.prepare_writes()?;
    let state = source.load()?.ok_or_else(|| Error::NoStateFile {
        state: from.clone(),
        needed_for: StateNeededFor::Migrate,
    })?;
    let destination = ctx.open_state(to)?;
    let _destination_lock = destination.lock(&lock_request("state migrate", None, timeout))?;
    destination.prepare_writes()?;
    if let Some(there) = destination.load()? {
        return Err(Error::StateTool {
            message: format!(
                "{to} holds a state already (lineage {}, serial {}); nothing was copied. Migrate \
                 to a new location, or remove that state first",
                there.lineage, there.serial
            ),
        });
    }
    destination.write_copy(&state)?;
    let history = source.history().unwrap_or_default();
    for entry in &history {
        destination.record_history(entry)?;
    }
    ctx.term.out(&format!(
        "Copied the state {from} to {to} (lineage {}, serial {}, {}). {from} is left as it was: \
         point --state or `state:` in paysync.yaml at {to}, then remove it.\n",
        state.lineage,
        state.serial,
        plural(history.len(), "audit record")
    ));
    Ok(exit::SUCCESS)
}

/// `paysync state list`: the targets and codes the state records.
pub fn list(location: &StateLocation, format: ListFormat, ctx: &Context<'_>) -> Result<i32, Error> {
    let state = load_existing(location, StateNeededFor::Show, ctx)?;
    match format {
        ListFormat::Json => {
            use crate::render::state_documents::{self as docs, ListedTarget, StateListDocument};
            let document = StateListDocument {
                header: docs::header(state.portal.clone(), ctx.secrets.environment.clone()),
                state: location.to_string(),
                lineage: state.lineage.clone(),
                serial: state.serial,
                targets: state
                    .targets
                    .iter()
                    .map(|(target, codes)| ListedTarget {
                        pay_system: target.pay_system,
                        person_type: target.person_type,
                        reference: state.records.get(target).and_then(|r| r.reference.clone()),
                        codes: codes.keys().map(ToString::to_string).collect(),
                    })
                    .collect(),
                objects: state
                    .objects
                    .held()
                    .map(|(kind, identity, record)| docs::ListedObject {
                        kind,
                        identity: identity.clone(),
                        id: record.id,
                    })
                    .collect(),
            };
            ctx.term.out(&docs::pretty(&document));
        }
        ListFormat::Text => {
            let mut text = format!(
                "{}: serial {}, {} recorded\n",
                crate::untrusted::escape_controls(&location.to_string()),
                state.serial,
                plural(state.targets.len(), "target")
            );
            for (target, codes) in &state.targets {
                let reference = state
                    .records
                    .get(target)
                    .and_then(|r| r.reference.as_deref())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                let codes: Vec<&str> = codes.keys().collect();
                let line = format!("{target}{reference}  {}", codes.join(", "));
                text.push_str(&crate::untrusted::escape_controls(&line));
                text.push('\n');
            }
            for (kind, identity, record) in state.objects.held() {
                let line = format!("{} (ID {})", kind.name(identity), record.id);
                text.push_str(&crate::untrusted::escape_controls(&line));
                text.push('\n');
            }
            ctx.term.out(&text);
        }
    }
    Ok(exit::SUCCESS)
}

/// `paysync state unlock LOCK_ID`.
pub fn unlock(location: &StateLocation, id: &str, ctx: &Context<'_>) -> Result<i32, Error> {
    let store = ctx.open_state(location)?;
    store.unlock(id)?;
    ctx.term.out(&format!(
        "Removed the lock {} of the state {location}.\n",
        crate::untrusted::escape_controls(id)
    ));
    Ok(exit::SUCCESS)
}

/// `paysync state history`: the audit trail, oldest first.
pub fn history(
    location: &StateLocation,
    format: ListFormat,
    ctx: &Context<'_>,
) -> Result<i32, Error> {
    let store = ctx.open_state(location)?;
    let entries = store.history()?;
    match format {
        ListFormat::Json => {
            use crate::render::state_documents::{self as docs, StateHistoryDocument};
            ctx.term.out(&docs::pretty(&StateHistoryDocument {
                header: docs::header(None, ctx.secrets.environment.clone()),
                state: location.to_string(),
                entries: entries.iter().map(Into::into).collect(),
            }));
        }
        ListFormat::Text => {
            let mut text = String::new();
            if entries.is_empty() {
                text.push_str(&format!("No apply is recorded for {location} yet.\n"));
            }
            for e in &entries {
                let escaped = |t: &str| crate::untrusted::escape_controls(t).into_owned();
                text.push_str(&escaped(&format!(
                    "{}  {}  {}  serial {} -> {}  {}{}{}",
                    e.at,
                    e.operation,
                    e.who,
                    e.serial_before,
                    e.serial_after,
                    plural(e.written.len(), "target"),
                    e.plan
                        .as_deref()
                        .map(|p| format!("  plan {p}"))
                        .unwrap_or_default(),
                    e.run_url
                        .as_deref()
                        .map(|r| format!("  {r}"))
                        .unwrap_or_default(),
                )));
                text.push('\n');
                for w in &e.written {
                    text.push_str(&escaped(&format!(
                        "    {}: {}",
                        w.target,
                        w.codes.join(", ")
                    )));
                    text.push('\n');
                }
            }
            ctx.term.out(&text);
        }
    }
    Ok(exit::SUCCESS)
}

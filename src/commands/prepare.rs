//! The preparation `plan` and `apply` share (uv's `sync` reusing `LockOperation` is the
//! model): inputs → loaded manifests, the state, live reads, secrets, fingerprints, the
//! plan. Each step is a call into the layer that owns its rule; this file only puts
//! them in order.
//!
//! # Expected flow
//! 1. The manifests are loaded (layered, a subset with `--env` PATHs).
//! 2. `apply` only: without `--auto-approve` it needs a terminal; it connects, takes the
//!    state's lock and prepares it for writing before reading it.
//! 3. The state is read and refused if it was made for another portal.
//! 4. References are resolved: on the portal when connected (`--refresh` also reads the
//!    catalog and the settings of the first targets), else as the state recorded them.
//! 5. The scope (`--target`, PATHs) narrows what is planned.
//! 6. Secrets are read and fingerprinted; recorded fingerprints of another kind are
//!    carried over for the secrets whose value this run knows.
//! 7. With `--refresh`, the live settings are read; a target whose answer cannot be
//!    read is set aside (never compared, planned or written).
//! 8. The plan is computed, with where it was made, the names read and the warnings.
//!
//! # The differences ([`Purpose`])
//! - **Secrets**: `plan` reads what it can (a missing one is "not checked", an empty one
//!   shown as such, a source that may not be read at plan time not read at all);
//!   `apply` reads every one before the first request and stops if one cannot be read.
//! - **The lock**: `apply` takes it (and connects) before it reads the state.
//! - **Names**: `apply` writes the names it read back into the state it will save.

use std::collections::BTreeSet;

use super::steps::{
    Context, Runtime, fingerprinter_for_writing, load_manifests, refresh, resolve_recorded,
    runtime, state_notes,
};
use crate::apply::ResolvedSecrets;
use crate::bitrix::Client;
use crate::cli::Inputs;
use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use crate::live::{Prefetch, Unreadable, check_live_reading, resolve_connected};
use crate::model::Names;
use crate::plan::scope::{Scope, not_returned, set_aside};
use crate::plan::{self, DesiredValues, Plan, SecretCheck};
use crate::secrets::Unresolved;
use crate::state::{LastApplied, StateBackend, StateLock};

/// What the preparation is for (see the module docs for what differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `paysync plan`: offline unless `--refresh`; reads no lock; lenient secrets, and
    /// those that run a command only when `resolve_secrets`.
    Plan { resolve_secrets: bool },
    /// `paysync apply` (from manifests): connects and locks first; every secret read.
    /// Without `auto_approve` it needs a terminal to ask on.
    Apply {
        auto_approve: bool,
        lock_timeout: std::time::Duration,
    },
}

/// A connection to the portal, with the runtime its requests run on.
pub(crate) struct Connection {
    pub(crate) rt: Runtime,
    pub(crate) client: Client,
}

/// What the preparation made, for the command to show, save or apply.
pub(crate) struct Prepared {
    pub(crate) plan: Plan,
    /// The state planned against (for `apply`, with the references and names recorded;
    /// the one to record into).
    pub(crate) state: LastApplied,
    /// Whether a state existed.
    pub(crate) had_state: bool,
    pub(crate) store: Box<dyn StateBackend>,
    /// The writer's lock (`apply`), held until dropped.
    pub(crate) lock: Option<StateLock>,
    pub(crate) connection: Option<Connection>,
    /// The secrets read (for `plan`, those it could).
    pub(crate) secrets: ResolvedSecrets,
    pub(crate) fingerprinter: Fingerprinter,
    /// Targets set aside because their live settings could not be read.
    pub(crate) unreadable: Unreadable,
}

/// Runs the preparation (see the module docs).
pub(crate) fn prepare(
    inputs: &Inputs,
    purpose: Purpose,
    ctx: &Context<'_>,
) -> Result<Prepared, Error> {
    let apply = matches!(purpose, Purpose::Apply { .. });
    let mut desired = load_manifests(&inputs.paths, inputs.layered, inputs.subset.as_deref())?;
    if let Purpose::Apply {
        auto_approve: false,
        ..
    } = purpose
        && !ctx.term.interactive()
    {
        return Err(Error::NeedsApproval);
    }
    let store = ctx.open_state(&inputs.state)?;
    // apply: connected, locked and ready to write before the state is read; plan reads
    // the state first, and connects only for --refresh.
    let (connection, lock, existing) = if apply {
        let client = ctx
            .connect(inputs.rate)?
            .with_parallelism(inputs.parallelism);
        let timeout = match purpose {
            Purpose::Apply { lock_timeout, .. } => lock_timeout,
            Purpose::Plan { .. } => std::time::Duration::ZERO,
        };
        let lock = store.lock(&super::steps::lock_request("apply", None, timeout))?;
        store.prepare_writes()?;
        let existing = store.load()?;
        let rt = runtime()?;
        (Some(Connection { rt, client }), Some(lock), existing)
    } else {
        let existing = store.load()?;
        let connection = if inputs.refresh {
            let client = ctx
                .connect(inputs.rate)?
                .with_parallelism(inputs.parallelism);
            Some(Connection {
                rt: runtime()?,
                client,
            })
        } else {
            None
        };
        (connection, None, existing)
    };
    let mut connection = connection;
    let had_state = existing.is_some();
    let mut state = existing.unwrap_or_default();
    if let Some(c) = &connection {
        state.check_portal(store.location(), &c.client.portal())?;
    }
    let mut warnings = state_notes(inputs);

    // References: resolved on the portal when connected, else as the state recorded them.
    let (mut names, prefetched) = match &mut connection {
        Some(c) if inputs.refresh => c.rt.block_on(check_live_reading(
            &c.client,
            &mut desired,
            &state.resolutions(),
            &mut warnings,
            Prefetch::Selected(&inputs.targets),
        ))?,
        Some(c) => (
            c.rt.block_on(resolve_connected(
                &c.client,
                &mut desired,
                &state.resolutions(),
                &mut warnings,
            ))?,
            Default::default(),
        ),
        None => {
            resolve_recorded(&mut desired, &state)?;
            (Names::default(), Default::default())
        }
    };
    let read = inputs.subset.as_ref().unwrap_or(&inputs.paths);
    let scope = Scope::new(&inputs.targets, read, &desired, &state)
        .map_err(crate::error::UsageError::from)?;
    scope.narrow(&mut desired);
    if apply {
        state.record_declared(&desired);
    }

    // Secrets: apply reads every one before the first request; plan what it can.
    let refs = desired.secret_refs();
    let resolver = ctx.secret_resolver();
    let (secrets, empty, fingerprinter) = if apply {
        let secrets = ResolvedSecrets::resolve(&resolver, refs.iter().copied())
            .map_err(|errors| Error::Secrets(Unresolved::list(errors, &desired.secret_places())))?;
        let fingerprinter = fingerprinter_for_writing(&state, !refs.is_empty(), ctx)?;
        (secrets, BTreeSet::new(), fingerprinter)
    } else {
        let every = matches!(
            purpose,
            Purpose::Plan {
                resolve_secrets: true
            }
        );
        let (secrets, empty) =
            ResolvedSecrets::at_plan_time(&resolver, refs.iter().copied(), every);
        let fingerprinter = state.fingerprinter(ctx.fingerprint_key());
        // Said when it is why secrets that could be read are not checked: a pull-request
        // plan with no secrets at all has nothing the key would change.
        if !fingerprinter.can_fingerprint() && !secrets.values().is_empty() {
            let warning = format!(
                "this state's secret fingerprints are keyed with {}, which is not set: secrets \
                 are not checked",
                ctx.fingerprint_key_variable()
            );
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        (secrets, empty, fingerprinter)
    };
    // The slow fingerprints (unkeyed Argon2id) all at once, on every core.
    fingerprinter.precompute(secrets.values().values());
    state.carry_over(&fingerprinter, |target, code, recorded| {
        desired.secret_value(target, code, recorded, secrets.values())
    });
    // Handlers and pay systems (issue 24): against the portal when connected, else the
    // state. Not with `--target`, which narrows the settings planned.
    let declared = std::mem::take(&mut desired.objects);
    let objects = match &connection {
        _ if !inputs.targets.is_empty() => Vec::new(),
        _ if declared.is_empty() && state.objects.is_empty() => Vec::new(),
        Some(c) => {
            let portable = declared.names_person_types_portably();
            let live =
                c.rt.block_on(crate::live::read_objects(&c.client, portable))?;
            plan_objects(&declared, &state, Some(&live), &scope)?
        }
        None => plan_objects(&declared, &state, None, &scope)?,
    };
    let mut values = DesiredValues::new(desired, |r| match secrets.get(r) {
        Some(v) => fingerprinter
            .fingerprint(v)
            .map_or(SecretCheck::Unreadable, SecretCheck::Checked),
        None if empty.contains(r) => SecretCheck::Empty,
        None => SecretCheck::Unreadable,
    });

    // --refresh: the live settings; a target whose answer cannot be read is set aside.
    let mut recorded = scope.recorded(&state, &values);
    let mut unreadable = Unreadable::new();
    let live = match &connection {
        Some(c) if inputs.refresh => {
            let (live, set) = refresh(&c.rt, &c.client, &values, prefetched, ctx.term)?;
            warnings.extend(not_returned(&values, &live));
            set_aside(&set, &mut values, &mut recorded, &mut warnings);
            unreadable = set;
            Some(live)
        }
        _ => None,
    };
    let mut plan = plan::compute(values, &recorded, live.as_ref(), &fingerprinter);
    // A pay system to delete takes its settings with it: its targets are forgotten with
    // it (its entry says so), not listed as codes "left as is on the portal".
    let deleted: Vec<u64> = objects
        .iter()
        .filter(|o| {
            o.kind == crate::model::objects::ObjectKind::PaySystem
                && o.action == plan::objects::ObjectAction::Delete
        })
        .filter_map(|o| o.id)
        .collect();
    plan.targets.retain(|t| {
        !deleted.contains(&t.target.pay_system)
            || t.changes.iter().any(|c| c.action != plan::Action::Forget)
    });
    plan.objects = objects;
    // Offline: the portal the state was applied to, else the one the environment pins.
    let portal = match &connection {
        Some(c) => Some(c.client.portal()),
        None => state.portal.clone().or_else(|| ctx.secrets.portal.clone()),
    };
    plan.about = crate::ci::about(portal, inputs.environment.clone());
    plan.warnings = warnings;
    names.fill_from(&state.names);
    if apply {
        // The names read now replace the recorded ones.
        state.names = names.clone();
    }
    plan.names = names;
    Ok(Prepared {
        plan,
        state,
        had_state,
        store,
        lock,
        connection,
        secrets,
        fingerprinter,
        unreadable,
    })
}

/// The plan of the handlers and pay systems (see [`plan::objects::compute`]); a changed
/// fixed field is a located error.
fn plan_objects(
    declared: &crate::model::objects::DesiredObjects,
    state: &LastApplied,
    live: Option<&plan::objects::LiveObjects>,
    scope: &Scope,
) -> Result<Vec<plan::objects::ObjectPlan>, Error> {
    let affected = |id: u64| state.targets.keys().filter(|t| t.pay_system == id).count();
    let in_scope = |r: &crate::state::RecordedObject| scope.covers_manifest(r.manifest.as_deref());
    plan::objects::compute(declared, &state.objects, live, &affected, &in_scope)
        .map_err(|problems| Error::Manifests(crate::manifest::Diagnostics::sorted(problems)))
}

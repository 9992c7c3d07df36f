//! `paysync state ...`: work on the state file itself.

use super::steps::{Context, runtime};
use crate::bitrix;
use crate::cli::MovePortalSettings;
use crate::error::{Error, StateNeededFor, exit};

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
    let store = crate::state::open(&settings.state);
    let _lock = store.lock()?;
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
    let recorded_env = crate::apply::ResolvedSecrets::available(state.env_secrets());
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

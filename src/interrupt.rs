//! SIGINT and SIGTERM (SPEC §7): the first asks the run to stop cleanly, a second one
//! stops it at once.
//!
//! # Expected flow
//! 1. `main` calls [`install`] before running a command: from then on the signals no
//!    longer kill the process; a thread of ours receives them.
//! 2. The first signal is recorded ([`received`]) and wakes everything waiting in
//!    [`wait`]. Work checks for it at its own safe points: apply sends no new batch and
//!    awaits the one in flight for at most [`IN_FLIGHT_GRACE`] (then saves what the
//!    portal confirmed, releases the lock and reports); the client starts no new attempt
//!    and cuts its waits short; reads (`plan --refresh`, `drift`, `import`) stop and
//!    write nothing; a confirmation prompt is abandoned.
//! 3. The command ends with exit code 130 (SIGINT) or 143 (SIGTERM), saying what was and
//!    was not done.
//! 4. A second signal ends the process at once with the same code. The state file is
//!    still whole (writes are atomic renames), the kernel releases the lock, and the
//!    next run that takes the lock removes any temporary file left behind.
//!
//! SIGXFSZ (a write past `ulimit -f`) is taken over too, so that such a write fails with
//! an error paysync reports instead of killing it silently.
//!
//! On platforms without Unix signals [`install`] does nothing and the defaults apply.

use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long apply waits, after a signal, for the answer of the batch already sent
/// before it stops and reports those targets' outcome as unknown.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(20);

/// A signal that asks paysync to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit code 130.
    Interrupt,
    /// SIGTERM (a CI runner cancelling the job, `kill`): exit code 143.
    Terminate,
}

impl Signal {
    /// The conventional exit code: 128 + the signal number.
    pub const fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    fn code(self) -> u8 {
        match self {
            Signal::Interrupt => 1,
            Signal::Terminate => 2,
        }
    }

    fn from_code(code: u8) -> Option<Signal> {
        match code {
            1 => Some(Signal::Interrupt),
            2 => Some(Signal::Terminate),
            _ => None,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static RECEIVED: AtomicU8 = AtomicU8::new(0);
static NOTIFY: Notify = Notify::const_new();
static INSTALL: Once = Once::new();

/// The first stop signal received, if any.
pub fn received() -> Option<Signal> {
    Signal::from_code(RECEIVED.load(Ordering::SeqCst))
}

/// Resolves once a stop signal has been received (at once if one already was).
pub async fn wait() -> Signal {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a signal between the two still wakes us.
        notified.as_mut().enable();
        if let Some(signal) = received() {
            return signal;
        }
        notified.await;
    }
}

/// Records `signal` as if it had been received (the signal thread's work; tests).
pub fn raise(signal: Signal) {
    if RECEIVED
        .compare_exchange(0, signal.code(), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        NOTIFY.notify_waiters();
        token().cancel();
    }
}

/// The cancellation the first stop signal triggers, for the clients a command makes
/// ([`crate::bitrix::Client::with_cancel`]): they send nothing new after it.
pub fn token() -> crate::bitrix::Cancel {
    static TOKEN: std::sync::OnceLock<crate::bitrix::Cancel> = std::sync::OnceLock::new();
    TOKEN.get_or_init(crate::bitrix::Cancel::new).clone()
}

/// Takes over SIGINT and SIGTERM for the rest of the process (once; later calls do
/// nothing): the first is recorded for the run to stop cleanly, the second exits at once.
pub fn install() {
    INSTALL.call_once(install_handlers);
}

#[cfg(unix)]
fn install_handlers() {
    use signal_hook::consts::{SIGINT, SIGTERM};

    // A write past `ulimit -f` raises SIGXFSZ, whose default action kills the process
    // without a word (and with the state lock's holder gone mid-record). With a handler
    // of our own the write fails with EFBIG instead, which apply reports like a full
    // disk: confirmed targets not recorded, nothing more sent.
    if let Err(error) = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    ) {
        tracing::warn!(%error, "cannot take over SIGXFSZ; a file-size limit would stop paysync at once");
    }
    use signal_hook::iterator::Signals;

    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            tracing::warn!(%error, "cannot take over SIGINT/SIGTERM; they will stop paysync at once");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("paysync-signals".into())
        .spawn(move || {
            for number in signals.forever() {
                let signal = if number == SIGTERM {
                    Signal::Terminate
                } else {
                    Signal::Interrupt
                };
                if received().is_some() {
                    // The second signal: stop now. Whatever is on disk is whole (atomic
                    // writes), and the kernel releases the state lock.
                    tracing::error!("{signal} received again: stopping at once");
                    std::process::exit(signal.exit_code());
                }
                tracing::warn!(
                    "{signal} received: stopping cleanly (send it again to stop at once)"
                );
                raise(signal);
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot take over SIGINT/SIGTERM; they will stop paysync at once");
    }
}

#[cfg(not(unix))]
fn install_handlers() {}

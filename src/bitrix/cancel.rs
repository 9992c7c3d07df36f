//! What stops a client: a [`Cancel`] token the caller passes in (kube-runtime's
//! `graceful_shutdown_on` is the model), and a [`SecretSink`] the client reports every
//! secret it learns to. Both are arguments, never process-wide state read deep inside
//! the client, so one client can be cancelled alone in a test and this module needs
//! nothing from the program around it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A cancellation shared by clones: once [`Cancel::cancel`] is called, the client sends
/// nothing new, starts no new attempt and cuts its waits short.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelState>);

#[derive(Default)]
struct CancelState {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels: everything waiting in [`Cancel::cancelled`] wakes.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a cancel in between still wakes us.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Where a client reports the secrets it learns while it runs (the tokens of a refresh
/// answer or of the token file), so that the program can keep them out of everything
/// it prints. The default reports nowhere.
#[derive(Clone, Default)]
pub struct SecretSink(Option<Arc<Report>>);

/// What a [`SecretSink`] calls with each secret.
type Report = dyn Fn(&str) + Send + Sync;

impl SecretSink {
    /// A sink calling `report` with each secret.
    pub fn new(report: impl Fn(&str) + Send + Sync + 'static) -> SecretSink {
        SecretSink(Some(Arc::new(report)))
    }

    /// Reports `secret`.
    pub fn remember(&self, secret: &str) {
        if let Some(report) = &self.0 {
            report(secret);
        }
    }
}

impl fmt::Debug for SecretSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSink")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_wakes_its_waiters_and_stays() {
        let cancel = Cancel::new();
        let other = cancel.clone();
        let waiting = tokio::spawn(async move { other.cancelled().await });
        cancel.cancel();
        waiting.await.unwrap();
        assert!(cancel.is_cancelled());
        cancel.cancelled().await;
        assert!(!Cancel::new().is_cancelled());
    }
}

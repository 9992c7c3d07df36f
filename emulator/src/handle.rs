//! Starting and controlling an emulator: [`EmulatorHandle`].
//!
//! `start` runs the server on its own thread with its own tokio runtime, so plain
//! `#[test]` functions can use it; `start_async` runs it as a task on the caller's
//! runtime (the binary). Every control method is synchronous (a std mutex guards the
//! portal). The server stops on [`EmulatorHandle::shutdown`] or when the last clone of
//! the handle is dropped.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::fault::Fault;
use crate::portal::{Mapping, Portal};
use crate::record::RecordedRequest;
use crate::seed::{BatchLengthMode, Seed, SettingsShape};
use crate::server::{Shared, router};

/// Another name for [`EmulatorHandle`]: `Emulator::start(Seed::demo())`.
pub type Emulator = EmulatorHandle;

/// A running emulated portal. Cheap to clone; all clones control the same server.
/// Its `Debug` output shows only the address (the portal state holds credentials).
#[derive(Clone)]
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    server: Arc<ServerGuard>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

/// Stops the server when dropped (that is, when the last handle goes away).
#[derive(Debug)]
struct ServerGuard {
    addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ServerGuard {
    fn stop(&self) {
        if let Some(stop) = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // The receiver is gone only if the server already stopped.
            let _ = stop.send(());
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            // The thread only fails if the server task panicked; nothing to recover.
            let _ = thread.join();
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn invalid_seed(error: crate::SeedError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error)
}

/// Serves until told to stop (or until every handle is gone). In-flight connections are
/// dropped with the runtime or task; tests never wait on a slow client.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router, stop: oneshot::Receiver<()>) {
    tokio::select! {
        result = axum::serve(listener, app).into_future() => {
            if let Err(error) = result {
                tracing::error!(%error, "emulator server failed");
            }
        }
        _ = stop => {}
    }
}

impl EmulatorHandle {
    /// Starts on `127.0.0.1:0` on a dedicated thread with its own (current-thread) runtime.
    pub fn start(seed: Seed) -> io::Result<EmulatorHandle> {
        seed.validate().map_err(invalid_seed)?;
        let shared = Arc::new(Shared::new(Portal::from_seed(seed)));
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let app = router(Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name(format!("paysync-emulator-{}", addr.port()))
            .spawn(move || runtime.block_on(serve(listener, app, stop_rx)))?;
        Ok(EmulatorHandle {
            shared,
            server: Arc::new(ServerGuard {
                addr,
                stop: Mutex::new(Some(stop_tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Starts on `addr` as a task on the caller's tokio runtime.
    pub async fn start_async(seed: Seed, addr: SocketAddr) -> io::Result<EmulatorHandle> {
        seed.validate().map_err(invalid_seed)?;
        let shared = Arc::new(Shared::new(Portal::from_seed(seed)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(serve(listener, router(Arc::clone(&shared)), stop_rx));
        Ok(EmulatorHandle {
            shared,
            server: Arc::new(ServerGuard {
                addr,
                stop: Mutex::new(Some(stop_tx)),
                thread: Mutex::new(None),
            }),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// `http://127.0.0.1:PORT/rest/<user_id>/<secret>/` (append a method name).
    pub fn webhook_url(&self) -> String {
        let portal = self.shared.lock();
        format!(
            "{}/rest/{}/{}/",
            self.base_url(),
            portal.webhook.user_id,
            portal.webhook.secret
        )
    }

    /// `http://127.0.0.1:PORT/rest/` (OAuth `client_endpoint`; pass `auth`).
    pub fn oauth_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url())
    }

    /// Every HTTP request received so far, in processing order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// The raw stored mapping (no fallback): `(TYPE, VALUE)`. The code is upper-cased.
    pub fn setting(
        &self,
        pay_system: u64,
        person_type: u64,
        code: &str,
    ) -> Option<(Option<String>, Option<String>)> {
        let portal = self.shared.lock();
        portal
            .store
            .settings
            .get(&(pay_system, person_type, code.to_uppercase()))
            .map(|m| (m.type_.clone(), m.value.clone()))
    }

    /// All raw stored mappings of one (pay system, person type), by code.
    pub fn settings(
        &self,
        pay_system: u64,
        person_type: u64,
    ) -> BTreeMap<String, (Option<String>, Option<String>)> {
        let portal = self.shared.lock();
        portal
            .store
            .settings
            .iter()
            .filter(|((ps, pt, _), _)| *ps == pay_system && *pt == person_type)
            .map(|((_, _, code), m)| (code.clone(), (m.type_.clone(), m.value.clone())))
            .collect()
    }

    /// An out-of-band change (someone edited the setting in the portal's UI).
    pub fn set_setting(
        &self,
        pay_system: u64,
        person_type: u64,
        code: &str,
        type_: &str,
        value: &str,
    ) {
        let mapping = Mapping {
            type_: Some(type_.to_owned()),
            value: Some(value.to_owned()),
        };
        self.shared
            .lock()
            .store
            .set_mapping(pay_system, person_type, code, mapping);
    }

    /// Removes a stored mapping out of band (the portal falls back to common/DEFAULT).
    pub fn remove_setting(&self, pay_system: u64, person_type: u64, code: &str) {
        self.shared
            .lock()
            .store
            .settings
            .remove(&(pay_system, person_type, code.to_uppercase()));
    }

    /// Adds a fault; faults are checked in injection order.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Switches the `settings.get` response shape.
    pub fn set_settings_shape(&self, shape: SettingsShape) {
        self.shared.lock().settings_shape = shape;
    }

    /// Switches what a batch of more than 50 sub-calls does.
    pub fn set_batch_length_mode(&self, mode: BatchLengthMode) {
        self.shared.lock().batch_length_mode = mode;
    }

    /// Stops the server now (for every clone) and waits for its thread.
    pub fn shutdown(self) {
        self.server.stop();
    }
}

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
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::fault::Fault;
use crate::limits::{OperatingLimit, RateLimit};
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

fn shared(seed: Seed, clock: Clock, addr: SocketAddr) -> Arc<Shared> {
    Arc::new(Shared::new(Portal::from_seed(
        seed,
        clock,
        format!("http://{addr}"),
    )))
}

impl EmulatorHandle {
    /// Starts on `127.0.0.1:0` on a dedicated thread with its own (current-thread) runtime,
    /// on the real clock.
    pub fn start(seed: Seed) -> io::Result<EmulatorHandle> {
        EmulatorHandle::start_with_clock(seed, Clock::System)
    }

    /// Like [`EmulatorHandle::start`], with every time-dependent thing (the `time`
    /// object, the leaky bucket, operating buckets, token expiry) read from `clock`.
    /// With [`Clock::Virtual`] a test moves time by [`crate::VirtualClock::advance`].
    pub fn start_with_clock(seed: Seed, clock: Clock) -> io::Result<EmulatorHandle> {
        seed.validate().map_err(invalid_seed)?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = shared(seed, clock, addr);
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
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = shared(seed, Clock::System, addr);
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

    /// `http://127.0.0.1:PORT/rest/`: the OAuth REST base (`client_endpoint`; append a
    /// method name and pass `auth`).
    pub fn rest_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url())
    }

    /// `http://127.0.0.1:PORT/oauth/token/`: the token endpoint (refresh grant), standing
    /// in for `https://oauth.bitrix.info/oauth/token/`.
    pub fn oauth_endpoint(&self) -> String {
        format!("{}/oauth/token/", self.base_url())
    }

    /// The clock the portal reads.
    pub fn clock(&self) -> Clock {
        self.shared.clock().clone()
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

    /// Every REST handler: `(ID, CODE, NAME, SETTINGS as registered)`, by ID.
    pub fn handlers(&self) -> Vec<(u64, String, String, serde_json::Value)> {
        let portal = self.shared.lock();
        portal
            .store
            .handlers
            .values()
            .map(|h| (h.id, h.code.clone(), h.name.clone(), h.settings.clone()))
            .collect()
    }

    /// Every pay system, by ID, as `sale.paysystem.list` names its fields (`ID`, `NAME`,
    /// `XML_ID`, `ACTION_FILE`, `PERSON_TYPE_ID`, `ENTITY_REGISTRY_TYPE`, `ACTIVE`,
    /// `NEW_WINDOW`, `DESCRIPTION`).
    pub fn pay_systems(&self) -> Vec<serde_json::Value> {
        let portal = self.shared.lock();
        portal
            .store
            .pay_systems
            .values()
            .map(|p| {
                serde_json::json!({
                    "ID": p.id,
                    "NAME": p.name,
                    "XML_ID": p.xml_id,
                    "ACTION_FILE": p.action_file,
                    "PERSON_TYPE_ID": p.person_type_id,
                    "ENTITY_REGISTRY_TYPE": p.entity_registry_type,
                    "ACTIVE": p.active,
                    "NEW_WINDOW": p.new_window,
                    "DESCRIPTION": p.description,
                })
            })
            .collect()
    }

    /// An out-of-band change: someone renamed a pay system in the portal's UI.
    pub fn rename_pay_system(&self, id: u64, name: &str) {
        if let Some(p) = self.shared.lock().store.pay_systems.get_mut(&id) {
            p.name = name.to_owned();
        }
    }

    /// An out-of-band change: someone deleted a pay system in the portal's UI.
    pub fn remove_pay_system(&self, id: u64) {
        self.shared.lock().store.pay_systems.remove(&id);
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
    /// Pages `sale.paysystem.list` by `size` rows (`start`, `next`, `total`), as a portal
    /// may; `None` returns every row at once (the default).
    pub fn set_pay_system_page(&self, size: Option<usize>) {
        self.shared.lock().pay_system_page = size;
    }

    pub fn set_settings_shape(&self, shape: SettingsShape) {
        self.shared.lock().settings_shape = shape;
    }

    /// Switches what a batch of more than 50 sub-calls does.
    pub fn set_batch_length_mode(&self, mode: BatchLengthMode) {
        self.shared.lock().batch_length_mode = mode;
    }

    /// Turns the §9.1 leaky bucket on (`Some`) or off (`None`); the bucket starts empty.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.lock().set_rate_limit(limit);
    }

    /// How many HTTP requests have arrived so far, counted as each arrives, before any
    /// fault, delay or processing: a request a `delay` fault holds is counted here while
    /// it is not yet in [`EmulatorHandle::requests`].
    pub fn requests_received(&self) -> u64 {
        self.shared.received()
    }

    /// How many requests the leaky bucket refused (503 `QUERY_LIMIT_EXCEEDED`); injected
    /// `request_error` faults are not counted.
    pub fn limit_rejections(&self) -> u64 {
        self.shared.lock().limit_rejections
    }

    /// Turns the §9.2 operating-time budget on (`Some`) or off (`None`). Turning it on or
    /// off forgets the accumulated buckets.
    pub fn set_operating_limit(&self, limit: Option<OperatingLimit>) {
        let mut portal = self.shared.lock();
        portal.operating_limit = limit;
        portal.operating = Default::default();
    }

    /// The lifetime of access tokens the token endpoint issues from now on (default 1 h).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().oauth.token_lifetime = lifetime;
    }

    /// The `client_endpoint` the token endpoint answers from now on: `Some(url)` (say
    /// another emulator's `rest_endpoint()`, a portal that moved), or `None` for this
    /// portal's own `rest_endpoint()` (the default).
    pub fn set_client_endpoint(&self, endpoint: Option<String>) {
        self.shared.lock().client_endpoint = endpoint;
    }

    /// Makes one access token (seeded or issued) expired from now on; `false` if unknown.
    pub fn expire_access_token(&self, token: &str) -> bool {
        let mut portal = self.shared.lock();
        let now = portal.now();
        portal.oauth.expire(Some(token), now)
    }

    /// Makes every access token expired from now on.
    pub fn expire_all_access_tokens(&self) {
        let mut portal = self.shared.lock();
        let now = portal.now();
        portal.oauth.expire(None, now);
    }

    /// Successful refreshes at the token endpoint.
    pub fn token_refreshes(&self) -> u64 {
        self.shared.lock().oauth.refreshes
    }

    /// Every request to the token endpoint (successful, refused or faulted).
    pub fn refresh_requests(&self) -> u64 {
        self.shared.lock().oauth.requests
    }

    /// Stops the server now (for every clone) and waits for its thread.
    pub fn shutdown(self) {
        self.server.stop();
    }
}

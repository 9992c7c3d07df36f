//! The state in a service speaking the Terraform HTTP backend protocol, as GitLab serves
//! it ("GitLab-managed Terraform state": `/api/v4/projects/:id/terraform/state/:name`)
//! ([`StateLocation::Http`]):
//!
//! - `GET ADDRESS`: 200 with the state; 204 or 404 when there is none;
//! - `POST ADDRESS?ID=<lock ID>` with the state JSON (its top-level `serial`, which GitLab
//!   requires): written only under the lock this run holds;
//! - `POST ADDRESS/lock` with a `LockInfo` (`ID`, `Operation`, `Info`, `Who`, `Version`,
//!   `Created`, `Path`): 200 when taken; 409 (or 423) with the holder's `LockInfo` when
//!   held; `DELETE ADDRESS/lock` with the same `LockInfo` releases it.
//!
//! Basic authentication from `PAYSYNC_STATE_USERNAME` / `PAYSYNC_STATE_PASSWORD` (in
//! GitLab CI: `gitlab-ci-token` and `$CI_JOB_TOKEN`), read through the environment's
//! mapping.
//!
//! **What the protocol cannot do.** It has no append and no lease: a lock stays until it
//! is released, and a killed run's lock must be removed with `paysync state unlock ID`
//! (the ID is in the message of the run that finds it). An apply pushes the whole state
//! every [`PUSH_EVERY`] confirmed requests (every `targets / 2,000` for a state of more
//! than 10,000 targets, so an apply pushes a large state some 40 times, never once per
//! request: the cost stays linear in its size) and when it stops; a kill loses at most the
//! unpushed ones from the record (the portal holds them; the next plan shows them again
//! and the next apply re-sends them, so the state never claims what the portal lacks).
//! When a push fails, the state is written to a local file ([`ERRORED_STATE`]) and the
//! message says how to push it, as Terraform's `errored.tfstate`.

use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode, Url};

use super::backend::{HistoryEntry, Journal, LockRequest, StateBackend, StateLock, wait_for_lock};
use super::error::StateError;
use super::file::MAX_STATE_BYTES;
use super::format::LastApplied;
use super::location::StateLocation;
use super::remote::{
    self, LockInfo, MAX_LOCK_BYTES, Worker, locked, read_body, transport, unexpected,
};
use super::replay::{parse_state, state_bytes};
use crate::model::Target;
use crate::variables::Variables;

pub const ENV_USERNAME: &str = "PAYSYNC_STATE_USERNAME";
pub const ENV_PASSWORD: &str = "PAYSYNC_STATE_PASSWORD";

/// An apply pushes the state after this many confirmed requests (and when it stops), or
/// after one per [`TARGETS_PER_PUSH_STEP`] targets the state records, if that is more.
pub const PUSH_EVERY: u64 = 5;
/// See [`PUSH_EVERY`].
pub const TARGETS_PER_PUSH_STEP: u64 = 2_000;

/// Where the state goes when a push fails, in the current directory.
pub const ERRORED_STATE: &str = "errored.paysync-state.json";

/// The state in a Terraform-HTTP-backend service.
#[derive(Debug)]
pub struct HttpBackend {
    location: StateLocation,
    client: Arc<Client>,
    worker: Arc<Worker>,
    held: Arc<Mutex<Option<LockInfo>>>,
}

/// The service's address and credentials.
struct Client {
    state: StateLocation,
    address: Url,
    http: reqwest::Client,
    auth: Option<(String, String)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.state)
    }
}

impl Client {
    fn lock_url(&self) -> Url {
        let mut url = self.address.clone();
        let path = format!("{}/lock", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        doing: &str,
    ) -> Result<reqwest::Response, StateError> {
        let mut request = self.http.request(method, url);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        request
            .send()
            .await
            .map_err(|e| transport(&self.state, doing, e))
    }

    async fn get(&self) -> Result<Option<LastApplied>, StateError> {
        let doing = "read the state";
        let response = self
            .send(Method::GET, self.address.clone(), None, doing)
            .await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(unexpected(&self.state, doing, response).await),
        }
        let body = read_body(&self.state, doing, response, MAX_STATE_BYTES).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_state(body, &self.state).map(Some)
    }

    async fn post(&self, bytes: Vec<u8>, lock: Option<&str>) -> Result<(), StateError> {
        let doing = "write the state";
        let mut url = self.address.clone();
        if let Some(id) = lock {
            url.query_pairs_mut().append_pair("ID", id);
        }
        let response = self.send(Method::POST, url, Some(bytes), doing).await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT | StatusCode::LOCKED => Err(StateError::Conflict {
                state: self.state.clone(),
                what: "the service refused the write under this run's lock ID",
            }),
            _ => Err(unexpected(&self.state, doing, response).await),
        }
    }

    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let doing = "take the state lock";
        let body = serde_json::to_vec(info).expect("lock info serialises");
        let response = self
            .send(Method::POST, self.lock_url(), Some(body), doing)
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT | StatusCode::LOCKED => {
                let body = read_body(&self.state, doing, response, MAX_LOCK_BYTES)
                    .await
                    .unwrap_or_default();
                let holder = serde_json::from_slice::<LockInfo>(&body).map_or_else(
                    |_| "a holder the service does not name".to_owned(),
                    |h| h.holder(),
                );
                Err(StateError::Locked {
                    state: self.state.clone(),
                    holder: format!(
                        "{holder}; this service's locks have no lease: if that run is dead, \
                         remove its lock with `paysync state unlock ID`"
                    ),
                })
            }
            _ => Err(unexpected(&self.state, doing, response).await),
        }
    }

    async fn unlock(&self, info: &LockInfo) -> Result<bool, StateError> {
        let doing = "release the state lock";
        let body = serde_json::to_vec(info).expect("lock info serialises");
        let response = self
            .send(Method::DELETE, self.lock_url(), Some(body), doing)
            .await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::CONFLICT | StatusCode::LOCKED => Ok(false),
            _ => Err(unexpected(&self.state, doing, response).await),
        }
    }
}

impl HttpBackend {
    pub fn new(
        vars: &Variables,
        location: &StateLocation,
        address: &Url,
    ) -> Result<HttpBackend, StateError> {
        let user = remote::variable(vars, location, ENV_USERNAME, false)?;
        let password = remote::variable(vars, location, ENV_PASSWORD, true)?;
        let auth = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(StateError::StoreConfig {
                    state: location.clone(),
                    message: format!(
                        "set both {} and {}, or neither",
                        vars.shown(ENV_USERNAME),
                        vars.shown(ENV_PASSWORD)
                    ),
                });
            }
        };
        Ok(HttpBackend {
            location: location.clone(),
            client: Arc::new(Client {
                state: location.clone(),
                address: address.clone(),
                http: remote::http_client(location)?,
                auth,
            }),
            worker: Arc::new(Worker::new(location)?),
            held: Arc::new(Mutex::new(None)),
        })
    }

    /// Pushes the whole state under the lock this run holds.
    fn push(&self, state: &LastApplied) -> Result<(), StateError> {
        let (client, bytes) = (self.client.clone(), state_bytes(state));
        let id = locked(&self.held).as_ref().map(|h| h.id.clone());
        self.worker.run(&self.location, async move {
            client.post(bytes, id.as_deref()).await
        })
    }

    /// [`HttpBackend::push`]; when it fails, the state goes to [`ERRORED_STATE`] and the
    /// error says how to push it.
    fn push_or_keep(&self, state: &LastApplied) -> Result<(), StateError> {
        let Err(error) = self.push(state) else {
            return Ok(());
        };
        let kept = crate::files::write_atomically(
            std::path::Path::new(ERRORED_STATE),
            &state_bytes(state),
        );
        Err(StateError::Store {
            state: self.location.clone(),
            message: match kept {
                Ok(()) => format!(
                    "{error}. The state (serial {}) was written to {ERRORED_STATE}: once the \
                     service answers, push it with `paysync state push {ERRORED_STATE} --state \
                     {}`",
                    state.serial, self.location
                ),
                Err(e) => format!(
                    "{error}. The state could not be kept in {ERRORED_STATE} either ({e}): what \
                     this run confirmed is not recorded; the next plan shows it again"
                ),
            },
        })
    }
}

impl StateBackend for HttpBackend {
    fn location(&self) -> &StateLocation {
        &self.location
    }

    fn load(&self) -> Result<Option<LastApplied>, StateError> {
        let client = self.client.clone();
        self.worker
            .run(&self.location, async move { client.get().await })
    }

    fn save(&self, state: &mut LastApplied) -> Result<(), StateError> {
        self.check_serial(state, 1)?;
        state.serial += 1;
        let result = self.push(state);
        if result.is_err() {
            state.serial -= 1;
        }
        result
    }

    fn lock(&self, request: &LockRequest) -> Result<StateLock, StateError> {
        let info = LockInfo::new(request, &self.location, None);
        wait_for_lock(request.timeout, || {
            let (client, info) = (self.client.clone(), info.clone());
            self.worker
                .run(&self.location, async move { client.lock(&info).await })
        })?;
        *locked(&self.held) = Some(info.clone());
        Ok(StateLock::new(HttpLock {
            client: self.client.clone(),
            worker: self.worker.clone(),
            info,
            slot: self.held.clone(),
        }))
    }

    fn unlock(&self, id: &str) -> Result<(), StateError> {
        let mut info = LockInfo::new(
            &LockRequest::immediate("state unlock"),
            &self.location,
            None,
        );
        info.id = id.to_owned();
        let client = self.client.clone();
        let removed = self
            .worker
            .run(&self.location, async move { client.unlock(&info).await })?;
        if removed {
            Ok(())
        } else {
            Err(StateError::Unlock {
                state: self.location.clone(),
                message: format!(
                    "the service refused to remove lock {}: it is held under another ID",
                    crate::untrusted::portal_text(id)
                ),
            })
        }
    }

    fn prepare_writes(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn journal(&self) -> Box<dyn Journal + '_> {
        Box::new(HttpJournal {
            backend: self,
            entries: 0,
            unpushed: 0,
        })
    }

    fn write_copy(&self, state: &LastApplied) -> Result<(), StateError> {
        self.push(state)
    }

    fn record_history(&self, _entry: &HistoryEntry) -> Result<(), StateError> {
        // GitLab keeps every version of the state itself (Operate > Terraform states).
        Ok(())
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        Err(StateError::StoreConfig {
            state: self.location.clone(),
            message: "a Terraform-HTTP-backend service keeps no paysync audit trail; GitLab \
                      lists every version of the state under Operate > Terraform states"
                .into(),
        })
    }
}

/// The journal of an apply to a service: the state, pushed every [`PUSH_EVERY`] records.
struct HttpJournal<'a> {
    backend: &'a HttpBackend,
    entries: u64,
    unpushed: u64,
}

impl Journal for HttpJournal<'_> {
    fn append(&mut self, state: &mut LastApplied, _targets: &[Target]) -> Result<(), StateError> {
        self.backend.check_serial(state, 1)?;
        state.serial += 1;
        self.entries += 1;
        self.unpushed += 1;
        let every = PUSH_EVERY.max(state.targets.len() as u64 / TARGETS_PER_PUSH_STEP);
        if self.unpushed >= every {
            self.backend.push_or_keep(state)?;
            self.unpushed = 0;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, state: &LastApplied) -> Result<(), StateError> {
        if self.unpushed == 0 {
            return Ok(());
        }
        self.backend.push_or_keep(state)
    }

    fn entries(&self) -> u64 {
        self.entries
    }
}

/// The lock a service's state writer holds, released on drop.
struct HttpLock {
    client: Arc<Client>,
    worker: Arc<Worker>,
    info: LockInfo,
    slot: Arc<Mutex<Option<LockInfo>>>,
}

impl Drop for HttpLock {
    fn drop(&mut self) {
        locked(&self.slot).take();
        let (client, info) = (self.client.clone(), self.info.clone());
        let state = client.state.clone();
        let result = self
            .worker
            .run(&state, async move { client.unlock(&info).await });
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the state lock was held under another ID; left as it is"),
            Err(e) => tracing::warn!("the state lock could not be released: {e}"),
        }
    }
}

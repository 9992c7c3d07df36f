//! Fault injection: make chosen calls or whole HTTP requests fail on purpose.
//!
//! A [`Fault`] is three things: *where* it applies ([`FaultScope`]: a method call, batch
//! sub-calls included, or a whole HTTP request), *which* calls it matches (method, pay
//! system, person type, all optional) and *what* happens ([`FaultAction`]), for N matches
//! or forever. Faults are checked in injection order; the first match wins and uses up
//! one of its N.
//!
//! Request-scope faults (`request_error`, `html`, `delay`, `lost_response`, `moved`) act
//! like a proxy in front of the portal: they are checked first, before the leaky bucket,
//! body errors and authentication. One matches a request when its filters match the
//! top-level call, or, for a `batch`, any of its decoded sub-calls (so
//! `.method("sale.paysystem.settings.update")` catches a batch holding one; `.method("batch")`
//! catches every batch). A [`FaultAction::Delay`] does not end the matching: after it
//! the later faults are still checked (so a delay can be followed by a lost response).
//! The OAuth token endpoint is another server in reality (`oauth.bitrix.info`): only
//! faults that name it, `.method("oauth.token")`, apply to it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::envelope::{ApiError, ErrorCode};

/// A gate requests can be held at ([`Fault::hold`]) until a test opens it: "in flight"
/// for as long as the test needs, with no clock involved, so a test never races a
/// real-time window. Clones share the gate.
#[derive(Clone, Default)]
pub struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    open: AtomicBool,
    opened: tokio::sync::Notify,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate: every request held at it goes on, and later ones pass at once.
    pub fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
        self.0.opened.notify_waiters();
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Resolves once the gate is open.
    pub(crate) async fn passed(&self) {
        loop {
            let opened = self.0.opened.notified();
            tokio::pin!(opened);
            // Registered before the flag is read, so an opening in between still wakes us.
            opened.as_mut().enable();
            if self.is_open() {
                return;
            }
            opened.await;
        }
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("open", &self.is_open())
            .finish()
    }
}

/// Where a fault is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultScope {
    /// Every method call after authentication, including each batch sub-call. Inside a
    /// batch an error shows as that sub-call's `result_error` entry (no HTTP status).
    Call,
    /// The whole HTTP request, before the leaky bucket and authentication (like a proxy).
    /// Matches the top-level method (`batch` for a batch) and its parameters, or any
    /// sub-call of a batch.
    Request,
}

/// What a matching fault does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer `{"error": code, "error_description": description}` with `status`.
    Error {
        status: u16,
        code: ErrorCode,
        description: String,
    },
    /// `sale.paysystem.settings.update` only: run the normal checks, write the first
    /// code of `SETTINGS`, then answer `result: false` (the source's partial failure).
    ResultFalse,
    /// Answer `result` as this call's result, without running the method (an answer of
    /// an unexpected shape).
    Result(serde_json::Value),
    /// Answer an HTML error page (`text/html`) with `status`, doing nothing else.
    Html { status: u16 },
    /// Wait this long (real time), then go on as usual.
    Delay(Duration),
    /// Wait until the gate is opened, then go on as usual.
    Hold(Gate),
    /// Handle the request fully, then close the connection without any response.
    LostResponse,
    /// Answer `status` (302 by default) with `Location: <base_url><original path and
    /// query>`.
    Moved { status: u16, base_url: String },
    /// Answer an error envelope with `status` and `code` whose description quotes the
    /// whole request: HTTP method, path and query (a webhook's code), the decoded
    /// parameters (setting values, batch commands) and the `auth` token. A proxy or a
    /// portal that echoes what it was sent, for the client's scrubbing.
    EchoRequest { status: u16, code: ErrorCode },
    /// Answer 200 `application/json` with a body that never ends (a `result` string that
    /// goes on forever), for the client's bound on what it reads.
    EndlessBody,
}

/// A fault to inject with [`crate::EmulatorHandle::inject`].
///
/// ```
/// use paysync_emulator::Fault;
/// // The next settings.update of pay system 12 is refused once.
/// let fault = Fault::error("ACCESS_DENIED", 403, "Access denied!")
///     .method("sale.paysystem.settings.update")
///     .pay_system(12)
///     .times(1);
/// // Every HTTP request answers 503 twice.
/// let throttle = Fault::request_error("QUERY_LIMIT_EXCEEDED", 503, "Too many requests").times(2);
/// # let _ = (fault, throttle);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    scope: FaultScope,
    method: Option<String>,
    pay_system: Option<u64>,
    person_type: Option<u64>,
    remaining: Option<u32>,
    action: FaultAction,
}

impl Fault {
    /// A call-scope error for every method (narrow it with [`Fault::method`] and friends).
    pub fn error(code: impl Into<ErrorCode>, status: u16, description: impl Into<String>) -> Fault {
        Fault::new(
            FaultScope::Call,
            FaultAction::Error {
                status,
                code: code.into(),
                description: description.into(),
            },
        )
    }

    /// A whole-request error (e.g. 503 `QUERY_LIMIT_EXCEEDED`) for every request.
    pub fn request_error(
        code: impl Into<ErrorCode>,
        status: u16,
        description: impl Into<String>,
    ) -> Fault {
        Fault::new(
            FaultScope::Request,
            FaultAction::Error {
                status,
                code: code.into(),
                description: description.into(),
            },
        )
    }

    /// An HTML page such as a proxy sends (`<html><body><h1>502 Bad Gateway</h1></body></html>`,
    /// `text/html`) with `status`, for the whole HTTP request, before anything else.
    pub fn html(status: u16) -> Fault {
        Fault::new(FaultScope::Request, FaultAction::Html { status })
    }

    /// Waits `d` of real time (a tokio sleep), then handles the request normally. The
    /// request runs to completion even if the client gives up meanwhile.
    pub fn delay(d: Duration) -> Fault {
        Fault::new(FaultScope::Request, FaultAction::Delay(d))
    }

    /// Holds the request (counted as received, not yet handled) until `gate` is opened,
    /// then handles it normally (after any delay). Like a delay, it does not end the
    /// matching.
    pub fn hold(gate: &Gate) -> Fault {
        Fault::new(FaultScope::Request, FaultAction::Hold(gate.clone()))
    }

    /// Handles the request fully (writes happen, the request log shows the status the
    /// portal computed) and then closes the connection without sending a byte, so the
    /// client sees a connection error, not a status.
    pub fn lost_response() -> Fault {
        Fault::new(FaultScope::Request, FaultAction::LostResponse)
    }

    /// The portal moved (§1.1): `302` with `Location: <new_base_url><path and query>`,
    /// e.g. `http://127.0.0.1:PORT2/rest/1/secret/scope?x=1`. `new_base_url` is a scheme
    /// and host such as [`crate::EmulatorHandle::base_url`] (a trailing `/` is dropped).
    pub fn moved(new_base_url: &str) -> Fault {
        Fault::redirect(302, new_base_url)
    }

    /// [`Fault::moved`] with another redirect status (301, 303, 307, 308).
    pub fn redirect(status: u16, new_base_url: &str) -> Fault {
        Fault::new(
            FaultScope::Request,
            FaultAction::Moved {
                status,
                base_url: new_base_url.trim_end_matches('/').to_owned(),
            },
        )
    }

    /// An error envelope whose description quotes the whole request: path and query,
    /// parameters and the `auth` token (see [`FaultAction::EchoRequest`]).
    pub fn echo_request(code: impl Into<ErrorCode>, status: u16) -> Fault {
        Fault::new(
            FaultScope::Request,
            FaultAction::EchoRequest {
                status,
                code: code.into(),
            },
        )
    }

    /// A 200 answer whose body never ends (see [`FaultAction::EndlessBody`]).
    pub fn endless_body() -> Fault {
        Fault::new(FaultScope::Request, FaultAction::EndlessBody)
    }

    /// `sale.paysystem.settings.update` writes its first code and answers `result: false`.
    pub fn result_false() -> Fault {
        Fault::new(FaultScope::Call, FaultAction::ResultFalse)
            .method("sale.paysystem.settings.update")
    }

    /// The call answers `result` instead of running (e.g. a `settings.get` whose `VALUE`
    /// is a list); scope it with [`Fault::method`] and [`Fault::pay_system`].
    pub fn result(result: serde_json::Value) -> Fault {
        Fault::new(FaultScope::Call, FaultAction::Result(result))
    }

    fn new(scope: FaultScope, action: FaultAction) -> Fault {
        Fault {
            scope,
            method: None,
            pay_system: None,
            person_type: None,
            remaining: None,
            action,
        }
    }

    /// Only this Bitrix method (case-insensitive, `.json` suffix ignored).
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(normalize_method(method));
        self
    }

    /// Only calls on this pay system (`ID`, or `PAY_SYSTEM_ID` where a method uses that).
    pub fn pay_system(mut self, id: u64) -> Fault {
        self.pay_system = Some(id);
        self
    }

    /// Only calls for this person type (`PERSON_TYPE_ID`; 0 matches the common mapping,
    /// which is also what a `settings.update` without `PERSON_TYPE_ID` writes).
    pub fn person_type(mut self, id: u64) -> Fault {
        self.person_type = Some(id);
        self
    }

    /// Fire for the next `n` matches, then disappear.
    pub fn times(mut self, n: u32) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// Fire on every match until [`crate::EmulatorHandle::clear_faults`] (the default).
    pub fn forever(mut self) -> Fault {
        self.remaining = None;
        self
    }

    /// Where this fault is checked.
    pub fn scope(&self) -> FaultScope {
        self.scope
    }

    /// What this fault does.
    pub fn action(&self) -> &FaultAction {
        &self.action
    }

    fn matches(&self, scope: FaultScope, target: &FaultTarget<'_>) -> bool {
        self.scope == scope && self.remaining != Some(0) && self.filters_match(target)
    }

    fn filters_match(&self, target: &FaultTarget<'_>) -> bool {
        self.method.as_deref().is_none_or(|m| m == target.method)
            && self
                .pay_system
                .is_none_or(|id| target.pay_system == Some(id))
            && self
                .person_type
                .is_none_or(|id| target.person_type == Some(id))
    }
}

/// Lower-cases a method name and strips a `.json` suffix and slashes.
pub(crate) fn normalize_method(method: &str) -> String {
    let m = method.trim().trim_matches('/').to_ascii_lowercase();
    match m.strip_suffix(".json") {
        Some(stripped) => stripped.to_owned(),
        None => m,
    }
}

/// What a call or request is about, for matching.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultTarget<'a> {
    pub(crate) method: &'a str,
    pub(crate) pay_system: Option<u64>,
    pub(crate) person_type: Option<u64>,
}

/// The active faults, in injection order.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.list.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    /// The action of the first matching fault, using up one of its matches.
    pub(crate) fn take(
        &mut self,
        scope: FaultScope,
        target: &FaultTarget<'_>,
    ) -> Option<FaultAction> {
        let index = self.list.iter().position(|f| f.matches(scope, target))?;
        let fault = &mut self.list[index];
        let action = fault.action.clone();
        if let Some(n) = fault.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.list.remove(index);
            }
        }
        Some(action)
    }
}

/// The request-scope faults that matched one HTTP request.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RequestFaults {
    /// Gates to pass, before anything else.
    pub(crate) holds: Vec<Gate>,
    /// Real-time waits, in order, after the gates.
    pub(crate) delays: Vec<Duration>,
    /// The first non-delay match: what answers the request instead of the portal.
    pub(crate) terminal: Option<FaultAction>,
}

impl Faults {
    /// Request-scope matching: a fault matches when its filters match any of `targets`
    /// (the top-level call first, then a batch's sub-calls). Delays are collected and
    /// matching goes on; the first other match ends it. With `named_only`, only faults
    /// with a method filter can match (the token endpoint).
    pub(crate) fn take_request(
        &mut self,
        targets: &[FaultTarget<'_>],
        named_only: bool,
    ) -> RequestFaults {
        let mut found = RequestFaults::default();
        let mut index = 0;
        while index < self.list.len() {
            let fault = &mut self.list[index];
            let matches = fault.scope == FaultScope::Request
                && fault.remaining != Some(0)
                && (!named_only || fault.method.is_some())
                && targets.iter().any(|t| fault.filters_match(t));
            if !matches {
                index += 1;
                continue;
            }
            let action = fault.action.clone();
            let used_up = fault.remaining.as_mut().is_some_and(|n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
            if used_up {
                self.list.remove(index);
            } else {
                index += 1;
            }
            match action {
                FaultAction::Delay(d) => found.delays.push(d),
                FaultAction::Hold(gate) => found.holds.push(gate),
                other => {
                    found.terminal = Some(other);
                    break;
                }
            }
        }
        found
    }
}

impl FaultAction {
    /// The error this action answers with, if it is an error.
    pub(crate) fn as_error(&self) -> Option<ApiError> {
        match self {
            FaultAction::Error {
                status,
                code,
                description,
            } => Some(ApiError::new(*status, code.clone(), description.clone())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: &str, pay_system: Option<u64>) -> FaultTarget<'_> {
        FaultTarget {
            method,
            pay_system,
            person_type: None,
        }
    }

    #[test]
    fn counted_faults_expire_and_filters_apply() {
        let mut faults = Faults::default();
        faults.push(
            Fault::error("X", 500, "x")
                .method("Sale.PaySystem.List.json")
                .pay_system(12)
                .times(2),
        );
        assert!(
            faults
                .take(FaultScope::Call, &target("sale.paysystem.list", Some(11)))
                .is_none()
        );
        assert!(
            faults
                .take(
                    FaultScope::Request,
                    &target("sale.paysystem.list", Some(12))
                )
                .is_none()
        );
        assert!(
            faults
                .take(FaultScope::Call, &target("sale.paysystem.list", Some(12)))
                .is_some()
        );
        assert!(
            faults
                .take(FaultScope::Call, &target("sale.paysystem.list", Some(12)))
                .is_some()
        );
        assert!(
            faults
                .take(FaultScope::Call, &target("sale.paysystem.list", Some(12)))
                .is_none()
        );
    }

    #[test]
    fn request_faults_match_batch_sub_calls_and_delays_do_not_stop_matching() {
        let mut faults = Faults::default();
        faults.push(Fault::delay(Duration::from_millis(5)).times(1));
        faults.push(Fault::error("X", 500, "call scope"));
        faults.push(
            Fault::lost_response()
                .method("sale.paysystem.settings.update")
                .times(1),
        );
        faults.push(Fault::html(502).method("oauth.token"));
        faults.push(Fault::moved("http://b.example/"));
        let batch = [
            target("batch", None),
            target("sale.paysystem.settings.update", Some(11)),
        ];
        let found = faults.take_request(&batch, false);
        assert_eq!(found.delays, [Duration::from_millis(5)]);
        assert_eq!(found.terminal, Some(FaultAction::LostResponse));
        // The delay and the lost response are used up; the redirect is next.
        let found = faults.take_request(&batch, false);
        assert_eq!(
            found.terminal,
            Some(FaultAction::Moved {
                status: 302,
                base_url: "http://b.example".into()
            })
        );
        // The token endpoint only sees faults that name it.
        let token = [target("oauth.token", None)];
        let found = faults.take_request(&token, true);
        assert_eq!(found.terminal, Some(FaultAction::Html { status: 502 }));
    }

    #[test]
    fn forever_faults_stay() {
        let mut faults = Faults::default();
        faults.push(Fault::request_error(
            "QUERY_LIMIT_EXCEEDED",
            503,
            "Too many requests",
        ));
        for _ in 0..5 {
            assert!(
                faults
                    .take(FaultScope::Request, &target("batch", None))
                    .is_some()
            );
        }
        faults.clear();
        assert!(
            faults
                .take(FaultScope::Request, &target("batch", None))
                .is_none()
        );
    }
}

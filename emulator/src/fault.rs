//! Fault injection: make chosen calls or whole HTTP requests fail on purpose.
//!
//! A [`Fault`] is three things: *where* it applies ([`FaultScope`]: a method call, batch
//! sub-calls included, or a whole HTTP request), *which* calls it matches (method, pay
//! system, person type, all optional) and *what* happens ([`FaultAction`]), for N matches
//! or forever. Faults are checked in injection order; the first match wins and uses up
//! one of its N.
//!
//! Room to grow: rate limits, `429 OPERATION_TIME_LIMIT`, HTML 502 bodies, delays, lost
//! responses and 302 redirects are all request-scope actions. They are added as new
//! [`FaultAction`] variants (the enum is `#[non_exhaustive]`) that the HTTP layer turns
//! into a response; matching and counting stay as they are.

use crate::envelope::{ApiError, ErrorCode};

/// Where a fault is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultScope {
    /// Every method call after authentication, including each batch sub-call. Inside a
    /// batch an error shows as that sub-call's `result_error` entry (no HTTP status).
    Call,
    /// The whole HTTP request, before authentication (like a proxy or a rate limiter).
    /// Matching uses the top-level method (`batch` for a batch) and its parameters.
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

    /// `sale.paysystem.settings.update` writes its first code and answers `result: false`.
    pub fn result_false() -> Fault {
        Fault::new(FaultScope::Call, FaultAction::ResultFalse)
            .method("sale.paysystem.settings.update")
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
        self.scope == scope
            && self.remaining != Some(0)
            && self.method.as_deref().is_none_or(|m| m == target.method)
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

impl FaultAction {
    /// The error this action answers with, if it is an error.
    pub(crate) fn as_error(&self) -> Option<ApiError> {
        match self {
            FaultAction::Error {
                status,
                code,
                description,
            } => Some(ApiError::new(*status, code.clone(), description.clone())),
            FaultAction::ResultFalse => None,
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

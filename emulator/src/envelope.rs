//! Response envelopes: the `{"result", "time"}` success body, the `{"error",
//! "error_description"}` error body, the `time` object, and the error type every method
//! handler returns. Formatting only: no routing, no state.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::limits::OperatingReport;
use crate::php;

/// An `error` code: Bitrix uses strings, but `sale.persontype.*` answers with JSON numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// e.g. `"ERROR_CHECK_FAILURE"`.
    Text(String),
    /// e.g. `200740400001`.
    Number(u64),
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        ErrorCode::Text(code.to_owned())
    }
}

impl From<String> for ErrorCode {
    fn from(code: String) -> Self {
        ErrorCode::Text(code)
    }
}

impl From<u64> for ErrorCode {
    fn from(code: u64) -> Self {
        ErrorCode::Number(code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Text(s) => f.write_str(s),
            ErrorCode::Number(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ErrorCode::Text(s) => serializer.serialize_str(s),
            ErrorCode::Number(n) => serializer.serialize_u64(*n),
        }
    }
}

/// A REST error as a method (or the transport layer) reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status when the error is the whole response; ignored inside batch.
    pub(crate) status: u16,
    pub(crate) code: ErrorCode,
    pub(crate) description: String,
}

impl ApiError {
    pub(crate) fn new(
        status: u16,
        code: impl Into<ErrorCode>,
        description: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            description: description.into(),
        }
    }

    /// 400 `ERROR_CHECK_FAILURE`, the pay-system methods' validation error.
    pub(crate) fn check_failure(description: impl Into<String>) -> Self {
        Self::new(400, "ERROR_CHECK_FAILURE", description)
    }

    /// 403 `ACCESS_DENIED` as `Bitrix\Rest\AccessException` words it.
    pub(crate) fn access_denied() -> Self {
        Self::new(403, "ACCESS_DENIED", "Access denied!")
    }

    pub(crate) fn no_auth() -> Self {
        Self::new(401, "NO_AUTH_FOUND", "Wrong authorization data")
    }

    /// 401 `expired_token`: a known access token past its expiry.
    pub(crate) fn expired_token() -> Self {
        Self::new(
            401,
            "expired_token",
            "The access token provided has expired",
        )
    }

    /// 503 `QUERY_LIMIT_EXCEEDED`: the leaky bucket is full (§9.1).
    pub(crate) fn query_limit_exceeded() -> Self {
        Self::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    }

    /// 429 `OPERATION_TIME_LIMIT`: the method's operating budget is spent (§9.2).
    pub(crate) fn operation_time_limit() -> Self {
        Self::new(
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
        )
    }

    pub(crate) fn method_not_found() -> Self {
        Self::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "INVALID_REQUEST", description)
    }

    /// The `{"error", "error_description"}` object (the batch `result_error` entry too).
    pub(crate) fn body(&self) -> Value {
        json!({"error": self.code, "error_description": self.description})
    }
}

/// What a method returns on success: the payload plus list paging.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    pub(crate) result: Value,
    pub(crate) total: Option<u64>,
    pub(crate) next: Option<u64>,
}

impl Output {
    pub(crate) fn new(result: Value) -> Self {
        Output {
            result,
            total: None,
            next: None,
        }
    }

    pub(crate) fn paged(result: Value, total: u64, next: Option<u64>) -> Self {
        Output {
            result,
            total: Some(total),
            next,
        }
    }
}

/// The start of one call by the portal's clock, for its `time` object.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    clock: Clock,
    start: Duration,
}

/// The `operating_reset_at` horizon: the sliding window is 10 minutes.
const OPERATING_WINDOW_SECS: u64 = 600;

/// The share of `duration` reported as `processing`: the time spent in the method, the
/// rest standing for the framework around it (routing, auth, encoding). Real answers
/// always show `processing` below `duration` (e.g. 0.0056 of 0.0139 s).
const PROCESSING_SHARE: f64 = 0.75;

impl Timing {
    pub(crate) fn start(clock: &Clock) -> Self {
        Timing {
            clock: clock.clone(),
            start: clock.now(),
        }
    }

    /// The full `time` object of a top-level response. Without an operating report
    /// (the limit is off, or nothing is live) `operating` is 0 and `operating_reset_at`
    /// is 10 minutes after the start.
    pub(crate) fn finish(&self, operating: Option<OperatingReport>) -> Value {
        let report = operating.unwrap_or(OperatingReport {
            operating: 0.0,
            reset_at: self.start.as_secs() + OPERATING_WINDOW_SECS,
        });
        self.object(Some(report))
    }

    /// The `result_time` entry of a batch sub-call (no operating fields).
    pub(crate) fn finish_sub_call(&self) -> Value {
        self.object(None)
    }

    fn object(&self, operating: Option<OperatingReport>) -> Value {
        let finish = self.clock.now().max(self.start);
        let start = self.start.as_secs_f64();
        let end = finish.as_secs_f64();
        let duration = (finish - self.start).as_secs_f64();
        let mut time = Map::new();
        time.insert("start".into(), json!(start));
        time.insert("finish".into(), json!(end));
        time.insert("duration".into(), json!(duration));
        time.insert("processing".into(), json!(duration * PROCESSING_SHARE));
        time.insert("date_start".into(), json!(iso8601(UNIX_EPOCH + self.start)));
        time.insert("date_finish".into(), json!(iso8601(UNIX_EPOCH + finish)));
        if let Some(report) = operating {
            time.insert("operating".into(), json!(report.operating));
            time.insert("operating_reset_at".into(), json!(report.reset_at));
        }
        Value::Object(time)
    }
}

/// The success body: `result`, then `next`/`total` for list methods, then `time`.
pub(crate) fn success_body(
    output: Output,
    timing: &Timing,
    operating: Option<OperatingReport>,
) -> Value {
    let mut body = Map::new();
    body.insert("result".into(), php::php_output(output.result));
    if let Some(next) = output.next {
        body.insert("next".into(), json!(next));
    }
    if let Some(total) = output.total {
        body.insert("total".into(), json!(total));
    }
    body.insert("time".into(), timing.finish(operating));
    Value::Object(body)
}

/// `2024-04-03T11:08:55+00:00` (the portal's offset; the emulator runs in UTC).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00+00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_712_142_535);
        assert_eq!(iso8601(t), "2024-04-03T11:08:55+00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00+00:00");
    }

    #[test]
    fn numeric_error_codes_serialise_as_numbers() {
        let e = ApiError::new(400, 200_740_400_001_u64, "x");
        assert_eq!(
            e.body(),
            json!({"error": 200_740_400_001_u64, "error_description": "x"})
        );
    }

    #[test]
    fn processing_is_below_duration() {
        let clock = crate::VirtualClock::new(1_767_225_600.0);
        let timing = Timing::start(&Clock::Virtual(clock.clone()));
        clock.advance(Duration::from_millis(400));
        for time in [timing.finish(None), timing.finish_sub_call()] {
            let duration = time["duration"].as_f64().unwrap_or_default();
            let processing = time["processing"].as_f64().unwrap_or_default();
            assert!((duration - 0.4).abs() < 1e-9, "{time}");
            assert!(processing > 0.0 && processing < duration, "{time}");
        }
        // No time passed: both 0, never processing above duration.
        let time = Timing::start(&Clock::Virtual(clock)).finish(None);
        assert_eq!(
            (time["duration"].as_f64(), time["processing"].as_f64()),
            (Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn time_object_has_all_fields() {
        let time = Timing::start(&Clock::System).finish(None);
        for key in [
            "start",
            "finish",
            "duration",
            "processing",
            "date_start",
            "date_finish",
            "operating",
            "operating_reset_at",
        ] {
            assert!(time.get(key).is_some(), "{key}");
        }
        assert!(
            Timing::start(&Clock::System)
                .finish_sub_call()
                .get("operating")
                .is_none()
        );
    }
}

//! The request log: what the emulator received, for tests to assert on.
//!
//! Records hold decoded parameters as the client sent them (before Bitrix's key
//! upper-casing), the auth mode and the response status. They never hold credentials:
//! the webhook secret lives only in the URL path, which is not recorded, and the `auth`
//! parameter (OAuth access token) is removed from every parameter map, sub-calls included.

use serde::Serialize;
use serde_json::Value;

/// How a request tried to authenticate (whether or not it succeeded; see `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthMode {
    /// `/rest/<user_id>/<secret>/<method>` with a numeric user ID.
    Webhook { user_id: u64 },
    /// `/rest/<method>` with an `auth` parameter.
    OAuth,
    /// No credentials at all (or a path that is neither form).
    None,
}

/// One HTTP request as the emulator received and answered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub http_method: String,
    /// The Bitrix method, lower-cased, without a `.json` suffix or trailing slash.
    pub method: String,
    /// Query string and body merged, bracket notation decoded, `auth` removed.
    pub params: Value,
    pub auth: AuthMode,
    /// The decoded sub-calls when `method == "batch"`, otherwise empty.
    pub batch: Vec<RecordedSubCall>,
    /// The HTTP status the emulator answered with.
    pub status: u16,
}

/// One `cmd` entry of a batch, decoded from its query string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedSubCall {
    pub key: String,
    /// Lower-cased, suffix stripped, like [`RecordedRequest::method`].
    pub method: String,
    /// Decoded exactly like a form body (before `$result[...]` substitution), `auth` removed.
    pub params: Value,
}

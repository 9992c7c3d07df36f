//! The Bitrix24 REST client: credentials, requests as data, envelopes and errors, batch,
//! and the retry decision (bitrix24-api.md; SPEC §3, §5, §7).
//!
//! - [`credentials`]: where to send requests and how to authenticate; HTTPS rules.
//! - [`request`]: [`Request`]s built as data, `batch` commands in PHP query syntax.
//! - [`envelope`]: pure parsing of answers, batch results and `settings.get` payloads.
//! - [`retry`]: which errors are worth another attempt and how long to wait.
//! - [`client`]: the HTTP exchange itself; every request goes through one `send`.
//!
//! This module never shows a secret: the webhook code, tokens and setting values are
//! kept out of every `Debug`, `Display`, error message and log line. It writes nothing to
//! stdout or stderr.

pub mod client;
pub mod credentials;
pub mod envelope;
pub mod request;
pub mod retry;

pub use client::{Client, ClientError};
pub use credentials::{ConfigError, Credentials, credentials_from_env};
pub use envelope::{
    BatchEntry, BatchOutcome, CallError, PortalError, parse_batch_result, parse_response,
    parse_settings,
};
pub use request::{MAX_BATCH, Request, batch_request};
pub use retry::{Decision, RetryPolicy, error_policy};

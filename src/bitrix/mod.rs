//! The Bitrix24 REST client: credentials, requests as data, envelopes and errors, batch,
//! the rate-limit throttle, the retry decision and OAuth refresh (bitrix24-api.md;
//! SPEC §3, §5, §7).
//!
//! - [`credentials`]: where to send requests and how to authenticate; HTTPS rules; the
//!   environment variables. [`token_file`]: the OAuth tokens kept between runs.
//! - [`request`]: [`Request`]s built as data, `batch` commands in PHP query syntax
//!   ([`crate::encoding`]: the percent-encoding PHP decodes).
//! - [`envelope`]: pure parsing of answers, batch results and `settings.get` payloads.
//! - [`throttle`]: the leaky bucket that keeps requests under the portal's rate limit.
//! - [`operating`]: the per-method execution-time budget seen in answers.
//! - [`retry`]: which errors are worth another attempt, how long to wait, when to stop.
//! - [`oauth`]: the token refresh, single-flight.
//! - [`clock`]: the time every wait goes through (virtual in tests).
//! - [`client`]: a connection to one portal: the retry loop, token refresh and time-budget
//!   pauses around every call; [`batch`]: `batch` and its re-send policy; [`transport`]:
//!   the HTTP exchange itself ([`body`]: bounded reads); [`error`]: why a call failed;
//!   [`stats`]: what a client did.
//!
//! This module never shows a secret: the webhook code, tokens, the client secret and
//! setting values are kept out of every `Debug`, `Display`, error message and log line.
//! It writes nothing to stdout or stderr.

pub mod batch;
pub mod body;
pub mod cancel;
mod cause;
pub mod client;
pub mod clock;
pub mod credentials;
pub mod envelope;
pub mod error;
pub mod oauth;
pub mod operating;
pub mod request;
pub mod retry;
pub mod stats;
pub mod throttle;
pub mod token_file;
pub mod transport;

#[cfg(test)]
mod testserver;

pub use crate::variables::Variables;
pub use cancel::{Cancel, SecretSink};
pub use client::Client;
pub use client::refresh::Refreshed;
pub use clock::{Clock, SystemClock};
pub use credentials::lookup::{credentials_from_env, credentials_from_variables};
pub use credentials::{
    ConfigError, Credentials, EndpointRefusal, RefreshConfig, RefreshOrigin,
    accept_client_endpoint, portal_address, same_portal,
};
pub use envelope::{
    BatchEntry, BatchOutcome, CallError, Page, PortalError, Timing, parse_batch_result,
    parse_response, parse_settings,
};
pub use error::{ClientError, Refusal};
pub use oauth::RefreshError;
pub use request::{MAX_BATCH, Request, batch_request, looks_like_batch_reference};
pub use retry::{Decision, RetryConfig, error_policy};
pub use stats::ClientStats;
pub use throttle::{Rate, RateParseError};

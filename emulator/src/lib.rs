//! `paysync-emulator`: a local Bitrix24 portal for paysync's tests and demos.
//!
//! It serves the classic REST v2 surface that paysync uses, as described in
//! `shared/bitrix24-api.md` §10: webhook (`/rest/<uid>/<secret>/<method>`) and OAuth
//! (`/rest/<method>` + `auth`) routes, PHP-style parameter decoding (JSON, form,
//! multipart, query, bracket notation), the success and error envelopes, REST
//! pay-system handlers, pay systems, the settings store with its fallback chain,
//! person types, and `batch`. It records every request and can inject faults.
//!
//! ```no_run
//! use paysync_emulator::{EmulatorHandle, Fault, Seed};
//!
//! let portal = EmulatorHandle::start(Seed::demo())?;
//! let url = portal.webhook_url(); // http://127.0.0.1:PORT/rest/1/demo-webhook-code/
//! portal.inject(Fault::error("QUERY_LIMIT_EXCEEDED", 503, "Too many requests").times(1));
//! // ... run paysync against `url` ...
//! assert!(portal.requests().iter().all(|r| r.method != "sale.paysystem.settings.update"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Module map (data flows top to bottom):
//! - `server`: HTTP routing, body decoding, auth, request log, envelopes out;
//! - `methods`: the method table, key preparation, call faults, one module per family;
//! - `portal`: the state and the lookups the methods share;
//! - `php`: PHP's decoding and loose-typing rules; `envelope`: response bodies;
//! - [`seed`], [`fault`], [`record`]: the public configuration, faults and log types.
//!
//! Not implemented yet (room is left): the OAuth token endpoint, token expiry,
//! rate limits and `operating` accounting, HTML/redirect/delay faults, `.xml` responses,
//! file uploads, and `sale.paysystem.settings.payment.get`/`pay.payment`.

#![forbid(unsafe_code)]

mod envelope;
pub mod fault;
mod handle;
mod methods;
mod php;
mod portal;
pub mod record;
pub mod seed;
mod server;

pub use envelope::ErrorCode;
pub use fault::{Fault, FaultAction, FaultScope};
pub use handle::{Emulator, EmulatorHandle};
pub use record::{AuthMode, RecordedRequest, RecordedSubCall};
pub use seed::{
    BatchLengthMode, HandlerSeed, OAuthTokenSeed, PaySystemSeed, PersonTypeSeed, Seed, SeedError,
    SettingSeed, SettingsShape, WebhookSeed,
};

//! `paysync-emulator`: a local Bitrix24 portal for paysync's tests and demos.
//!
//! It serves the classic REST v2 surface that paysync uses, as described in
//! `shared/bitrix24-api.md` §10: webhook (`/rest/<uid>/<secret>/<method>`) and OAuth
//! (`/rest/<method>` + `auth`) routes, PHP-style parameter decoding (JSON, form,
//! multipart, query, bracket notation), the success and error envelopes, REST
//! pay-system handlers, pay systems, the settings store with its fallback chain,
//! person types, and `batch`; the OAuth token endpoint with rotation and token expiry;
//! the §9 limits (leaky bucket, operating time). It records every request and can inject
//! faults (errors, HTML pages, delays, lost responses, 302 redirects). Everything
//! time-dependent reads a [`Clock`], which tests can make virtual.
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
//! - `server`: HTTP routing, body decoding, request faults, the bucket, auth, request
//!   log, envelopes out;
//! - `methods`: the method table, key preparation, call faults, operating checks, one
//!   module per family;
//! - `portal`: the state and the lookups the methods share; `oauth`: tokens and the
//!   token endpoint;
//! - `php`: PHP's decoding and loose-typing rules; `envelope`: response bodies;
//! - [`seed`], [`fault`], [`record`], [`clock`], [`limits`]: the public configuration,
//!   faults, log, time and limit types.
//!
//! Not implemented yet: the `authorization_code` grant, the `OVERLOAD_LIMIT` switch (use
//! a `request_error` fault), `.xml` responses, file uploads, and
//! `sale.paysystem.settings.payment.get`/`pay.payment`.

#![forbid(unsafe_code)]

pub mod clock;
mod envelope;
pub mod fault;
mod handle;
pub mod limits;
mod methods;
mod oauth;
mod php;
mod portal;
pub mod record;
pub mod seed;
mod server;
pub mod stores;

pub use clock::{Clock, VirtualClock};
pub use envelope::ErrorCode;
pub use fault::{Fault, FaultAction, FaultScope, Gate};
pub use handle::{Emulator, EmulatorHandle};
pub use limits::{OperatingLimit, ParseRateLimitError, RateLimit};
pub use record::{AuthMode, RecordedRequest, RecordedSubCall};
pub use seed::{
    BatchLengthMode, HandlerSeed, OAuthAppSeed, OAuthRefreshTokenSeed, OAuthTokenSeed,
    PaySystemSeed, PersonTypeSeed, Seed, SeedError, SettingSeed, SettingsShape, WebhookSeed,
};
pub use stores::{LaxS3, OpenBao, Seaweed, StateService};

//! Live validation: the manifests checked against what the portal declares (`plan
//! --refresh`, `apply --refresh`, `validate --live`).
//!
//! ```text
//! sale.paysystem.handler.list ─┐
//! sale.paysystem.list ─────────┼─parse─▶ Catalog ─┐
//! sale.persontype.list (paged) ┘                  ├─▶ check (pure) ─▶ Diagnostics, located in the manifests
//! Desired ────────────────────────────────────────┘
//! ```
//!
//! Each problem is a manifest mistake the portal would not report itself, or would report
//! only at apply time, one target at a time:
//!
//! | code | problem |
//! |---|---|
//! | `unknown-pay-system` | the pay system does not exist |
//! | `built-in-pay-system` | the pay system's `ACTION_FILE` is not a REST handler (cash, bank transfer, ...): not manageable through REST |
//! | `unknown-person-type` | the payer type does not exist (0, the defaults, always does) |
//! | `undeclared-code` | the handler's `CODES` do not declare the setting: the portal stores it silently and never returns it, a perpetual diff |
//! | `invalid-option` | a `type: VALUE` setting outside its `ENUM` input's `OPTIONS` |
//! | `invalid-checkbox` | a `type: VALUE` setting of a `Y/N` input that is neither `Y` nor `N` |
//!
//! [`check`] does no I/O; [`fetch`] only reads (three list methods); [`validate`] joins
//! them. Secret values are never resolved here and never checked: only plain values are.
//!
//! [`read_settings`] reads the live settings of targets (`sale.paysystem.settings.get`,
//! batched), for `--refresh`, `drift` and `import`.
//!
//! Files: [`catalog`] (the types read and how references resolve), [`read`] (the
//! network reads), [`parse`] (the answer parsers), [`check`] (the validation rules).

mod catalog;
mod check;
mod objects;
mod parse;
mod read;
mod resolve;

pub use catalog::*;
pub use check::check;
pub use objects::{parse_handler_objects, parse_pay_system_objects, read_objects};
pub use parse::{parse_handlers, parse_pay_systems, parse_person_types};
pub use read::*;
pub use resolve::*;

#[cfg(test)]
mod tests;

//! paysync keeps Bitrix24 pay-system settings in Git.
//!
//! Data flows one way:
//!
//! ```text
//! manifests (YAML) ──parse──▶ raw types ──validate──▶ Desired ─┐
//! state file ─────────────────────────────────────▶ LastApplied ├─▶ plan::compute (pure) ─▶ Plan ─▶ render
//! portal (only with --refresh) ──observe──────────▶ Live ───────┘                              └──▶ apply ─▶ portal + new state
//! ```
//!
//! [`run`] is the whole program behind `main`: it takes parsed arguments and returns the
//! exit code; `main` only sets up logging and maps errors.

pub mod app;
pub mod apply;
pub mod bitrix;
pub mod cli;
pub mod drift;
pub mod error;
pub mod files;
pub mod fingerprint;
pub mod import;
pub mod interrupt;
pub mod live;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod render;
pub mod secrets;
pub mod state;
pub mod untrusted;

pub use app::run;

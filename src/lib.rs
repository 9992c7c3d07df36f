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
//! [`run`] is the whole program behind `main`: it takes parsed arguments, runs the
//! command, renders any error and returns the exit code; `main` only parses the
//! arguments (usage errors exit 64), sets up logging and exits with that code.

pub mod apply;
pub mod bitrix;
pub mod ci;
pub mod cli;
pub mod codes;
pub mod commands;
pub mod encoding;
pub mod error;
pub mod files;
pub mod fingerprint;
pub mod import;
pub mod interrupt;
pub mod json;
pub mod live;
pub mod manifest;
pub mod model;
pub mod net;
pub mod plan;
pub mod project;
pub mod render;
pub mod secrets;
pub mod state;
pub mod untrusted;
pub mod variables;
pub mod verify;
pub mod wording;

pub use commands::run;

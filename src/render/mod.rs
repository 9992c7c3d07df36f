//! Rendering: the only code that formats output for people (plans, diagnostics, apply
//! reports) and the only code, with `main.rs`, that writes to stdout and stderr.

pub mod apply_report;
pub mod diagnostics;
pub mod drift;
pub mod manuals;
pub mod plan_json;
pub mod plan_markdown;
pub mod plan_text;
pub mod progress;
pub mod terminal;

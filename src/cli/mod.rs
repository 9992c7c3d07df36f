//! Command-line arguments (clap derive) and their resolution into settings.
//!
//! Every clap type of every command lives here (raw arguments); each command's arguments
//! resolve, in one step (`resolve`), into the settings its command runs with
//! ([`Inputs`] is what plan and apply share). Nothing in this module touches the network
//! or the state. Credentials never come from flags (SPEC §3): only from the environment.

mod args;
mod examples;
mod settings;

pub use args::*;
pub use examples::{command, examples, parse};
pub use settings::*;

#[cfg(test)]
mod tests;

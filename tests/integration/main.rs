//! paysync's integration tests: the real binary against the emulator over real HTTP on
//! 127.0.0.1, one module per feature.

mod action;
mod architecture;
mod bounded;
mod ci_examples;
mod cli;
mod contracts;
mod drift;
mod environments;
mod exit_codes;
mod fingerprints;
mod gates;
mod hostile;
mod import;
mod install;
mod isolation;
mod json_logs;
mod limits;
mod live_validation;
mod manifest;
mod manners;
mod markdown;
mod moved;
mod oauth;
mod pipeline;
mod plans;
mod protocol;
mod reports;
mod secrets;
mod seeds;
mod signals;
mod state;
mod strict;
mod support;
mod terminal;
mod validate;

//! paysync's integration tests: the real binary against the emulator over real HTTP on
//! 127.0.0.1, one module per feature.

mod cli;
mod limits;
mod manifest;
mod oauth;
mod pipeline;
mod secrets;
mod seeds;
mod state;
mod support;

//! HTTP-level tests of the emulator: a real server on 127.0.0.1:0 per test, driven by a
//! plain reqwest client with hand-built bodies (JSON, form, multipart, query strings).
//! One binary, one module per feature, to keep link time low.

mod auth;
mod batch;
mod bin;
mod common;
mod faults;
mod log;
mod params;
mod paysystems;
mod persontypes;
mod settings;

//! HTTP-level tests of the emulator: a real server on 127.0.0.1:0 per test, driven by a
//! plain reqwest client with hand-built bodies (JSON, form, multipart, query strings).
//! One binary, one module per feature, to keep link time low. Time-dependent tests run
//! on a `VirtualClock`, so none of them waits for real (except the delay fault's few ms).

mod auth;
mod batch;
mod bin;
mod common;
mod faults;
mod limits;
mod log;
mod oauth;
mod params;
mod paysystems;
mod persontypes;
mod settings;

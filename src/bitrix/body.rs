//! Reading an HTTP response body within a bound, whatever the other side sends: the
//! portal's answers ([`super::transport`]) and the token endpoint's ([`super::oauth`]).
//! The reader is [`crate::net`]'s, shared with the state stores and secret sources.

pub use crate::net::{BodyError, read_bounded};

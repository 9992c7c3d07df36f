//! What an HTTP client error comes down to, for messages. A leaf module: the client's
//! and the OAuth refresh's errors both name their cause this way.

/// What an HTTP client error comes down to: the innermost cause ("Connection refused (os
/// error 111)", "invalid peer certificate: UnknownIssuer"), which says what happened where
/// the outer ones ("error sending request", "client error (Connect)") do not.
pub(crate) fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

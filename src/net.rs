//! What every HTTP peer of paysync's shares, whoever it is (the portal, a state store, a
//! secrets server): the loopback rule for plain http, and reading an answer's body within
//! a bound, whatever the other side sends. A leaf module.

use std::net::{IpAddr, Ipv6Addr};

use reqwest::Url;

/// The address of a service paysync talks to, as a variable gives it (an S3 endpoint,
/// `VAULT_ADDR`): a URL without credentials, https (plain http only to a loopback
/// address). The refusal completes a sentence about the variable: "`VAR` {refusal}".
pub fn service_address(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text.trim()).map_err(|_| "is not a URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials");
    }
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
        return Err("must be an https address (plain http only to a loopback address)");
    }
    Ok(url)
}

/// 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a body could not be read whole.
pub enum BodyError {
    Transport(reqwest::Error),
    TooLarge { limit: u64 },
}

/// Reads a response body of at most `limit` bytes, chunk by chunk: a longer one (by its
/// `Content-Length`, or as it arrives) is an error, so memory stays bounded whatever the
/// other side sends.
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

//! Reading an HTTP response body within a bound, whatever the other side sends: the
//! portal's answers ([`super::transport`]) and the token endpoint's ([`super::oauth`]).
//! A leaf module.

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

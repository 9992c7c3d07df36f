//! Percent-encoding as the portal's PHP decodes it: RFC 3986, PHP's `rawurlencode`.
//!
//! Everything but the unreserved characters `A-Z a-z 0-9 - . _ ~` becomes `%XX` of its
//! UTF-8 bytes (upper-case hex; a space is `%20`, never `+`). A leaf module: requests use
//! it to write `batch` commands, and [`crate::untrusted`] to recognise a secret a portal
//! echoes in that form.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What is encoded: everything but the RFC 3986 unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded as one query component (a key segment or a value).
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_php_rawurlencode() {
        assert_eq!(encode_component("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            encode_component("a b+&=%#?[]$"),
            "a%20b%2B%26%3D%25%23%3F%5B%5D%24"
        );
        assert_eq!(encode_component("ключ"), "%D0%BA%D0%BB%D1%8E%D1%87");
    }
}

//! Text that comes from the portal, or from a proxy in front of it, is untrusted (SPEC §7):
//! it is scrubbed of every secret paysync holds, cut to a sane length and escaped before it
//! reaches a terminal.
//!
//! - [`remember_secret`] registers a secret the moment paysync holds it: a resolved secret
//!   value, the webhook code, an access or refresh token, the client secret, the
//!   fingerprint key. Each is remembered in the forms a portal could echo it in: as is,
//!   JSON-escaped and percent-encoded (the way paysync sends it inside `batch` commands).
//! - [`scrub`] replaces every registered secret in a text with `<redacted>`. The terminal
//!   streams and the log writer apply it to everything they write, as a last line of
//!   defence; the functions below apply it at the source.
//! - [`portal_text`] is for strings the portal sends only to be shown (error codes and
//!   descriptions, pay-system and handler names, redirect hosts): scrubbed, cut to
//!   [`MAX_PORTAL_TEXT`] characters and with control characters escaped, once, where they
//!   enter the program.
//! - [`live_text`] is for live setting values shown in plans and drift reports (kept exact
//!   for comparisons, and only cut and scrubbed when a plan or report is made); text
//!   renderers then escape them with [`escape_controls`].
//!
//! Secrets shorter than [`MIN_SCRUBBED_CHARS`] characters are not registered: replacing
//! every `ab` in every message would garble output without protecting anything, since a
//! value that short cannot be secret.
//!
//! The registry is process-wide (secrets are read in many places, and every output path
//! must see all of them); it only grows during a run.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// The shortest secret that is scrubbed from text, in characters.
pub const MIN_SCRUBBED_CHARS: usize = 4;

/// The longest display-only string kept from the portal, in characters.
pub const MAX_PORTAL_TEXT: usize = 1_000;

/// The longest live value kept for a plan or a drift report, in characters.
pub const MAX_LIVE_TEXT: usize = 4_096;

#[derive(Default)]
struct Registry {
    needles: BTreeSet<String>,
    matcher: Option<AhoCorasick>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    needles: BTreeSet::new(),
    matcher: None,
});

/// Remembers a secret so that [`scrub`] removes it from any text. Values shorter than
/// [`MIN_SCRUBBED_CHARS`] are ignored.
pub fn remember_secret(secret: &str) {
    if secret.chars().count() < MIN_SCRUBBED_CHARS {
        return;
    }
    let forms = [
        secret.to_owned(),
        json_inner(secret),
        crate::encoding::encode_component(secret),
    ];
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    let before = registry.needles.len();
    registry.needles.extend(forms);
    if registry.needles.len() != before {
        registry.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&registry.needles)
            .ok();
    }
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let Some(matcher) = &registry.matcher else {
        return Cow::Borrowed(text);
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, dst| {
        dst.push_str(REDACTED);
        true
    });
    Cow::Owned(out)
}

/// Whether `text` holds a remembered secret.
pub fn holds_secret(text: &str) -> bool {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry.matcher.as_ref().is_some_and(|m| m.is_match(text))
}

/// [`scrub`] for bytes that may not be UTF-8 (what the log writer is handed): valid UTF-8
/// is scrubbed, anything else is passed on as it is.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(bytes) {
        Ok(text) => match scrub(text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
        Err(_) => Cow::Borrowed(bytes),
    }
}

/// A display-only string from the portal: scrubbed, cut to [`MAX_PORTAL_TEXT`] characters
/// and with control characters escaped.
pub fn portal_text(text: &str) -> String {
    let scrubbed = scrub(text);
    escape_controls(&cut(&scrubbed, MAX_PORTAL_TEXT)).into_owned()
}

/// A live setting value for a plan or a drift report: scrubbed and cut to
/// [`MAX_LIVE_TEXT`] characters. Not escaped: JSON and markdown escape in their own way,
/// and text renderers apply [`escape_controls`].
pub fn live_text(text: &str) -> String {
    let scrubbed = scrub(text);
    cut(&scrubbed, MAX_LIVE_TEXT).into_owned()
}

/// `text` cut to `max` characters, saying how many were left out.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let left_out = text[end..].chars().count();
            Cow::Owned(format!("{}… ({left_out} more characters)", &text[..end]))
        }
    }
}

/// Whether a character must not reach a terminal as it is: C0 and C1 control characters
/// (ESC, BEL, CR, LF, ...), DEL, and the invisible characters that reorder or hide text
/// (bidirectional controls, zero-width characters, line and paragraph separators, BOM).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` with every [unsafe character](is_unsafe_char) written as an escape (`\n`,
/// `\r`, `\t`, `\u{1b}`, ...), so that nothing from the portal can move the cursor,
/// colour the terminal or start a new line that looks like paysync's own output. A
/// backslash is doubled only when the text needs escaping, to keep it unambiguous.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if is_unsafe_char(c) => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The inside of a JSON string literal for `s`.
fn json_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("strings serialise");
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_scrubbed_in_every_form() {
        remember_secret("untrusted-canary \"q\" +&=");
        let text = "a untrusted-canary \"q\" +&= b \
                    untrusted-canary \\\"q\\\" +&= c \
                    untrusted-canary%20%22q%22%20%2B%26%3D d";
        assert_eq!(
            scrub(text),
            "a <redacted> b <redacted> c <redacted> d",
            "{text}"
        );
        // Too short to scrub: left alone.
        remember_secret("abc");
        assert_eq!(scrub("abcabc"), "abcabc");
    }

    #[test]
    fn portal_text_is_cut_and_escaped() {
        assert_eq!(portal_text("fine"), "fine");
        assert_eq!(
            portal_text("a\u{1b}[2J\r\nNo changes.\u{7}"),
            "a\\u{1b}[2J\\r\\nNo changes.\\u{7}"
        );
        assert_eq!(portal_text("c:\\path"), "c:\\path");
        assert_eq!(portal_text("x\u{202e}y\\"), "x\\u{202e}y\\\\");
        let long = "é".repeat(MAX_PORTAL_TEXT + 5);
        let shown = portal_text(&long);
        assert!(shown.ends_with("… (5 more characters)"), "{shown}");
        assert_eq!(shown.chars().filter(|c| *c == 'é').count(), MAX_PORTAL_TEXT);
        assert!(!escape_controls("plain \u{9b}").contains('\u{9b}'));
    }
}

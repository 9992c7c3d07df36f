//! The URL policy: HTTPS except for loopback addresses, no user info, query or fragment;
//! which `client_endpoint` a refresh answer may move calls to; portal identity; and the
//! masking that keeps a webhook code out of every message.

pub(crate) use crate::net::is_loopback;

use reqwest::Url;

use super::error::ConfigError;

/// `host[:port]` of a URL (the port only when it is not the scheme's default).
pub(crate) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The zones of Bitrix24's cloud: a cloud portal is `<name>.bitrix24.<zone>`.
pub const BITRIX24_CLOUD_ZONES: &[&str] = &[
    "com", "ru", "de", "eu", "es", "fr", "it", "pl", "by", "kz", "ua", "uk", "co.uk", "in", "cn",
    "jp", "vn", "id", "co", "mx", "com.br", "com.tr",
];

/// Whether `host` is a Bitrix24 cloud portal's host (`<name>.bitrix24.<zone>`, one of
/// [`BITRIX24_CLOUD_ZONES`]).
pub fn is_bitrix24_cloud_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    BITRIX24_CLOUD_ZONES.iter().any(|zone| {
        host.strip_suffix(&format!(".bitrix24.{zone}"))
            .is_some_and(|name| !name.is_empty() && !name.contains('.'))
    })
}

/// Why a `client_endpoint` from a refresh answer (or the token file) is not used. Shows
/// the offered host only (escaped), never the rest of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefusal {
    #[error("the client_endpoint the OAuth server named is not a URL")]
    NotAUrl,
    #[error(
        "client_endpoint {host} is not https (plain http only on loopback, for a loopback portal)"
    )]
    Insecure { host: String },
    #[error("client_endpoint {host} has a user name, password, query or fragment")]
    UnexpectedParts { host: String },
    #[error("client_endpoint {host} is not a REST base (…/rest/)")]
    NotRest { host: String },
    #[error(
        "client_endpoint {host} is another host than the portal {portal}, and not a move \
         between Bitrix24 cloud portals"
    )]
    OtherHost { host: String, portal: String },
}

/// Checks a `client_endpoint` (bitrix24-api.md §2.3: the REST base for the calls after
/// a refresh) against the configured portal `base` before any token is sent there. An
/// attacker who controls the refresh answer (a hostile proxy, a misconfigured
/// `PAYSYNC_OAUTH_URL`) could otherwise send every later call, token and settings
/// included, to a host of their choosing. Accepted only when all of these hold:
///
/// - it is an `https` URL (plain `http` only to a loopback address when the configured
///   portal is itself on loopback: tests and local emulators) with no user info, query or
///   fragment, and its path is `/rest/` (`/rest` is completed);
/// - its host is the configured portal's host (any port, case-insensitive), **or** both
///   hosts are Bitrix24 cloud portals (`<name>.bitrix24.<zone>`, [`BITRIX24_CLOUD_ZONES`]):
///   a cloud portal renamed within the cloud. An on-premise portal's endpoint can only
///   keep its host.
pub fn accept_client_endpoint(base: &Url, raw: &str) -> Result<Url, EndpointRefusal> {
    let mut url = Url::parse(raw.trim()).map_err(|_| EndpointRefusal::NotAUrl)?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_owned) else {
        return Err(EndpointRefusal::NotAUrl);
    };
    let shown = crate::untrusted::portal_text(&host);
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url) && is_loopback(base),
        _ => false,
    };
    if !secure {
        return Err(EndpointRefusal::Insecure { host: shown });
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(EndpointRefusal::UnexpectedParts { host: shown });
    }
    match url.path() {
        "/rest/" => {}
        "/rest" => url.set_path("/rest/"),
        _ => return Err(EndpointRefusal::NotRest { host: shown }),
    }
    let portal = base.host_str().unwrap_or_default();
    let same_host = host.eq_ignore_ascii_case(portal);
    let cloud_move = is_bitrix24_cloud_host(portal) && is_bitrix24_cloud_host(&host);
    if !(same_host || cloud_move) {
        return Err(EndpointRefusal::OtherHost {
            host: shown,
            portal: portal.to_owned(),
        });
    }
    Ok(url)
}

/// A portal address as recorded in a state file (`scheme://host[:port]`), checked like a
/// credentials URL (https, or http to a loopback address; no user info, query or
/// fragment) and reduced to its origin. Only the origin is ever shown.
pub fn portal_address(s: &str) -> Result<String, ConfigError> {
    let url = parse_checked(s.trim(), "the portal address")?;
    Ok(url.origin().ascii_serialization())
}

/// Whether two portal addresses name the same portal: same scheme, host (compared
/// without regard to case) and effective port (`https://Portal.example:443` is
/// `https://portal.example`). Addresses that do not parse are compared as written.
pub fn same_portal(a: &str, b: &str) -> bool {
    let identity = |s: &str| {
        Url::parse(s.trim()).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
            )
        })
    };
    match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Parses a URL and applies the rules shared by webhook and portal URLs: https or
/// loopback http, no user info, query or fragment.
pub(crate) fn parse_checked(s: &str, var: &str) -> Result<Url, ConfigError> {
    let var = var.to_owned();
    // The parser's messages are fixed texts ("relative URL without a base", ...) and
    // never quote the input.
    let url = Url::parse(s).map_err(|e| ConfigError::InvalidUrl {
        var: var.clone(),
        reason: e.to_string(),
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::InvalidUrl {
            var,
            reason: "no host".into(),
        });
    }
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url),
        _ => false,
    };
    if !secure {
        return Err(ConfigError::InsecureScheme {
            var,
            shown: masked(&url),
        });
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError::UnexpectedUrlParts {
            var,
            shown: masked(&url),
        });
    }
    Ok(url)
}

/// A URL safe to show: `scheme://host[:port]` and the path with every segment replaced
/// by `***` except a leading `rest` and the numeric user ID right after it; user info,
/// query and fragment are shown as `***` too. The webhook code can be any segment of a
/// malformed URL, so nothing else is kept.
pub(crate) fn masked(url: &Url) -> String {
    let mut shown = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        shown.push_str("***@");
    }
    shown.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let rest_first = segments.first() == Some(&"rest");
    for (i, segment) in segments.iter().enumerate() {
        shown.push('/');
        let keep = segment.is_empty()
            || (i == 0 && rest_first)
            || (i == 1 && rest_first && segment.bytes().all(|b| b.is_ascii_digit()));
        shown.push_str(if keep { segment } else { "***" });
    }
    if url.query().is_some() {
        shown.push_str("?***");
    }
    if url.fragment().is_some() {
        shown.push_str("#***");
    }
    shown
}

//! The seed: the portal's initial state and switches, loadable from YAML or JSON.
//!
//! This module owns the seed file format, its validation and the built-in demo portal.
//! It does not know how the state is served; `portal` turns a validated seed into state.
//! All YAML parsing of the crate lives here (serde-saphyr with a strict profile).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::limits::{OperatingLimit, RateLimit};

/// Every scope the emulated portal knows (an OAuth app without `scopes` has them all).
pub const KNOWN_SCOPES: &[&str] = &["pay_system", "sale"];

/// Why a seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The seed file could not be read.
    #[error("cannot read seed file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML text is malformed or does not match the seed format.
    #[error("invalid YAML seed{}: {source}", display_path(path.as_deref()))]
    Yaml {
        path: Option<PathBuf>,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The JSON text is malformed or does not match the seed format.
    #[error("invalid JSON seed{}: {source}", display_path(path.as_deref()))]
    Json {
        path: Option<PathBuf>,
        #[source]
        source: serde_json::Error,
    },
    /// Two records of one kind share an ID.
    #[error("duplicate {kind} id {id} in seed")]
    DuplicateId { kind: &'static str, id: u64 },
    /// Two handlers share a CODE (codes are unique, case-insensitively).
    #[error("duplicate handler code {code:?} in seed")]
    DuplicateHandlerCode { code: String },
    /// A setting names a pay system that the seed does not define.
    #[error("setting {code:?} refers to unknown pay system {pay_system}")]
    UnknownPaySystem { pay_system: u64, code: String },
    /// An ID of 0 (Bitrix IDs start at 1).
    #[error("{kind} id must be positive")]
    ZeroId { kind: &'static str },
    /// A refresh token names an OAuth application that `oauth_apps` does not define.
    #[error("refresh token of unknown OAuth app {client_id:?}")]
    UnknownOAuthApp { client_id: String },
    /// Two OAuth applications share a client_id.
    #[error("duplicate OAuth app {client_id:?} in seed")]
    DuplicateOAuthApp { client_id: String },
    /// A limit holds a negative or non-finite number.
    #[error("{field} must be a finite, non-negative number")]
    InvalidLimit { field: &'static str },
}

fn display_path(path: Option<&Path>) -> String {
    path.map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

/// How `sale.paysystem.settings.get` renders each code (see bitrix24-api.md §5.9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingsShape {
    /// `{"TYPE": …, "VALUE": …}` per code, as the source returns (default).
    #[default]
    Object,
    /// A plain string (the VALUE) per code, as the docs' example shows.
    String,
}

/// What a batch with more than 50 sub-calls does (bitrix24-api.md §8, open question 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchLengthMode {
    /// The whole request fails with 400 `ERROR_BATCH_LENGTH_EXCEEDED`.
    Reject,
    /// The first 50 run; each entry beyond 50 gets `ERROR_BATCH_LENGTH_EXCEEDED` in
    /// `result_error` (default: what the current batch.md says).
    #[default]
    PerEntry,
}

/// The incoming webhook: `/rest/<user_id>/<secret>/<method>`. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSeed {
    pub user_id: u64,
    pub secret: String,
    /// Granted scopes; absent means every scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// An accepted OAuth access token. In a seed file either a bare string or a map.
/// `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OAuthTokenRepr")]
pub struct OAuthTokenSeed {
    pub access_token: String,
    /// The application the token belongs to (recorded on handlers it creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Granted scopes; absent means every scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

impl OAuthTokenSeed {
    /// A token with every scope and no application ID.
    pub fn new(access_token: impl Into<String>) -> Self {
        OAuthTokenSeed {
            access_token: access_token.into(),
            client_id: None,
            scopes: None,
        }
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for WebhookSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSeed")
            .field("user_id", &self.user_id)
            .field("secret", &REDACTED)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl fmt::Debug for OAuthTokenSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenSeed")
            .field("access_token", &REDACTED)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OAuthTokenRepr {
    Bare(String),
    Full {
        access_token: String,
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        scopes: Option<Vec<String>>,
    },
}

impl From<OAuthTokenRepr> for OAuthTokenSeed {
    fn from(repr: OAuthTokenRepr) -> Self {
        match repr {
            OAuthTokenRepr::Bare(access_token) => OAuthTokenSeed::new(access_token),
            OAuthTokenRepr::Full {
                access_token,
                client_id,
                scopes,
            } => OAuthTokenSeed {
                access_token,
                client_id,
                scopes,
            },
        }
    }
}

/// An OAuth application known to the token endpoint (`/oauth/token/`).
/// `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthAppSeed {
    pub client_id: String,
    pub client_secret: String,
    /// Scopes granted to the tokens it gets; absent means every scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// A refresh token the token endpoint accepts once (it rotates). `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthRefreshTokenSeed {
    pub refresh_token: String,
    /// The application (in `oauth_apps`) the token was issued to.
    pub client_id: String,
    /// The user the tokens act as; the webhook's user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
}

impl fmt::Debug for OAuthAppSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAppSeed")
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl fmt::Debug for OAuthRefreshTokenSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthRefreshTokenSeed")
            .field("refresh_token", &REDACTED)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// A REST pay-system handler (`sale.paysystem.handler.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerSeed {
    /// Assigned in order after the highest given ID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub name: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<i64>,
    /// Stored verbatim: `CODES`, `IFRAME_DATA`/`FORM_DATA`/`CHECKOUT_DATA`, `CURRENCY`, `CLIENT_TYPE`.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// The OAuth application that registered the handler, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A pay system. Its `action_file` is a handler CODE (REST) or a built-in handler (e.g. `cash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaySystemSeed {
    pub id: u64,
    pub name: String,
    pub action_file: String,
    pub person_type_id: u64,
    /// `ORDER` (default for seeds), `CRM_INVOICE` or `CRM_QUOTE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_registry_type: Option<String>,
    /// `Y` (default for seeds) or `N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_id: Option<String>,
    /// Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A person type (`sale.persontype.*`), with its hidden registry type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonTypeSeed {
    pub id: u64,
    pub name: String,
    /// Default 150.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `ORDER` (default) or `CRM_INVOICE`/`CRM_QUOTE`; not exposed by `sale.persontype.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_type: Option<String>,
    /// `Y` (default) or `N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_id: Option<String>,
}

/// One stored setting ("business value" mapping). `person_type: 0` is the common mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSeed {
    pub pay_system: u64,
    pub person_type: u64,
    /// Stored upper-cased, as Bitrix does.
    pub code: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub value: Option<String>,
}

/// The initial state and switches of an emulated portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub webhook: WebhookSeed,
    #[serde(default)]
    pub oauth_tokens: Vec<OAuthTokenSeed>,
    #[serde(default)]
    pub handlers: Vec<HandlerSeed>,
    #[serde(default)]
    pub pay_systems: Vec<PaySystemSeed>,
    #[serde(default)]
    pub person_types: Vec<PersonTypeSeed>,
    #[serde(default)]
    pub settings: Vec<SettingSeed>,
    #[serde(default)]
    pub settings_shape: SettingsShape,
    #[serde(default)]
    pub batch_length_mode: BatchLengthMode,
    /// Applications the token endpoint knows (`client_id` + `client_secret`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oauth_apps: Vec<OAuthAppSeed>,
    /// Refresh tokens the token endpoint accepts (each once: refreshing rotates it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oauth_refresh_tokens: Vec<OAuthRefreshTokenSeed>,
    /// Lifetime in seconds of access tokens issued by the token endpoint (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<u64>,
    /// Lifetime in seconds of refresh tokens, seeded ones counted from the portal's start
    /// (default 180 days, 15552000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetime: Option<u64>,
    /// The `client_endpoint` the token endpoint answers (default: this portal's
    /// `<base>/rest/`); another portal's address stands in for a portal that moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_endpoint: Option<String>,
    /// The §9.1 leaky bucket; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The §9.2 operating budget; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_limit: Option<OperatingLimit>,
}

impl Seed {
    /// Reads a seed file: `.json` as JSON, anything else as YAML.
    pub fn from_path(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_owned(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let seed = if is_json {
            serde_json::from_str(&text).map_err(|source| SeedError::Json {
                path: Some(path.to_owned()),
                source,
            })?
        } else {
            parse_yaml(&text).map_err(|source| SeedError::Yaml {
                path: Some(path.to_owned()),
                source,
            })?
        };
        Seed::validated(seed)
    }

    /// Parses a YAML seed (strict: duplicate keys are errors, `Y`/`N`/`on` stay strings).
    pub fn from_yaml_str(text: &str) -> Result<Seed, SeedError> {
        let seed = parse_yaml(text).map_err(|source| SeedError::Yaml { path: None, source })?;
        Seed::validated(seed)
    }

    /// Parses a JSON seed.
    pub fn from_json_str(text: &str) -> Result<Seed, SeedError> {
        let seed =
            serde_json::from_str(text).map_err(|source| SeedError::Json { path: None, source })?;
        Seed::validated(seed)
    }

    /// Checks the cross-record rules: unique IDs and handler codes, settings on known pay systems.
    pub fn validate(&self) -> Result<(), SeedError> {
        unique_ids("handler", self.handlers.iter().filter_map(|h| h.id))?;
        unique_ids("pay system", self.pay_systems.iter().map(|p| p.id))?;
        unique_ids("person type", self.person_types.iter().map(|p| p.id))?;
        let mut codes = BTreeSet::new();
        for handler in &self.handlers {
            if !codes.insert(handler.code.to_ascii_lowercase()) {
                return Err(SeedError::DuplicateHandlerCode {
                    code: handler.code.clone(),
                });
            }
        }
        let mut apps = BTreeSet::new();
        for app in &self.oauth_apps {
            if !apps.insert(app.client_id.as_str()) {
                return Err(SeedError::DuplicateOAuthApp {
                    client_id: app.client_id.clone(),
                });
            }
        }
        if let Some(token) = self
            .oauth_refresh_tokens
            .iter()
            .find(|t| !apps.contains(t.client_id.as_str()))
        {
            return Err(SeedError::UnknownOAuthApp {
                client_id: token.client_id.clone(),
            });
        }
        if self.rate_limit.is_some_and(|l| !l.is_valid()) {
            return Err(SeedError::InvalidLimit {
                field: "rate_limit.drain_per_sec",
            });
        }
        if self.operating_limit.is_some_and(|l| !l.is_valid()) {
            return Err(SeedError::InvalidLimit {
                field: "operating_limit",
            });
        }
        let pay_systems: BTreeSet<u64> = self.pay_systems.iter().map(|p| p.id).collect();
        for setting in &self.settings {
            if !pay_systems.contains(&setting.pay_system) {
                return Err(SeedError::UnknownPaySystem {
                    pay_system: setting.pay_system,
                    code: setting.code.clone(),
                });
            }
        }
        Ok(())
    }

    fn validated(seed: Seed) -> Result<Seed, SeedError> {
        seed.validate()?;
        Ok(seed)
    }

    /// A small portal: the `acmepay` REST handler with pay systems 11 and 12 (ORDER), a
    /// built-in cash pay system 1, person types 1 "Individual" and 2 "Company", and the
    /// webhook `/rest/1/demo-webhook-code/`. `seeds/demo.yaml` is the same seed as a file.
    pub fn demo() -> Seed {
        let settings = json!({
            "CURRENCY": ["EUR", "USD"],
            "CLIENT_TYPE": "b2c",
            "IFRAME_DATA": {
                "ACTION_URI": "https://pay.acme.example/iframe",
                "FIELDS": {
                    "serviceId": {"CODE": "REST_SERVICE_ID_IFRAME"},
                    "mode": {"CODE": "PS_WORK_MODE_IFRAME"},
                    "paymentId": {"CODE": "PAYMENT_ID"}
                }
            },
            "CODES": {
                "REST_SERVICE_ID_IFRAME": {"NAME": "Shop ID", "SORT": "100"},
                "REST_SERVICE_KEY_IFRAME": {"NAME": "Secret key", "SORT": "200"},
                "PS_WORK_MODE_IFRAME": {
                    "NAME": "Mode",
                    "SORT": "300",
                    "INPUT": {"TYPE": "ENUM", "OPTIONS": {"TEST": "Test", "REGULAR": "Live"}}
                },
                "PAYMENT_ID": {
                    "NAME": "Payment number",
                    "SORT": "400",
                    "GROUP": "PAYMENT",
                    "DEFAULT": {"PROVIDER_KEY": "PAYMENT", "PROVIDER_VALUE": "ACCOUNT_NUMBER"}
                },
                "PS_CHANGE_STATUS_PAY": {
                    "NAME": "Change the order status automatically",
                    "SORT": "500",
                    "INPUT": {"TYPE": "Y/N"}
                }
            }
        });
        let pay_system =
            |id: u64, name: &str, action_file: &str, person_type_id: u64, xml_id: Option<&str>| {
                PaySystemSeed {
                    id,
                    name: name.to_owned(),
                    action_file: action_file.to_owned(),
                    person_type_id,
                    entity_registry_type: Some("ORDER".to_owned()),
                    active: Some("Y".to_owned()),
                    xml_id: xml_id.map(str::to_owned),
                    sort: Some(100),
                    description: None,
                }
            };
        let person_type = |id: u64, name: &str, sort: i64| PersonTypeSeed {
            id,
            name: name.to_owned(),
            sort: Some(sort),
            code: None,
            registry_type: Some("ORDER".to_owned()),
            active: Some("Y".to_owned()),
            xml_id: None,
        };
        Seed {
            webhook: WebhookSeed {
                user_id: 1,
                secret: "demo-webhook-code".to_owned(),
                scopes: None,
            },
            oauth_tokens: Vec::new(),
            handlers: vec![HandlerSeed {
                id: Some(1),
                name: "AcmePay".to_owned(),
                code: "acmepay".to_owned(),
                sort: Some(100),
                settings,
                client_id: None,
            }],
            pay_systems: vec![
                pay_system(1, "Cash", "cash", 1, None),
                pay_system(
                    11,
                    "AcmePay card (individuals)",
                    "acmepay",
                    1,
                    Some("acme_card_b2c"),
                ),
                pay_system(
                    12,
                    "AcmePay card (companies)",
                    "acmepay",
                    2,
                    Some("acme_card_b2b"),
                ),
            ],
            person_types: vec![
                person_type(1, "Individual", 100),
                person_type(2, "Company", 200),
            ],
            settings: Vec::new(),
            settings_shape: SettingsShape::Object,
            batch_length_mode: BatchLengthMode::PerEntry,
            oauth_apps: Vec::new(),
            oauth_refresh_tokens: Vec::new(),
            token_lifetime: None,
            refresh_token_lifetime: None,
            client_endpoint: None,
            rate_limit: None,
            operating_limit: None,
        }
    }
}

fn unique_ids(kind: &'static str, ids: impl Iterator<Item = u64>) -> Result<(), SeedError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if id == 0 {
            return Err(SeedError::ZeroId { kind });
        }
        if !seen.insert(id) {
            return Err(SeedError::DuplicateId { kind, id });
        }
    }
    Ok(())
}

fn parse_yaml(text: &str) -> Result<Seed, Box<serde_saphyr::Error>> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_yaml_file_equals_demo() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/demo.yaml");
        let loaded = Seed::from_path(&path).expect("seeds/demo.yaml loads");
        assert_eq!(loaded, Seed::demo());
    }

    #[test]
    fn demo_round_trips_through_json() {
        let text = serde_json::to_string(&Seed::demo()).expect("serialises");
        assert_eq!(Seed::from_json_str(&text).expect("parses"), Seed::demo());
    }

    #[test]
    fn yaml_keeps_y_and_n_as_strings_and_rejects_duplicates() {
        let seed = Seed::from_yaml_str(
            "webhook: {user_id: 1, secret: s}\n\
             pay_systems:\n  - {id: 5, name: X, action_file: cash, person_type_id: 1, active: N}\n\
             oauth_tokens: [tok-1, {access_token: tok-2, client_id: app.1}]\n",
        )
        .expect("valid");
        assert_eq!(seed.pay_systems[0].active.as_deref(), Some("N"));
        assert_eq!(seed.oauth_tokens[0], OAuthTokenSeed::new("tok-1"));
        assert_eq!(seed.oauth_tokens[1].client_id.as_deref(), Some("app.1"));
        let dup = Seed::from_yaml_str(
            "webhook: {user_id: 1, secret: s}\nwebhook: {user_id: 2, secret: t}\n",
        );
        assert!(matches!(dup, Err(SeedError::Yaml { .. })));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut seed = Seed::demo();
        seed.oauth_tokens.push(OAuthTokenSeed::new("tok-secret-1"));
        seed.oauth_apps.push(OAuthAppSeed {
            client_id: "app.1".into(),
            client_secret: "client-secret-2".into(),
            scopes: None,
        });
        seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
            refresh_token: "refresh-secret-3".into(),
            client_id: "app.1".into(),
            user_id: None,
        });
        let dump = format!("{seed:?}");
        for secret in [
            "demo-webhook-code",
            "tok-secret-1",
            "client-secret-2",
            "refresh-secret-3",
        ] {
            assert!(!dump.contains(secret), "{dump}");
        }
    }

    #[test]
    fn limits_and_oauth_apps_load_from_yaml() {
        let seed = Seed::from_yaml_str(
            "webhook: {user_id: 1, secret: s}\n\
             oauth_apps: [{client_id: app.1, client_secret: cs, scopes: [pay_system]}]\n\
             oauth_refresh_tokens: [{refresh_token: rt, client_id: app.1, user_id: 7}]\n\
             token_lifetime: 60\n\
             rate_limit: {capacity: 50, drain_per_sec: 2}\n\
             operating_limit: {limit_secs: 480, cost_secs: 20.5}\n",
        )
        .expect("valid");
        assert_eq!(seed.rate_limit, Some(RateLimit::STANDARD));
        assert_eq!(
            seed.operating_limit,
            Some(OperatingLimit {
                limit_secs: 480.0,
                cost_secs: 20.5
            })
        );
        assert_eq!(seed.token_lifetime, Some(60));
        assert_eq!(seed.oauth_refresh_tokens[0].user_id, Some(7));
        let orphan = Seed::from_yaml_str(
            "webhook: {user_id: 1, secret: s}\n\
             oauth_refresh_tokens: [{refresh_token: rt, client_id: app.9}]\n",
        );
        assert!(matches!(orphan, Err(SeedError::UnknownOAuthApp { .. })));
        let negative = Seed::from_yaml_str(
            "webhook: {user_id: 1, secret: s}\n\
             rate_limit: {capacity: 5, drain_per_sec: -1}\n",
        );
        assert!(matches!(negative, Err(SeedError::InvalidLimit { .. })));
    }

    #[test]
    fn validation_catches_duplicates_and_dangling_settings() {
        let mut seed = Seed::demo();
        seed.pay_systems.push(seed.pay_systems[0].clone());
        assert!(matches!(
            seed.validate(),
            Err(SeedError::DuplicateId { id: 1, .. })
        ));
        let mut seed = Seed::demo();
        seed.settings.push(SettingSeed {
            pay_system: 99,
            person_type: 0,
            code: "X".into(),
            type_: Some("VALUE".into()),
            value: Some("v".into()),
        });
        assert!(matches!(
            seed.validate(),
            Err(SeedError::UnknownPaySystem { pay_system: 99, .. })
        ));
        let mut seed = Seed::demo();
        let mut twin = seed.handlers[0].clone();
        twin.id = Some(2);
        twin.code = "AcmePay".into();
        seed.handlers.push(twin);
        assert!(matches!(
            seed.validate(),
            Err(SeedError::DuplicateHandlerCode { .. })
        ));
    }
}

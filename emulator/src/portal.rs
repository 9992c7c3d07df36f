//! The portal's state: handlers, pay systems, person types, the settings store, the
//! credentials, the clock, the limits, the switches, the active faults and the request log.
//!
//! This module owns the data model and the lookups every method shares (handler by code,
//! access checks, the settings fallback chain). It knows nothing of HTTP or of parameter
//! decoding; the `methods` modules implement the REST semantics on top of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::envelope::ApiError;
use crate::fault::Faults;
use crate::limits::{LeakyBucket, OperatingLedger, OperatingLimit, OperatingReport, RateLimit};
use crate::oauth::OAuth;
use crate::record::RecordedRequest;
use crate::seed::{BatchLengthMode, Seed, SettingsShape, WebhookSeed};

/// A REST pay-system handler.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Handler {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) code: String,
    pub(crate) sort: i64,
    /// Exactly as registered (`CODES`, `IFRAME_DATA`, ...).
    pub(crate) settings: Value,
    /// The OAuth application that registered it (`None` for webhooks and seeds).
    pub(crate) client_id: Option<String>,
}

impl Handler {
    /// `SETTINGS.CODES` in the order Bitrix returns them: stable-sorted by `(int)SORT`.
    pub(crate) fn codes(&self) -> Vec<(&String, &Value)> {
        let mut codes: Vec<(&String, &Value)> = self
            .settings
            .get("CODES")
            .and_then(Value::as_object)
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        codes.sort_by_key(|(_, descriptor)| crate::php::int(descriptor.get("SORT")).unwrap_or(0));
        codes
    }
}

/// A pay system.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PaySystem {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) psa_name: Option<String>,
    pub(crate) description: Option<String>,
    /// The handler code (REST) or a built-in handler such as `cash`.
    pub(crate) action_file: String,
    pub(crate) person_type_id: u64,
    pub(crate) sort: i64,
    pub(crate) active: String,
    pub(crate) new_window: String,
    pub(crate) entity_registry_type: String,
    pub(crate) xml_id: Option<String>,
    pub(crate) is_cash: String,
}

/// A person type, with the registry type that `sale.persontype.*` does not show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PersonType {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) code: Option<String>,
    pub(crate) sort: i64,
    pub(crate) active: String,
    pub(crate) xml_id: Option<String>,
    pub(crate) registry_type: String,
}

/// One stored "business value" mapping: `{TYPE, VALUE}` (PROVIDER_KEY/PROVIDER_VALUE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) type_: Option<String>,
    pub(crate) value: Option<String>,
}

/// `(pay system, person type or 0 for common, CODE upper-cased)`.
pub(crate) type SettingKey = (u64, u64, String);

/// Everything the REST methods read and write.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) handlers: BTreeMap<u64, Handler>,
    pub(crate) pay_systems: BTreeMap<u64, PaySystem>,
    pub(crate) person_types: BTreeMap<u64, PersonType>,
    pub(crate) settings: BTreeMap<SettingKey, Mapping>,
}

impl Store {
    /// The REST handler with this code (MySQL compares codes case-insensitively).
    pub(crate) fn handler_by_code(&self, code: &str) -> Option<&Handler> {
        self.handlers
            .values()
            .find(|h| h.code.eq_ignore_ascii_case(code))
    }

    /// `hasAccessToPaySystem`: only REST-handler pay systems, and not another app's.
    pub(crate) fn check_access(
        &self,
        pay_system: &PaySystem,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let handler = self
            .handler_by_code(&pay_system.action_file)
            .ok_or_else(ApiError::access_denied)?;
        check_owner(handler, caller)
    }

    /// Writes one mapping, as `BusinessValue::setMapping` does (code upper-cased).
    pub(crate) fn set_mapping(
        &mut self,
        pay_system: u64,
        person_type: u64,
        code: &str,
        mapping: Mapping,
    ) {
        self.settings
            .insert((pay_system, person_type, code.to_uppercase()), mapping);
    }

    /// The §4 fallback: exact → the pay system's common mapping → the handler's DEFAULT.
    /// `None` when nothing applies (rendered as `{TYPE: null, VALUE: null}`).
    pub(crate) fn resolve(
        &self,
        pay_system: u64,
        person_type: u64,
        code: &str,
        descriptor: &Value,
    ) -> Option<Mapping> {
        let upper = code.to_uppercase();
        let stored = |pt: u64| self.settings.get(&(pay_system, pt, upper.clone())).cloned();
        let exact_or_common = if person_type == 0 {
            stored(0)
        } else {
            stored(person_type).or_else(|| stored(0))
        };
        exact_or_common.or_else(|| {
            let default = descriptor.get("DEFAULT")?;
            if !(default.is_object() || default.is_array()) {
                return None;
            }
            Some(Mapping {
                type_: default.get("PROVIDER_KEY").and_then(crate::php::string),
                value: default.get("PROVIDER_VALUE").and_then(crate::php::string),
            })
        })
    }
}

/// The ownership rule: an OAuth app may not touch another app's handler.
pub(crate) fn check_owner(handler: &Handler, caller: &Caller) -> Result<(), ApiError> {
    match (&caller.client_id, &handler.client_id) {
        (Some(app), Some(owner)) if app != owner => Err(ApiError::access_denied()),
        _ => Ok(()),
    }
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// Granted scopes; `None` means all.
    pub(crate) scopes: Option<Vec<String>>,
    /// The OAuth application; `None` for webhooks.
    pub(crate) client_id: Option<String>,
    /// Whose operating budget calls are charged to: `webhook:<user>`, `app:<client_id>`,
    /// or `token#<n>` for a seed token without an application.
    pub(crate) key: String,
}

impl Caller {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        scope == "basic"
            || self
                .scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|g| g.eq_ignore_ascii_case(scope)))
    }
}

/// The whole emulated portal; guarded by one mutex, so every request sees a consistent state.
#[derive(Debug)]
pub(crate) struct Portal {
    pub(crate) store: Store,
    pub(crate) webhook: WebhookSeed,
    pub(crate) oauth: OAuth,
    pub(crate) settings_shape: SettingsShape,
    /// `sale.paysystem.list` page size, when it pages (its docs page says "max 50 per
    /// page", the source returns everything: `None`, the default).
    pub(crate) pay_system_page: Option<usize>,
    pub(crate) batch_length_mode: BatchLengthMode,
    pub(crate) faults: Faults,
    pub(crate) log: Vec<RecordedRequest>,
    pub(crate) clock: Clock,
    /// `http://127.0.0.1:PORT`, for the token endpoint's `client_endpoint`.
    pub(crate) base_url: String,
    /// The `client_endpoint` the token endpoint answers instead of `<base_url>/rest/`.
    pub(crate) client_endpoint: Option<String>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) bucket: LeakyBucket,
    /// 503s sent by the bucket.
    pub(crate) limit_rejections: u64,
    pub(crate) operating_limit: Option<OperatingLimit>,
    pub(crate) operating: OperatingLedger,
}

impl Portal {
    /// Builds the state from a seed (validate the seed first).
    pub(crate) fn from_seed(seed: Seed, clock: Clock, base_url: String) -> Portal {
        let oauth = OAuth::from_seed(&seed, clock.now());
        let mut store = Store::default();
        let mut next_handler_id = seed.handlers.iter().filter_map(|h| h.id).max().unwrap_or(0) + 1;
        for h in seed.handlers {
            let id = h.id.unwrap_or_else(|| {
                let id = next_handler_id;
                next_handler_id += 1;
                id
            });
            let handler = Handler {
                id,
                name: h.name,
                code: h.code,
                sort: h.sort.unwrap_or(100),
                settings: h.settings,
                client_id: h.client_id,
            };
            store.handlers.insert(id, handler);
        }
        for p in seed.person_types {
            let person_type = PersonType {
                id: p.id,
                name: p.name,
                code: p.code,
                sort: p.sort.unwrap_or(150),
                active: p.active.unwrap_or_else(|| "Y".to_owned()),
                xml_id: p.xml_id,
                registry_type: p.registry_type.unwrap_or_else(|| "ORDER".to_owned()),
            };
            store.person_types.insert(p.id, person_type);
        }
        for p in seed.pay_systems {
            let is_cash = if p.action_file.eq_ignore_ascii_case("cash") {
                "Y"
            } else {
                "N"
            };
            let pay_system = PaySystem {
                id: p.id,
                psa_name: Some(p.name.clone()),
                name: p.name,
                description: p.description,
                action_file: p.action_file,
                person_type_id: p.person_type_id,
                sort: p.sort.unwrap_or(100),
                active: p.active.unwrap_or_else(|| "Y".to_owned()),
                new_window: "N".to_owned(),
                entity_registry_type: p.entity_registry_type.unwrap_or_else(|| "ORDER".to_owned()),
                xml_id: p.xml_id,
                is_cash: is_cash.to_owned(),
            };
            store.pay_systems.insert(p.id, pay_system);
        }
        for s in seed.settings {
            store.set_mapping(
                s.pay_system,
                s.person_type,
                &s.code,
                Mapping {
                    type_: s.type_,
                    value: s.value,
                },
            );
        }
        Portal {
            store,
            webhook: seed.webhook,
            oauth,
            settings_shape: seed.settings_shape,
            pay_system_page: None,
            batch_length_mode: seed.batch_length_mode,
            faults: Faults::default(),
            log: Vec::new(),
            clock,
            base_url,
            client_endpoint: seed.client_endpoint,
            rate_limit: seed.rate_limit,
            bucket: LeakyBucket::default(),
            limit_rejections: 0,
            operating_limit: seed.operating_limit,
            operating: OperatingLedger::default(),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The leaky bucket (§9.1): `false` (and counted) when the request is refused.
    pub(crate) fn admit_request(&mut self) -> bool {
        let Some(limit) = self.rate_limit else {
            return true;
        };
        let now = self.now();
        let admitted = self.bucket.admit(&limit, now);
        if !admitted {
            self.limit_rejections += 1;
        }
        admitted
    }

    /// Changes the rate limit; the bucket starts empty.
    pub(crate) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.rate_limit = limit;
        self.bucket = LeakyBucket::default();
    }

    /// Before a call (§9.2): 429 when the caller's budget for `method` is already spent.
    pub(crate) fn check_operating(
        &mut self,
        caller: &Caller,
        method: &str,
    ) -> Result<(), ApiError> {
        let Some(limit) = self.operating_limit else {
            return Ok(());
        };
        let now = self.now();
        if self.operating.used(&caller.key, method, now) > limit.limit_secs {
            return Err(ApiError::operation_time_limit());
        }
        Ok(())
    }

    /// After a call ran: charges its simulated execution time.
    pub(crate) fn charge_operating(&mut self, caller: &Caller, method: &str) {
        if let Some(limit) = self.operating_limit {
            let now = self.now();
            self.operating
                .charge(&caller.key, method, limit.cost_secs, now);
        }
    }

    /// `operating`/`operating_reset_at` for a response's `time`; `None` when the limit is
    /// off or nothing is live.
    pub(crate) fn operating_report(
        &mut self,
        caller: &Caller,
        method: &str,
    ) -> Option<OperatingReport> {
        self.operating_limit?;
        let now = self.now();
        self.operating.report(&caller.key, method, now)
    }

    /// Checks webhook credentials (from the path) or an OAuth access token.
    pub(crate) fn authenticate_webhook(
        &self,
        user_id: &str,
        secret: &str,
    ) -> Result<Caller, ApiError> {
        let user_ok = user_id
            .parse::<u64>()
            .is_ok_and(|id| id == self.webhook.user_id);
        if user_ok && secret == self.webhook.secret {
            Ok(Caller {
                scopes: self.webhook.scopes.clone(),
                client_id: None,
                key: format!("webhook:{}", self.webhook.user_id),
            })
        } else {
            Err(ApiError::no_auth())
        }
    }

    /// An access token: unknown → `NO_AUTH_FOUND`, past its expiry → `expired_token`.
    pub(crate) fn authenticate_token(&self, token: Option<&str>) -> Result<Caller, ApiError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::no_auth)?;
        let index = self.oauth.check(token, self.now())?;
        let t = &self.oauth.tokens[index];
        Ok(Caller {
            scopes: t.scopes.clone(),
            client_id: t.client_id.clone(),
            key: t
                .client_id
                .as_ref()
                .map_or_else(|| format!("token#{index}"), |app| format!("app:{app}")),
        })
    }
}

/// Renders a stored or resolved mapping as `{"TYPE", "VALUE"}`.
pub(crate) fn mapping_object(mapping: Option<&Mapping>) -> Value {
    let mut object = Map::new();
    object.insert(
        "TYPE".into(),
        mapping
            .and_then(|m| m.type_.clone())
            .map_or(Value::Null, Value::String),
    );
    object.insert(
        "VALUE".into(),
        mapping
            .and_then(|m| m.value.clone())
            .map_or(Value::Null, Value::String),
    );
    Value::Object(object)
}

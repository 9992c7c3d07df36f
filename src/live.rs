//! Live validation: the manifests checked against what the portal declares (`plan
//! --refresh`, `apply --refresh`, `validate --live`).
//!
//! ```text
//! sale.paysystem.handler.list ─┐
//! sale.paysystem.list ─────────┼─parse─▶ Catalog ─┐
//! sale.persontype.list (paged) ┘                  ├─▶ check (pure) ─▶ Diagnostics, located in the manifests
//! Desired ────────────────────────────────────────┘
//! ```
//!
//! Each problem is a manifest mistake the portal would not report itself, or would report
//! only at apply time, one target at a time:
//!
//! | code | problem |
//! |---|---|
//! | `unknown-pay-system` | the pay system does not exist |
//! | `built-in-pay-system` | the pay system's `ACTION_FILE` is not a REST handler (cash, bank transfer, ...): not manageable through REST |
//! | `unknown-person-type` | the payer type does not exist (0, the defaults, always does) |
//! | `undeclared-code` | the handler's `CODES` do not declare the setting: the portal stores it silently and never returns it, a perpetual diff |
//! | `invalid-option` | a `type: VALUE` setting outside its `ENUM` input's `OPTIONS` |
//! | `invalid-checkbox` | a `type: VALUE` setting of a `Y/N` input that is neither `Y` nor `N` |
//!
//! [`check`] does no I/O; [`fetch`] only reads (three list methods); [`validate`] joins
//! them. Secret values are never resolved here and never checked: only plain values are.
//!
//! [`read_settings`] reads the live settings of targets (`sale.paysystem.settings.get`,
//! batched), for `--refresh`, `drift` and `import`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::bitrix::envelope::{BatchEntry, PortalError, parse_settings};
use crate::bitrix::request::{
    MAX_BATCH, METHOD_BATCH, METHOD_HANDLER_LIST, METHOD_PAY_SYSTEM_LIST, METHOD_PERSON_TYPE_LIST,
    target_key,
};
use crate::bitrix::{Client, ClientError, Request};
use crate::manifest::Resolution;
use crate::manifest::{Code, Diagnostic, Diagnostics};
use crate::model::{Desired, LiveSetting, SOURCE_VALUE, SettingValue, Target};
use crate::model::{Names, PaySystemRef, PersonTypeRef, TargetRef};
use crate::untrusted::portal_text;

/// How a handler code takes its value (`CODES[code].INPUT`), as far as it can be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// No `INPUT`, or a type with no fixed set of values (`STRING`, `FILE`, ...).
    Free,
    /// `ENUM`: one of the `OPTIONS` keys.
    Enum(Vec<String>),
    /// `Y/N`: a checkbox.
    YesNo,
}

/// A REST handler (`sale.paysystem.handler.list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub code: String,
    /// Declared setting code (upper-case, as the portal stores them) → its declaration.
    pub codes: BTreeMap<String, DeclaredCode>,
}

/// One entry of a handler's `SETTINGS.CODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredCode {
    pub input: Input,
    /// `NAME`, the label shown in the portal.
    pub name: Option<String>,
    /// `DEFAULT` as (`PROVIDER_KEY`, `PROVIDER_VALUE`).
    pub default: Option<(String, String)>,
}

/// A pay system (`sale.paysystem.list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaySystem {
    pub id: u64,
    pub name: Option<String>,
    /// `XML_ID`: the portable identifier manifests may name it by.
    pub xml_id: Option<String>,
    /// The handler code: a REST handler's `CODE` or a built-in handler.
    pub action_file: String,
}

/// What the portal declares, for [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    pub handlers: Vec<Handler>,
    pub pay_systems: BTreeMap<u64, PaySystem>,
    /// Payer types by ID; `None` when not read (no target names a payer type other
    /// than 0).
    pub person_types: Option<BTreeMap<u64, PersonType>>,
}

/// A payer type (`sale.persontype.list`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonType {
    pub name: Option<String>,
    pub xml_id: Option<String>,
    pub code: Option<String>,
}

impl Catalog {
    /// The REST handler a pay system runs, if its `ACTION_FILE` is one (the portal
    /// compares handler codes case-insensitively).
    pub fn handler_of(&self, pay_system: &PaySystem) -> Option<&Handler> {
        self.handlers
            .iter()
            .find(|h| h.code.eq_ignore_ascii_case(&pay_system.action_file))
    }

    /// The names of the pay systems and payer types read.
    pub fn names(&self) -> Names {
        let named = |(id, name): (&u64, &Option<String>)| Some((*id, name.clone()?));
        Names {
            pay_systems: self
                .pay_systems
                .iter()
                .filter_map(|(id, p)| named((id, &p.name)))
                .collect(),
            person_types: self
                .person_types
                .iter()
                .flatten()
                .filter_map(|(id, p)| named((id, &p.name)))
                .collect(),
        }
    }

    /// What `reference` names on this portal: exactly one pay system with the `XML_ID`
    /// and one payer type with the `xmlId` or `code` (payer types must have been read).
    pub fn resolve(&self, reference: &TargetRef) -> Resolution {
        fn one(found: Vec<u64>, what: String) -> Result<u64, String> {
            match found.as_slice() {
                [id] => Ok(*id),
                [] => Err(format!("no {what} on this portal")),
                ids => Err(format!(
                    "{what} is not one thing on this portal: {} have it",
                    listing(ids.iter().map(u64::to_string))
                )),
            }
        }
        let pay_system = match &reference.pay_system {
            PaySystemRef::Id(id) => Ok(*id),
            PaySystemRef::XmlId(x) => one(
                self.pay_systems
                    .values()
                    .filter(|p| p.xml_id.as_deref() == Some(x.as_str()))
                    .map(|p| p.id)
                    .collect(),
                format!("pay system with XML_ID {x:?}"),
            ),
        };
        let person_type = match &reference.person_type {
            PersonTypeRef::Id(id) => Ok(*id),
            other => {
                let (key, what) = match other {
                    PersonTypeRef::XmlId(x) => (x, "xmlId"),
                    PersonTypeRef::Code(c) => (c, "code"),
                    PersonTypeRef::Either(e) => (e, "xmlId or code"),
                    PersonTypeRef::Id(_) => unreachable!("handled above"),
                };
                let matches = |p: &PersonType| {
                    let xml = p.xml_id.as_deref() == Some(key.as_str());
                    let code = p.code.as_deref() == Some(key.as_str());
                    match other {
                        PersonTypeRef::XmlId(_) => xml,
                        PersonTypeRef::Code(_) => code,
                        _ => xml || code,
                    }
                };
                one(
                    self.person_types
                        .iter()
                        .flatten()
                        .filter(|(_, p)| matches(p))
                        .map(|(id, _)| *id)
                        .collect(),
                    format!("payer type with {what} {key:?}"),
                )
            }
        };
        match (pay_system, person_type) {
            (Ok(pay_system), Ok(person_type)) => Resolution::Found(Target {
                pay_system,
                person_type,
            }),
            (Err(why), _) | (_, Err(why)) => Resolution::Refused(format!("{reference}: {why}")),
        }
    }
}

/// Reads handlers, pay systems and (with `person_types`) every page of payer types.
pub async fn fetch(client: &Client, person_types: bool) -> Result<Catalog, ClientError> {
    Ok(fetch_with_reads(client, person_types, &[]).await?.0)
}

/// The settings read for each target: the settings, or why not.
pub type Reads = BTreeMap<Target, Result<BTreeMap<String, LiveSetting>, ReadError>>;

/// The catalog requests' keys in the first batch.
const CATALOG_KEYS: [&str; 3] = [
    "catalog_handlers",
    "catalog_pay_systems",
    "catalog_person_types",
];

/// [`fetch`], with the settings of the first of `targets` read in the same first batch
/// (`--refresh`: one request where there were four); returns which were read. A list
/// with more pages continues with its own requests.
pub async fn fetch_with_reads(
    client: &Client,
    person_types: bool,
    targets: &[Target],
) -> Result<(Catalog, Reads), ClientError> {
    tracing::info!("reading handlers and pay systems");
    let mut lists = vec![
        (CATALOG_KEYS[0], Request::handler_list()),
        (CATALOG_KEYS[1], Request::pay_system_list()),
    ];
    if person_types {
        lists.push((CATALOG_KEYS[2], Request::person_type_list(0)));
    }
    let first: Vec<Target> = targets
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(MAX_BATCH - lists.len())
        .collect();
    let mut commands: Vec<(String, Request)> = lists
        .iter()
        .map(|(key, request)| ((*key).to_owned(), request.clone()))
        .collect();
    commands.extend(
        first
            .iter()
            .map(|t| (target_key(*t), Request::settings_get(*t))),
    );
    let outcome = client.batch(&commands, false).await?;
    // Each list: its first page from the batch, the rest (if any) page by page.
    let mut pages = BTreeMap::new();
    for (key, request) in &lists {
        let method = request.method.clone();
        let first_page = match outcome.entries.get(*key) {
            Some(BatchEntry::Ok(result)) => result.clone(),
            Some(BatchEntry::Failed(error)) => {
                return Err(ClientError::Portal {
                    method,
                    error: error.clone(),
                });
            }
            Some(BatchEntry::NotRun) | None => {
                return Err(decode(&method, "the batch gave no answer for it".into()));
            }
        };
        let mut all = vec![first_page];
        if let Some(next) = outcome.next.get(*key) {
            all.extend(read_pages(client, request.clone().from_start(*next)).await?);
        }
        pages.insert(*key, all);
    }
    let mut handlers = Vec::new();
    for page in &pages[CATALOG_KEYS[0]] {
        handlers.extend(parse_handlers(page).map_err(|d| decode(METHOD_HANDLER_LIST, d))?);
    }
    let mut pay_systems = BTreeMap::new();
    for page in &pages[CATALOG_KEYS[1]] {
        pay_systems.extend(parse_pay_systems(page).map_err(|d| decode(METHOD_PAY_SYSTEM_LIST, d))?);
    }
    let person_types = match pages.get(CATALOG_KEYS[2]) {
        Some(all) => {
            let mut types = BTreeMap::new();
            for page in all {
                types.extend(
                    parse_person_types(page).map_err(|d| decode(METHOD_PERSON_TYPE_LIST, d))?,
                );
            }
            Some(types)
        }
        None => None,
    };
    let mut reads = Reads::new();
    for target in first {
        let _span = target.span().entered();
        reads.insert(target, target_read(&outcome, target)?);
    }
    Ok((
        Catalog {
            handlers,
            pay_systems,
            person_types,
        },
        reads,
    ))
}

/// What the batch `outcome` says of `target`'s `settings.get`.
fn target_read(
    outcome: &crate::bitrix::BatchOutcome,
    target: Target,
) -> Result<Result<BTreeMap<String, LiveSetting>, ReadError>, ClientError> {
    match outcome.entries.get(&target_key(target)) {
        // One answer of an unexpected shape makes that target unreadable, not the whole
        // read.
        Some(BatchEntry::Ok(result)) => {
            Ok(parse_settings(result).map_err(|e| ReadError::Unreadable(e.to_string())))
        }
        Some(BatchEntry::Failed(error)) => Ok(Err(ReadError::Refused(error.clone()))),
        Some(BatchEntry::NotRun) | None => Err(ClientError::Decode {
            method: METHOD_BATCH.into(),
            detail: format!("the portal reported neither a result nor an error for {target}"),
        }),
    }
}

/// At most this many pages of one list are read (of 50 rows: half a million rows).
const MAX_PAGES: usize = 10_000;

/// The `result` of every page of a list: `first`, then the same request from the
/// envelope's `next` while the portal gives one (bitrix24-api.md §7). A `next` that
/// does not move forward, or more than [`MAX_PAGES`] pages, is an error, not a loop.
async fn read_pages(client: &Client, first: Request) -> Result<Vec<Value>, ClientError> {
    let method = first.method.clone();
    let mut pages = Vec::new();
    let mut request = first;
    let mut start = 0;
    while pages.len() < MAX_PAGES {
        let (result, page) = client.call_page(&request).await?;
        pages.push(result);
        match page.next {
            None => return Ok(pages),
            Some(next) if next > start => {
                start = next;
                request = request.from_start(next);
            }
            Some(next) => {
                return Err(decode(
                    &method,
                    format!("the answer's `next` ({next}) does not move past {start}"),
                ));
            }
        }
    }
    Err(decode(
        &method,
        format!("the list goes on for more than {MAX_PAGES} pages"),
    ))
}

fn decode(method: &str, detail: String) -> ClientError {
    ClientError::Decode {
        method: method.to_owned(),
        detail,
    }
}

/// Reads the settings of each target with `sale.paysystem.settings.get`, batched at
/// most [`MAX_BATCH`] per HTTP request. A target the portal refused (`ACCESS_DENIED`
/// for a built-in pay system, `ERROR_CHECK_FAILURE` for an unknown one, ...) maps to
/// its error; a failure of a whole request is the `Err`. Duplicate targets are read
/// once.
pub async fn read_settings(client: &Client, targets: &[Target]) -> Result<Reads, ClientError> {
    let targets: Vec<Target> = targets
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut read = BTreeMap::new();
    for chunk in targets.chunks(MAX_BATCH) {
        let commands: Vec<(String, Request)> = chunk
            .iter()
            .map(|t| (target_key(*t), Request::settings_get(*t)))
            .collect();
        let outcome = client.batch(&commands, false).await?;
        for target in chunk {
            let _span = target.span().entered();
            read.insert(*target, target_read(&outcome, *target)?);
        }
    }
    Ok(read)
}

/// Why one target's settings could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The portal refused to read it (`ACCESS_DENIED`, `ERROR_CHECK_FAILURE`, ...).
    Refused(PortalError),
    /// The portal answered, in a shape paysync cannot read (a list where a value
    /// belongs, say): what was wrong, in words.
    Unreadable(String),
}

/// An ID the portal may send as a number or a decimal string.
fn id(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A name or code the portal sends that paysync shows (in diagnostics, the import's file
/// headers): untrusted text, scrubbed, cut and escaped ([`portal_text`]). Codes are only
/// compared with codes treated the same way, or with manifest codes (`[A-Z0-9_]`), which
/// the escaping leaves alone.
fn shown_text(value: Option<&Value>) -> Option<String> {
    text(value).map(|t| portal_text(&t))
}

/// A PHP array as JSON: a list, or an object keyed by index (or by name).
fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

/// `sale.paysystem.handler.list`'s result: handlers with their `SETTINGS.CODES`.
pub fn parse_handlers(result: &Value) -> Result<Vec<Handler>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the handler list is not a list".into());
    }
    let mut handlers = Vec::new();
    for item in items(result) {
        let Some(code) = shown_text(item.get("CODE")) else {
            return Err("a handler has no CODE".into());
        };
        let codes = match item.get("SETTINGS").and_then(|s| s.get("CODES")) {
            Some(Value::Object(codes)) => codes
                .iter()
                .map(|(name, declared)| {
                    (portal_text(&name.to_uppercase()), declared_code(declared))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        handlers.push(Handler { code, codes });
    }
    Ok(handlers)
}

fn declared_code(declared: &Value) -> DeclaredCode {
    let default = declared
        .get("DEFAULT")
        .and_then(|d| Some((text(d.get("PROVIDER_KEY"))?, text(d.get("PROVIDER_VALUE"))?)));
    DeclaredCode {
        input: input(declared),
        name: shown_text(declared.get("NAME")),
        default,
    }
}

fn input(declared: &Value) -> Input {
    let Some(input) = declared.get("INPUT") else {
        return Input::Free;
    };
    let kind = input
        .get("TYPE")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    match kind.as_str() {
        "Y/N" => Input::YesNo,
        "ENUM" => match input.get("OPTIONS") {
            // `{KEY: label}`: the keys are the values; a plain list holds the values.
            Some(Value::Object(options)) => Input::Enum(options.keys().cloned().collect()),
            Some(Value::Array(options)) => {
                Input::Enum(options.iter().filter_map(|o| text(Some(o))).collect())
            }
            _ => Input::Free,
        },
        _ => Input::Free,
    }
}

/// `sale.paysystem.list`'s result: pay systems by ID.
pub fn parse_pay_systems(result: &Value) -> Result<BTreeMap<u64, PaySystem>, String> {
    if !matches!(result, Value::Array(_) | Value::Object(_)) {
        return Err("the pay-system list is not a list".into());
    }
    let mut pay_systems = BTreeMap::new();
    for item in items(result) {
        let Some(id) = id(item.get("ID")) else {
            return Err("a pay system has no numeric ID".into());
        };
        pay_systems.insert(
            id,
            PaySystem {
                id,
                name: shown_text(item.get("NAME")),
                xml_id: text(item.get("XML_ID")).filter(|x| !x.is_empty()),
                action_file: shown_text(item.get("ACTION_FILE")).unwrap_or_default(),
            },
        );
    }
    Ok(pay_systems)
}

/// One page of `sale.persontype.list`: `{"personTypes": [...]}` (the docs' unwrapped
/// list is accepted too); the payer types on it.
pub fn parse_person_types(result: &Value) -> Result<Vec<(u64, PersonType)>, String> {
    let list = match result {
        Value::Object(map) => map
            .get("personTypes")
            .ok_or_else(|| "the answer has no personTypes".to_owned())?,
        other => other,
    };
    items(list)
        .into_iter()
        .map(|p| {
            let id = id(p.get("id")).ok_or_else(|| "a payer type has no numeric id".to_owned())?;
            Ok((
                id,
                PersonType {
                    name: shown_text(p.get("name")),
                    xml_id: text(p.get("xmlId")).filter(|x| !x.is_empty()),
                    code: text(p.get("code")).filter(|c| !c.is_empty()),
                },
            ))
        })
        .collect()
}

/// At most this many names in a help line.
const LISTED: usize = 12;

fn listing(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    let mut shown = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        shown.push_str(&format!(", and {} more", names.len() - LISTED));
    }
    shown
}

/// Every problem of `desired` against `catalog`, sorted by place. No I/O.
pub fn check(desired: &Desired, catalog: &Catalog) -> Diagnostics {
    let mut found = Vec::new();
    for (target, declared) in &desired.targets {
        if let Some(person_types) = &catalog.person_types
            && target.person_type != 0
            && !person_types.contains_key(&target.person_type)
        {
            found.push(
                Diagnostic::new(
                    Code::UnknownPersonType,
                    declared.origin.clone(),
                    format!(
                        "payer type {} does not exist on the portal",
                        target.person_type
                    ),
                )
                .help(format!(
                    "use an ID from sale.persontype.list ({}), or 0 for the pay system's default settings",
                    listing(person_types.keys().map(u64::to_string))
                )),
            );
        }
        let Some(pay_system) = catalog.pay_systems.get(&target.pay_system) else {
            found.push(
                Diagnostic::new(
                    Code::UnknownPaySystem,
                    declared.origin.clone(),
                    format!(
                        "pay system {} does not exist on the portal",
                        target.pay_system
                    ),
                )
                .help(format!(
                    "use an ID from sale.paysystem.list: {}",
                    listing(
                        catalog
                            .pay_systems
                            .values()
                            .filter(|p| catalog.handler_of(p).is_some())
                            .map(describe)
                    )
                )),
            );
            continue;
        };
        let Some(handler) = catalog.handler_of(pay_system) else {
            found.push(
                Diagnostic::new(
                    Code::BuiltInPaySystem,
                    declared.origin.clone(),
                    format!(
                        "pay system {} uses the built-in handler `{}`, which cannot be managed through REST",
                        describe(pay_system),
                        pay_system.action_file
                    ),
                )
                .help(
                    "paysync manages only pay systems backed by a REST handler \
                     (sale.paysystem.handler.*); the portal refuses the others with ACCESS_DENIED",
                ),
            );
            continue;
        };
        for (code, setting) in &declared.settings {
            let origin = declared.origin_of(code).unwrap_or(&declared.origin).clone();
            let Some(DeclaredCode { input, .. }) = handler.codes.get(code) else {
                found.push(
                    Diagnostic::new(
                        Code::UndeclaredCode,
                        origin,
                        format!(
                            "setting `{code}` is not declared by handler `{}` of pay system {}",
                            handler.code, target.pay_system
                        ),
                    )
                    .help(format!(
                        "the portal would store it silently and never return it, so every plan \
                         would show it again; the handler declares: {}",
                        listing(handler.codes.keys().cloned())
                    )),
                );
                continue;
            };
            // Only literal values are checked: a field source's VALUE names a field, and
            // a secret is never read here.
            let SettingValue::Plain(value) = &setting.value else {
                continue;
            };
            if setting.source != SOURCE_VALUE {
                continue;
            }
            match input {
                Input::Enum(options) if !options.contains(value) => found.push(
                    Diagnostic::new(
                        Code::InvalidOption,
                        origin,
                        format!(
                            "`{code}` is {value:?}, which is not an option of handler `{}`",
                            handler.code
                        ),
                    )
                    .help(format!("use one of: {}", listing(options.iter().cloned()))),
                ),
                Input::YesNo if value != "Y" && value != "N" => found.push(
                    Diagnostic::new(
                        Code::InvalidCheckbox,
                        origin,
                        format!("`{code}` is a Y/N setting, but its value is {value:?}"),
                    )
                    .help("write \"Y\" or \"N\""),
                ),
                _ => {}
            }
        }
    }
    Diagnostics::sorted(found)
}

fn describe(pay_system: &PaySystem) -> String {
    match &pay_system.name {
        Some(name) => format!("{} ({name:?})", pay_system.id),
        None => pay_system.id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::model::{DesiredTarget, Origin, Setting, Target};
    use crate::secrets::SecretRef;

    fn origin(line: usize) -> Origin {
        Origin {
            file: Path::new("m/acme.yaml").into(),
            line: Origin::narrow(line),
            column: 3,
            len: 0,
        }
    }

    fn catalog() -> Catalog {
        let handlers = parse_handlers(&json!([{
            "ID": "1", "NAME": "AcmePay", "CODE": "acmepay", "SORT": "100",
            "SETTINGS": {"CODES": {
                "REST_SERVICE_ID_IFRAME": {"NAME": "Shop ID"},
                "REST_SERVICE_KEY_IFRAME": {"NAME": "Secret key"},
                "PS_WORK_MODE_IFRAME": {"NAME": "Mode", "INPUT": {"TYPE": "ENUM", "OPTIONS": {"TEST": "Test", "REGULAR": "Live"}}},
                "PS_CHANGE_STATUS_PAY": {"NAME": "Status", "INPUT": {"TYPE": "Y/N"}},
                "PAYMENT_ID": {"NAME": "Payment number", "DEFAULT": {"PROVIDER_KEY": "PAYMENT", "PROVIDER_VALUE": "ACCOUNT_NUMBER"}}
            }}
        }]))
        .unwrap();
        let pay_systems = parse_pay_systems(&json!([
            {"ID": 1, "NAME": "Cash", "ACTION_FILE": "cash"},
            {"ID": "11", "NAME": "AcmePay card", "ACTION_FILE": "acmepay"},
        ]))
        .unwrap();
        let person_types =
            parse_person_types(&json!({"personTypes": [{"id": 1}, {"id": "2"}]})).unwrap();
        Catalog {
            handlers,
            pay_systems,
            person_types: Some(person_types.into_iter().collect()),
        }
    }

    fn desired(pay_system: u64, person_type: u64, settings: &[(&str, &str, &str)]) -> Desired {
        let target = Target {
            pay_system,
            person_type,
        };
        let mut d = DesiredTarget {
            reference: None,
            removed: BTreeMap::new(),
            target,
            origin: origin(1),
            settings: Default::default(),
        };
        for (i, (code, source, value)) in settings.iter().enumerate() {
            let value = match value.strip_prefix("secret:") {
                Some(name) => SettingValue::Secret(SecretRef::Env {
                    name: name.to_owned(),
                }),
                None => SettingValue::Plain((*value).to_owned()),
            };
            d.settings.insert(
                (*code).to_owned(),
                Setting {
                    source: (*source).to_owned(),
                    value,
                },
                origin(7 + i),
            );
        }
        Desired {
            targets: BTreeMap::from([(target, Box::new(d))]),
            pending: Vec::new(),
        }
    }

    fn codes(d: &Diagnostics) -> Vec<(&'static str, usize)> {
        d.0.iter()
            .map(|d| (d.code.as_str(), d.origin.line as usize))
            .collect()
    }

    #[test]
    fn a_valid_target_has_no_problems() {
        let d = desired(
            11,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "VALUE", "REGULAR"),
                ("PS_CHANGE_STATUS_PAY", "VALUE", "N"),
                ("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER"),
                ("REST_SERVICE_KEY_IFRAME", "VALUE", "secret:ACME_KEY"),
            ],
        );
        assert_eq!(check(&d, &catalog()).0, vec![]);
        // Payer type 0 always exists.
        assert_eq!(check(&desired(11, 0, &[]), &catalog()).0, vec![]);
    }

    #[test]
    fn each_problem_is_found_and_located() {
        let cases: &[(Desired, &[(&str, usize)])] = &[
            (desired(99, 1, &[]), &[("unknown-pay-system", 1)]),
            (
                desired(1, 1, &[("X", "VALUE", "1")]),
                &[("built-in-pay-system", 1)],
            ),
            (desired(11, 5, &[]), &[("unknown-person-type", 1)]),
            (
                desired(11, 1, &[("REST_SERVICE_IDD", "VALUE", "1")]),
                &[("undeclared-code", 7)],
            ),
            (
                desired(11, 1, &[("PS_WORK_MODE_IFRAME", "VALUE", "LIVE")]),
                &[("invalid-option", 7)],
            ),
            (
                desired(11, 1, &[("PS_CHANGE_STATUS_PAY", "VALUE", "yes")]),
                &[("invalid-checkbox", 7)],
            ),
            (
                desired(99, 7, &[]),
                &[("unknown-person-type", 1), ("unknown-pay-system", 1)],
            ),
        ];
        for (d, want) in cases {
            assert_eq!(codes(&check(d, &catalog())), *want, "{d:?}");
        }
    }

    #[test]
    fn only_literal_values_are_checked() {
        let d = desired(
            11,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "INPUT", "ANYTHING"),
                ("PS_CHANGE_STATUS_PAY", "VALUE", "secret:FLAG"),
            ],
        );
        assert_eq!(check(&d, &catalog()).0, vec![]);
    }

    #[test]
    fn handler_codes_match_case_insensitively() {
        let mut c = catalog();
        c.handlers[0].code = "AcmePay".into();
        assert_eq!(check(&desired(11, 1, &[]), &c).0, vec![]);
    }

    #[test]
    fn person_types_not_read_are_not_checked() {
        let mut c = catalog();
        c.person_types = None;
        assert_eq!(check(&desired(11, 5, &[]), &c).0, vec![]);
    }

    #[test]
    fn messages_name_the_options() {
        let d = check(
            &desired(11, 1, &[("PS_WORK_MODE_IFRAME", "VALUE", "LIVE")]),
            &catalog(),
        );
        assert_eq!(
            d.0[0].message,
            "`PS_WORK_MODE_IFRAME` is \"LIVE\", which is not an option of handler `acmepay`"
        );
        assert_eq!(d.0[0].help.as_deref(), Some("use one of: TEST, REGULAR"));
    }

    #[test]
    fn parsing_accepts_php_shapes() {
        // Options as a list, IDs as strings, an object-keyed list.
        let h = parse_handlers(&json!({"0": {"CODE": "x", "SETTINGS": {"CODES": {
            "mode": {"INPUT": {"TYPE": "enum", "OPTIONS": ["A", "B"]}}}}}}))
        .unwrap();
        assert_eq!(
            h[0].codes["MODE"].input,
            Input::Enum(vec!["A".into(), "B".into()])
        );
        assert!(parse_handlers(&json!("nope")).is_err());
        assert!(parse_pay_systems(&json!([{"NAME": "no id"}])).is_err());
        assert_eq!(
            parse_person_types(&json!([{"id": 3, "name": "Individuals", "code": "fiz"}])).unwrap(),
            vec![(
                3,
                PersonType {
                    name: Some("Individuals".to_owned()),
                    xml_id: None,
                    code: Some("fiz".to_owned())
                }
            )]
        );
        assert!(
            parse_person_types(&json!({"personTypes": []}))
                .unwrap()
                .is_empty()
        );
    }
}

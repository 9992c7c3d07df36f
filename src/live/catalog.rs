//! What the portal declares, as read: its REST handlers with their setting codes, its
//! pay systems and payer types ([`Catalog`]), and how references resolve against them.

use std::collections::BTreeMap;

use crate::manifest::Resolution;
use crate::model::Target;
use crate::model::{Names, PaySystemRef, PersonTypeRef, TargetRef};

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

/// At most this many names in a help line.
const LISTED: usize = 12;

pub(super) fn listing(names: impl IntoIterator<Item = String>) -> String {
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

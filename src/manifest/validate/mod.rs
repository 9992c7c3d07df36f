//! Validation: raw documents → [`Desired`], each problem a located [`Diagnostic`].
//!
//! No I/O: files are read by the caller. Every field and every setting is checked on its
//! own, so one mistake does not hide the next. Validation has two steps:
//! - [`check`] looks at one document on its own; it needs nothing from other documents,
//!   so the caller may check the documents of different files on different threads;
//! - [`Validator::declare`] then takes the checked documents in order (file by file,
//!   document by document) and remembers where each target was first declared, so a
//!   second declaration (in the same file or another) is reported with a note pointing
//!   back at the first.
//!
//! The document's fields are checked here; its `settings` in [`settings`]; the wording
//! of the messages (how a value is quoted, which field a typo meant, YAML errors) is in
//! [`messages`].

mod handler;
pub(super) mod messages;
mod objects;
mod settings;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::diagnostic::{Code, Diagnostic};
use super::located::{Located, Node};
use super::raw::{API_VERSION, KIND, RawDocument, SETTINGS_FIELDS};
use crate::model::{
    Desired, DesiredTarget, Origin, PaySystemRef, PersonTypeRef, Setting, Target, TargetRef,
};
use messages::{declared_twice, describe, missing_help, origin, quote};

/// A handler or a pay system, as one document declares it.
#[derive(Debug)]
enum DeclaredObject {
    Handler(Box<crate::model::objects::DesiredHandler>),
    PaySystem(Box<crate::model::objects::DesiredPaySystem>),
}

/// One document, checked on its own.
#[derive(Debug)]
pub(super) struct CheckedDocument {
    /// Its problems, in the order they were found.
    diagnostics: Vec<Diagnostic>,
    /// The target it declares, when `paySystem` and `personType` are valid.
    declared: Option<Declared>,
    /// The handler or pay system it declares (kinds `PaySystemHandler`, `PaySystem`),
    /// when valid.
    object: Option<(DeclaredObject, Origin)>,
}

#[derive(Debug)]
struct Declared {
    /// The target (all zeros for one named by reference until it is resolved).
    target: Target,
    reference: Option<Box<TargetRef>>,
    /// Where `paySystem` is.
    at: Origin,
    /// The declaration, when the document has no problem at all.
    valid: Option<Box<DesiredTarget>>,
}

/// Checks one document of `file`. Its text (codes, values, sources) is moved out of the
/// document into the settings rather than copied: one to three fewer allocations per
/// setting, which the document would free right after anyway.
pub(super) fn check(file: &Arc<Path>, document: Located<RawDocument>) -> CheckedDocument {
    let mut checker = Checker::default();
    let kind = match &document.value.kind {
        Some(Located {
            value: Node::Str(kind),
            ..
        }) => kind.clone(),
        _ => String::new(),
    };
    if kind == "PaySystemHandler" || kind == "PaySystem" {
        let start = Origin {
            len: 0,
            ..origin(file, &document)
        };
        let object = checker.object(file, &document.value, &kind, &start);
        let object = object
            .filter(|_| checker.diagnostics.is_empty())
            .map(|o| (o, start));
        return CheckedDocument {
            diagnostics: checker.diagnostics,
            declared: None,
            object,
        };
    }
    let declared = checker.document(file, document);
    CheckedDocument {
        diagnostics: checker.diagnostics,
        declared,
        object: None,
    }
}

/// Collects the valid targets and the problems of all documents it is given.
#[derive(Debug, Default)]
pub(super) struct Validator {
    pub desired: Desired,
    pub diagnostics: Vec<Diagnostic>,
    /// Where each target's `paySystem` was first declared.
    first_declared: BTreeMap<Target, Origin>,
    /// Where each reference was first declared.
    first_referenced: BTreeMap<TargetRef, Origin>,
}

impl Validator {
    /// Takes a checked document, in the order of the files and of the documents in them;
    /// a valid one joins [`Validator::desired`].
    pub fn declare(&mut self, document: CheckedDocument) {
        self.diagnostics.extend(document.diagnostics);
        if let Some((object, at)) = document.object {
            self.declare_object(object, at);
            return;
        }
        let Some(Declared {
            target,
            reference,
            at,
            valid,
        }) = document.declared
        else {
            return;
        };
        if let Some(reference) = reference {
            if let Some(first) = self.first_referenced.get(&reference) {
                self.diagnostics
                    .push(declared_twice(&reference, at, first.clone()));
                return;
            }
            self.first_referenced.insert(*reference, at);
            if let Some(valid) = valid {
                self.desired.pending.push(*valid);
            }
            return;
        }
        if let Some(first) = self.first_declared.get(&target) {
            self.diagnostics
                .push(declared_twice(&target, at, first.clone()));
            return;
        }
        self.first_declared.insert(target, at);
        if let Some(valid) = valid {
            self.desired.targets.insert(target, valid);
        }
    }
}

impl Validator {
    /// A handler or pay system; one declared twice (by the same identity) is reported.
    fn declare_object(&mut self, object: DeclaredObject, at: Origin) {
        let objects = &mut self.desired.objects;
        let (what, first) = match object {
            DeclaredObject::Handler(h) => match objects.handlers.get(&h.code) {
                Some(first) => (format!("handler {}", h.code), first.origin.clone()),
                None => {
                    objects.handlers.insert(h.code.clone(), *h);
                    return;
                }
            },
            DeclaredObject::PaySystem(p) => match objects.pay_systems.get(&p.xml_id) {
                Some(first) => (
                    format!("pay system xmlId:{}", p.xml_id),
                    first.origin.clone(),
                ),
                None => {
                    objects.pay_systems.insert(p.xml_id.clone(), *p);
                    return;
                }
            },
        };
        self.diagnostics.push(
            Diagnostic::new(
                Code::DuplicateTarget,
                at,
                format!("{what} is declared more than once"),
            )
            .help("declare each handler and pay system in one document")
            .note(first, "first declared here"),
        );
    }
}

/// The problems of one document.
#[derive(Debug, Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
}

type Settings = (
    BTreeMap<String, (Setting, Origin)>,
    BTreeMap<String, Origin>,
);

impl Checker {
    /// A document of kind `PaySystemHandler` or `PaySystem`.
    fn object(
        &mut self,
        file: &Arc<Path>,
        raw: &RawDocument,
        kind: &str,
        start: &Origin,
    ) -> Option<DeclaredObject> {
        self.api_version(file, raw);
        if raw.api_version.is_none() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MissingField,
                    start.clone(),
                    "missing field `apiVersion`",
                )
                .help(missing_help("apiVersion")),
            );
        }
        if kind == "PaySystemHandler" {
            self.handler(file, raw, start)
        } else {
            self.pay_system_object(file, raw, start)
        }
    }

    /// An `apiVersion` other than this build's, reported where it is.
    fn api_version(&mut self, file: &Arc<Path>, raw: &RawDocument) {
        if let Some(node) = raw
            .api_version
            .as_ref()
            .filter(|n| !matches!(&n.value, Node::Str(s) if s == API_VERSION))
        {
            let message = format!(
                "unsupported apiVersion {}; expected `{API_VERSION}`",
                describe(&node.value)
            );
            let help =
                format!("this version of paysync reads `apiVersion: {API_VERSION}` manifests");
            self.push(Code::WrongApiVersion, file, node, message, help);
        }
    }

    fn document(&mut self, file: &Arc<Path>, document: Located<RawDocument>) -> Option<Declared> {
        // The document as a whole is pointed at, not spanned.
        let start = Origin {
            len: 0,
            ..origin(file, &document)
        };
        let mut raw = document.value;
        self.foreign_fields(file, &raw, KIND, SETTINGS_FIELDS);
        let fields = [
            ("apiVersion", &raw.api_version),
            ("kind", &raw.kind),
            ("paySystem", &raw.pay_system),
            ("personType", &raw.person_type),
            ("settings", &raw.settings),
        ];
        for (field, _) in fields.iter().filter(|(_, node)| node.is_none()) {
            let message = format!("missing field `{field}`");
            self.diagnostics.push(
                Diagnostic::new(Code::MissingField, start.clone(), message)
                    .help(missing_help(field)),
            );
        }
        self.api_version(file, &raw);
        if let Some(node) = raw
            .kind
            .as_ref()
            .filter(|n| !matches!(&n.value, Node::Str(s) if s == KIND))
        {
            let message = format!(
                "unknown kind {}; expected `{KIND}`, `PaySystemHandler` or `PaySystem`",
                describe(&node.value)
            );
            let kinds = [KIND, "PaySystemHandler", "PaySystem"];
            let help = match &node.value {
                Node::Str(written) => messages::closest(written, &kinds),
                _ => None,
            }
            .map_or_else(
                || format!(
                    "a paysync manifest document has `kind: {KIND}` (settings), `PaySystemHandler` or `PaySystem`; is this file meant for paysync?"
                ),
                |kind| format!("did you mean `{kind}`?"),
            );
            self.push(Code::WrongKind, file, node, message, help);
        }
        let pay_system = raw
            .pay_system
            .as_ref()
            .and_then(|node| self.pay_system(file, node).map(|id| (id, node)));
        let person_type = raw
            .person_type
            .as_ref()
            .and_then(|node| self.person_type(file, node));
        let (settings, removed) = match &mut raw.settings {
            Some(node) => self.settings(file, node),
            None => Settings::default(),
        };

        let (Some((pay_system, pay_system_node)), Some(person_type)) = (pay_system, person_type)
        else {
            return None;
        };
        let reference = TargetRef {
            pay_system,
            person_type,
        };
        let (target, reference) = match reference.ids() {
            Some(target) => (target, None),
            None => (
                Target {
                    pay_system: 0,
                    person_type: 0,
                },
                Some(Box::new(reference)),
            ),
        };
        let valid = self.diagnostics.is_empty().then(|| {
            Box::new(DesiredTarget {
                target,
                reference: reference.clone(),
                origin: start,
                settings: settings
                    .into_iter()
                    .map(|(code, (setting, at))| (code, setting, at))
                    .collect(),
                removed,
            })
        });
        Some(Declared {
            target,
            reference,
            at: origin(file, pay_system_node),
            valid,
        })
    }

    /// `paySystem`: an ID, or `{ xmlId: ... }`.
    fn pay_system(&mut self, file: &Arc<Path>, node: &Located<Node>) -> Option<PaySystemRef> {
        if let Some((key, value)) = self.reference(file, node, "paySystem", &["xmlId"]) {
            debug_assert_eq!(key, "xmlId");
            return Some(PaySystemRef::XmlId(value));
        }
        if matches!(node.value, Node::Map(_)) {
            return None;
        }
        self.id(file, node, "paySystem", 1).map(PaySystemRef::Id)
    }

    /// `personType`: an ID, `default` (0), or `{ xmlId: ... }` / `{ code: ... }`.
    fn person_type(&mut self, file: &Arc<Path>, node: &Located<Node>) -> Option<PersonTypeRef> {
        if matches!(&node.value, Node::Str(s) if s == "default") {
            return Some(PersonTypeRef::Id(0));
        }
        if let Some((key, value)) = self.reference(file, node, "personType", &["xmlId", "code"]) {
            return Some(if key == "code" {
                PersonTypeRef::Code(value)
            } else {
                PersonTypeRef::XmlId(value)
            });
        }
        if matches!(node.value, Node::Map(_)) {
            return None;
        }
        self.id(file, node, "personType", 0).map(PersonTypeRef::Id)
    }

    /// A reference `{ KEY: text }` with one of `keys`; `None` (reported) for a mapping
    /// that is not one, `None` (not reported) for anything that is not a mapping.
    fn reference(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
        keys: &[&str],
    ) -> Option<(String, String)> {
        let Node::Map(entries) = &node.value else {
            return None;
        };
        let wanted = keys
            .iter()
            .map(|k| format!("`{{ {k}: ... }}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        if let [(key, value)] = entries.as_slice()
            && let Node::Str(k) = &key.value
            && keys.contains(&k.as_str())
        {
            if let Node::Str(v) = &value.value
                && !v.trim().is_empty()
            {
                return Some((k.clone(), v.clone()));
            }
            let message = format!(
                "`{field}.{k}` must be non-empty text, found {}",
                describe(&value.value)
            );
            self.push(
                Code::InvalidValue,
                file,
                value,
                message,
                format!(
                    "the portal's {k} of the {}",
                    if field == "paySystem" {
                        "pay system (sale.paysystem.list XML_ID)"
                    } else {
                        "payer type (sale.persontype.list)"
                    }
                ),
            );
            return None;
        }
        let message = format!("`{field}` as a mapping must be {wanted}");
        self.push(
            Code::InvalidValue,
            file,
            node,
            message,
            "name it by ID, or portably by the portal's identifier",
        );
        None
    }

    fn push(
        &mut self,
        code: Code,
        file: &Arc<Path>,
        at: &Located<impl Sized>,
        message: String,
        help: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(code, origin(file, at), message).help(help));
    }

    /// `paySystem` (≥ 1) and `personType` (≥ 0).
    fn id(&mut self, file: &Arc<Path>, node: &Located<Node>, field: &str, min: u64) -> Option<u64> {
        // Decimal only, as written: YAML also reads `0x65`, `0o1` or `+5` as integers,
        // which setting values refuse too.
        if let Node::Int { value, spelling } = &node.value
            && *spelling == value.to_string()
            && let Ok(id) = u64::try_from(*value)
            && id >= min
        {
            return Some(id);
        }
        let wanted = if min == 1 {
            "a positive integer"
        } else {
            "an integer ≥ 0 (0 = the pay system's default settings)"
        };
        let help = match &node.value {
            Node::Str(s) if s.parse::<u64>().is_ok_and(|id| id >= min) => {
                format!("write it as a plain number: `{field}: {}`", s.parse::<u64>().unwrap_or_default())
            }
            Node::Int { value, spelling } if *spelling != value.to_string() && u64::try_from(*value).is_ok_and(|id| id >= min) => {
                format!("write it in decimal: `{field}: {value}`")
            }
            _ if min == 1 => "pay system IDs start at 1: see `sale.paysystem.list`".to_owned(),
            _ => "payer type IDs come from `sale.persontype.list`; 0 selects the pay system's default settings".to_owned(),
        };
        let found = match &node.value {
            Node::Str(s) => format!("the text {}", quote(s)),
            other => describe(other),
        };
        let message = format!("`{field}` must be {wanted}, found {found}");
        self.push(Code::InvalidValue, file, node, message, help);
        None
    }
}

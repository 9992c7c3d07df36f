//! The two object kinds (issue 24): `PaySystemHandler` (a REST handler, identity `code`)
//! and `PaySystem` (identity `xmlId`), checked field by field into
//! [`DesiredHandler`]/[`DesiredPaySystem`]. Handler fields are turned into the portal's
//! shape (`SETTINGS.CODES`, `IFRAME_DATA`, ...) here, so the rest of paysync compares
//! and sends one form.
//!
//! Reads one file besides the manifest: a pay system's `logo: file:PATH` (bounded).

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;

use super::messages::{backticked, describe, origin, quote};
use super::{Checker, DeclaredObject};
use crate::manifest::diagnostic::{Code, Diagnostic};
use crate::manifest::located::{Located, Node};
use crate::manifest::raw::PAY_SYSTEM_FIELDS;
use crate::manifest::raw::RawDocument;
use crate::model::Origin;
use crate::model::objects::{DesiredPaySystem, Logo};

/// The registry types a pay system may belong to.
pub(crate) const REGISTRY_TYPES: &[&str] = &["ORDER", "CRM_INVOICE", "CRM_QUOTE"];
/// The largest logo file read (1 MiB).
const MAX_LOGO_BYTES: u64 = 1 << 20;

impl Checker {
    /// Fields of `raw` that `kind`'s documents do not have, reported where they are.
    pub(super) fn foreign_fields(
        &mut self,
        file: &Arc<Path>,
        raw: &RawDocument,
        kind: &str,
        allowed: &[&str],
    ) {
        for (field, node) in raw.present() {
            if !allowed.contains(&field) {
                let list = backticked(allowed);
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownField,
                        origin(file, node),
                        format!("`{field}` is not a field of a {kind} document"),
                    )
                    .help(format!("a {kind} document has {list}")),
                );
            }
        }
    }

    pub(super) fn missing(&mut self, start: &Origin, kind: &str, field: &str, help: &str) {
        self.diagnostics.push(
            Diagnostic::new(
                Code::MissingField,
                start.clone(),
                format!("missing field `{field}` of a {kind} document"),
            )
            .help(help.to_owned()),
        );
    }

    /// Non-empty text without control characters.
    pub(super) fn text_field(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<String> {
        match &node.value {
            Node::Str(s) if !s.trim().is_empty() && !s.chars().any(char::is_control) => {
                Some(s.clone())
            }
            Node::Int { value, spelling } if *spelling == value.to_string() => {
                Some(value.to_string())
            }
            other => {
                let message = format!(
                    "`{field}` must be non-empty text on one line, found {}",
                    describe(other)
                );
                self.push(Code::InvalidValue, file, node, message, "quote it: \"...\"");
                None
            }
        }
    }

    /// An identity (`code`, `xmlId`, a handler code): text of letters, digits, `_`,
    /// `-` and `.`.
    pub(super) fn identity(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<String> {
        let text = self.text_field(file, node, field)?;
        if text.len() <= 100
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Some(text);
        }
        let message = format!(
            "`{field}` must be letters, digits, `_`, `-` and `.` (at most 100), found {}",
            quote(&text)
        );
        self.push(
            Code::InvalidValue,
            file,
            node,
            message,
            "it identifies the object on every portal: keep it plain",
        );
        None
    }

    pub(super) fn integer(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<i64> {
        match &node.value {
            Node::Int { value, spelling } if *spelling == value.to_string() => {
                if let Ok(n) = i64::try_from(*value) {
                    return Some(n);
                }
            }
            Node::Str(s) => {
                if let Ok(n) = s.parse::<i64>() {
                    return Some(n);
                }
            }
            _ => {}
        }
        let message = format!(
            "`{field}` must be an integer, found {}",
            describe(&node.value)
        );
        self.push(Code::InvalidValue, file, node, message, "e.g. `sort: 100`");
        None
    }

    pub(super) fn flag(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<bool> {
        if let Node::Bool { spelling } = &node.value {
            match spelling.as_str() {
                "true" => return Some(true),
                "false" => return Some(false),
                _ => {}
            }
        }
        let message = format!(
            "`{field}` must be `true` or `false`, found {}",
            describe(&node.value)
        );
        self.push(
            Code::InvalidValue,
            file,
            node,
            message,
            "paysync sends it to the portal as Y or N",
        );
        None
    }

    pub(super) fn one_of(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
        allowed: &[&str],
    ) -> Option<String> {
        if let Node::Str(s) = &node.value
            && allowed.contains(&s.as_str())
        {
            return Some(s.clone());
        }
        let list = backticked(allowed);
        let message = format!(
            "`{field}` must be one of {list}, found {}",
            describe(&node.value)
        );
        self.push(
            Code::InvalidValue,
            file,
            node,
            message,
            "as Bitrix24 spells it",
        );
        None
    }

    /// A mapping's entries with text keys, each key one of `allowed` (when given);
    /// unknown keys reported. `None` for something that is not a mapping (reported).
    pub(super) fn entries<'a>(
        &mut self,
        file: &Arc<Path>,
        node: &'a Located<Node>,
        field: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Vec<(String, &'a Located<Node>)>> {
        let entries = match &node.value {
            Node::Map(entries) => entries,
            Node::Null { spelling } if spelling.is_empty() || spelling == "~" => {
                return Some(Vec::new());
            }
            other => {
                let message = format!("`{field}` must be a mapping, found {}", describe(other));
                self.push(
                    Code::InvalidValue,
                    file,
                    node,
                    message,
                    "see docs/objects.md for its fields",
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let name = match &key.value {
                Node::Str(s) => s.clone(),
                Node::Int { spelling, .. } => spelling.clone(),
                other => {
                    let message =
                        format!("a key of `{field}` must be text, found {}", describe(other));
                    self.push(Code::InvalidValue, file, key, message, "quote it");
                    continue;
                }
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&name.as_str())
            {
                let list = backticked(allowed);
                let message = format!(
                    "unknown field {} in `{field}`, expected one of {list}",
                    quote(&name)
                );
                self.push(
                    Code::UnknownField,
                    file,
                    key,
                    message,
                    "remove it, or check its spelling",
                );
                continue;
            }
            out.push((name, value));
        }
        Some(out)
    }

    /// Checks a `PaySystem` document.
    pub(super) fn pay_system_object(
        &mut self,
        file: &Arc<Path>,
        raw: &RawDocument,
        start: &Origin,
    ) -> Option<DeclaredObject> {
        const KIND: &str = "PaySystem";
        self.foreign_fields(file, raw, KIND, PAY_SYSTEM_FIELDS);
        let delete = raw
            .delete
            .as_ref()
            .and_then(|n| self.flag(file, n, "delete"))
            .unwrap_or(false);
        let xml_id = match &raw.xml_id {
            Some(node) => self.identity(file, node, "xmlId"),
            None => {
                self.missing(
                    start,
                    KIND,
                    "xmlId",
                    "add `xmlId:`, the pay system's XML_ID: how paysync finds it on every portal",
                );
                None
            }
        };
        let required = |checker: &mut Checker,
                        node: &Option<Located<Node>>,
                        field: &str,
                        help: &str|
         -> Option<Located<Node>> {
            match node {
                Some(node) => Some(node.clone()),
                None if delete => None,
                None => {
                    checker.missing(start, KIND, field, help);
                    None
                }
            }
        };
        let name = required(
            self,
            &raw.name,
            "name",
            "add `name:`, the pay system's name",
        );
        let handler = required(
            self,
            &raw.handler,
            "handler",
            "add `handler:`, the CODE of its REST handler",
        );
        let person_type = required(
            self,
            &raw.person_type,
            "personType",
            "add `personType:`, the payer type it is for",
        );
        let registry = required(
            self,
            &raw.registry_type,
            "registryType",
            "add `registryType:` ORDER, CRM_INVOICE or CRM_QUOTE; it is fixed when the pay system is created",
        );
        let name = name.and_then(|n| self.text_field(file, &n, "name"));
        let handler = handler.and_then(|n| self.identity(file, &n, "handler"));
        let person_type = person_type.and_then(|n| self.person_type(file, &n));
        let registry_at = registry
            .as_ref()
            .map_or_else(|| start.clone(), |n| origin(file, n));
        let registry = registry.and_then(|n| self.one_of(file, &n, "registryType", REGISTRY_TYPES));
        let active = raw
            .active
            .as_ref()
            .and_then(|n| self.flag(file, n, "active"));
        let new_window = raw
            .new_window
            .as_ref()
            .and_then(|n| self.flag(file, n, "newWindow"));
        let description = raw.description.as_ref().and_then(|n| match &n.value {
            Node::Str(s) => Some(s.clone()),
            _ => self.text_field(file, n, "description"),
        });
        let logo = raw.logo.as_ref().and_then(|n| self.logo(file, n));
        let xml_id = xml_id?;
        if delete {
            return Some(DeclaredObject::PaySystem(Box::new(DesiredPaySystem {
                xml_id,
                origin: start.clone(),
                name: name.unwrap_or_default(),
                handler: handler.unwrap_or_default(),
                person_type: person_type.unwrap_or(crate::model::PersonTypeRef::Id(0)),
                registry_type: registry.unwrap_or_default(),
                registry_at,
                active,
                new_window,
                description,
                logo,
                delete,
            })));
        }
        Some(DeclaredObject::PaySystem(Box::new(DesiredPaySystem {
            xml_id,
            origin: start.clone(),
            name: name?,
            handler: handler?,
            person_type: person_type?,
            registry_type: registry?,
            registry_at,
            active,
            new_window,
            description,
            logo,
            delete,
        })))
    }

    /// `logo: file:PATH` (relative to the manifest): the image, read and encoded.
    fn logo(&mut self, file: &Arc<Path>, node: &Located<Node>) -> Option<Logo> {
        let Node::Str(written) = &node.value else {
            let message = format!(
                "`logo` must be `file:PATH`, found {}",
                describe(&node.value)
            );
            self.push(
                Code::InvalidValue,
                file,
                node,
                message,
                "e.g. `logo: file:acme.png`, relative to this manifest",
            );
            return None;
        };
        let Some(path) = written.strip_prefix("file:").filter(|p| !p.is_empty()) else {
            let message = format!("`logo` must be `file:PATH`, found {}", quote(written));
            self.push(
                Code::InvalidValue,
                file,
                node,
                message,
                "e.g. `logo: file:acme.png`, relative to this manifest",
            );
            return None;
        };
        let full = file.parent().unwrap_or(Path::new("")).join(path);
        match crate::files::read_regular(&full, MAX_LOGO_BYTES) {
            Ok(bytes) => {
                use sha2::Digest;
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
                Some(Logo {
                    written: written.clone(),
                    base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
                    digest,
                })
            }
            Err(error) => {
                let message = format!("cannot read the logo {}: {error}", full.display());
                self.push(
                    Code::InvalidValue,
                    file,
                    node,
                    message,
                    "a regular image file of at most 1 MiB, relative to this manifest",
                );
                None
            }
        }
    }
}

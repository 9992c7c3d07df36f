//! The `PaySystemHandler` document (issue 24): a REST handler's fields checked and
//! turned into the portal's shape (`SETTINGS.CODES`, `IFRAME_DATA`, ...). The shared
//! field checks are in [`super::objects`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::messages::{describe, origin, quote};
use super::{Checker, DeclaredObject};
use crate::manifest::diagnostic::Code;
use crate::manifest::located::{Located, Node};
use crate::manifest::raw::HANDLER_FIELDS;
use crate::manifest::raw::RawDocument;
use crate::model::Origin;
use crate::model::objects::DesiredHandler;

impl Checker {
    /// Checks a `PaySystemHandler` document.
    pub(super) fn handler(
        &mut self,
        file: &Arc<Path>,
        raw: &RawDocument,
        start: &Origin,
    ) -> Option<DeclaredObject> {
        const KIND: &str = "PaySystemHandler";
        self.foreign_fields(file, raw, KIND, HANDLER_FIELDS);
        let delete = raw
            .delete
            .as_ref()
            .and_then(|n| self.flag(file, n, "delete"))
            .unwrap_or(false);
        let code = match &raw.code {
            Some(node) => self.identity(file, node, "code"),
            None => {
                self.missing(
                    start,
                    KIND,
                    "code",
                    "add `code: <the handler's CODE>`, unique on the portal",
                );
                None
            }
        };
        let name = match &raw.name {
            Some(node) => self.text_field(file, node, "name"),
            None if delete => Some(String::new()),
            None => {
                self.missing(start, KIND, "name", "add `name:`, the handler's name");
                None
            }
        };
        let sort = raw
            .sort
            .as_ref()
            .and_then(|n| self.integer(file, n, "sort"));
        let mut settings = Map::new();
        let mut codes_at = BTreeMap::new();
        match &raw.codes {
            Some(node) => {
                let codes = self.codes(file, node, &mut codes_at);
                settings.insert("CODES".into(), Value::Object(codes));
            }
            None if delete => {}
            None => self.missing(
                start,
                KIND,
                "codes",
                "add `codes:`, the settings the handler declares (`CODE: { name: ... }`)",
            ),
        }
        let modes = [
            ("form", &raw.form, "FORM_DATA"),
            ("checkout", &raw.checkout, "CHECKOUT_DATA"),
            ("iframe", &raw.iframe, "IFRAME_DATA"),
        ];
        let declared: Vec<_> = modes
            .iter()
            .filter_map(|(field, node, key)| Some((*field, node.as_ref()?, *key)))
            .collect();
        match declared.as_slice() {
            [] if delete => {}
            [] => self.missing(
                start,
                KIND,
                "iframe",
                "add one mode: `form:`, `checkout:` or `iframe:`, with its `actionUri`",
            ),
            [(field, node, key)] => {
                if let Some(mode) = self.mode(file, node, field, &codes_at) {
                    settings.insert((*key).into(), Value::Object(mode));
                }
            }
            [_, (field, node, _), ..] => {
                let message = format!("a handler has one mode: `{field}` is a second one");
                self.push(
                    Code::ConflictingFields,
                    file,
                    node,
                    message,
                    "keep one of `form`, `checkout` and `iframe`",
                );
            }
        }
        if let Some(node) = &raw.client_type
            && let Some(client) = self.one_of(file, node, "clientType", &["b2c", "b2b"])
        {
            settings.insert("CLIENT_TYPE".into(), client.into());
        }
        if let Some(node) = &raw.currencies {
            let mut list = Vec::new();
            match &node.value {
                Node::Seq(items) => {
                    for item in items {
                        match &item.value {
                            Node::Str(s)
                                if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) =>
                            {
                                list.push(Value::String(s.clone()));
                            }
                            other => {
                                let message = format!(
                                    "a currency is a three-letter code such as `EUR`, found {}",
                                    describe(other)
                                );
                                self.push(
                                    Code::InvalidValue,
                                    file,
                                    item,
                                    message,
                                    "ISO 4217, upper-case",
                                );
                            }
                        }
                    }
                }
                other => {
                    let message = format!("`currencies` must be a list, found {}", describe(other));
                    self.push(
                        Code::InvalidValue,
                        file,
                        node,
                        message,
                        "e.g. `currencies: [EUR, USD]`",
                    );
                }
            }
            settings.insert("CURRENCY".into(), Value::Array(list));
        }
        let code = code?;
        let name = name?;
        Some(DeclaredObject::Handler(Box::new(DesiredHandler {
            code,
            origin: start.clone(),
            name,
            sort,
            settings,
            codes: codes_at,
            delete,
        })))
    }

    /// `codes:` → `SETTINGS.CODES`.
    fn codes(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        at: &mut BTreeMap<String, Origin>,
    ) -> Map<String, Value> {
        let mut codes = Map::new();
        let Some(entries) = self.entries(file, node, "codes", None) else {
            return codes;
        };
        for (code, descriptor) in entries {
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
            {
                let message = format!(
                    "setting code {} must be upper-case letters, digits and `_`",
                    quote(&code)
                );
                self.push(
                    Code::InvalidCode,
                    file,
                    descriptor,
                    message,
                    "the portal upper-cases codes on write",
                );
                continue;
            }
            at.insert(code.clone(), origin(file, descriptor));
            let field = format!("codes.{code}");
            let mut out = Map::new();
            let allowed: &[&str] = &["name", "description", "sort", "group", "default", "input"];
            for (key, value) in self
                .entries(file, descriptor, &field, Some(allowed))
                .unwrap_or_default()
            {
                let path = format!("{field}.{key}");
                match key.as_str() {
                    "name" | "description" | "group" => {
                        if let Some(text) = self.text_field(file, value, &path) {
                            out.insert(key.to_ascii_uppercase(), text.into());
                        }
                    }
                    "sort" => {
                        if let Some(n) = self.integer(file, value, &path) {
                            out.insert("SORT".into(), n.into());
                        }
                    }
                    "default" => {
                        if let Some(default) = self.default_value(file, value, &path) {
                            out.insert("DEFAULT".into(), Value::Object(default));
                        }
                    }
                    _ => {
                        if let Some(input) = self.input(file, value, &path) {
                            out.insert("INPUT".into(), Value::Object(input));
                        }
                    }
                }
            }
            codes.insert(code, Value::Object(out));
        }
        codes
    }

    /// `default: { type, value }` → `{PROVIDER_KEY, PROVIDER_VALUE}`.
    fn default_value(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<Map<String, Value>> {
        let entries = self.entries(file, node, field, Some(&["type", "value"]))?;
        let mut source = "VALUE".to_owned();
        let mut value = None;
        for (key, node) in entries {
            if key == "type" {
                match &node.value {
                    Node::Str(s)
                        if !s.is_empty()
                            && s.starts_with(|c: char| c.is_ascii_uppercase())
                            && s.chars().all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_')) =>
                    {
                        source = s.clone()
                    }
                    other => {
                        let message = format!(
                            "`{field}.type` must be a value source such as `PAYMENT`, found {}",
                            describe(other)
                        );
                        self.push(
                            Code::InvalidValue,
                            file,
                            node,
                            message,
                            "VALUE, ORDER, PAYMENT, USER, PROPERTY, ...",
                        );
                        return None;
                    }
                }
            } else {
                value = Some(self.text_field(file, node, &format!("{field}.value"))?);
            }
        }
        let Some(value) = value else {
            self.push(
                Code::MissingField,
                file,
                node,
                format!("`{field}` needs a `value`"),
                "e.g. `default: { type: PAYMENT, value: ACCOUNT_NUMBER }`",
            );
            return None;
        };
        let mut out = Map::new();
        out.insert("PROVIDER_KEY".into(), source.into());
        out.insert("PROVIDER_VALUE".into(), value.into());
        Some(out)
    }

    /// `input: { type, options }` → `{TYPE, OPTIONS}`.
    fn input(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
    ) -> Option<Map<String, Value>> {
        let entries = self.entries(file, node, field, Some(&["type", "options"]))?;
        let mut out = Map::new();
        for (key, value) in entries {
            if key == "type" {
                let kind = self.text_field(file, value, &format!("{field}.type"))?;
                out.insert("TYPE".into(), kind.into());
            } else {
                let mut options = Map::new();
                for (option, label) in
                    self.entries(file, value, &format!("{field}.options"), None)?
                {
                    let label =
                        self.text_field(file, label, &format!("{field}.options.{option}"))?;
                    options.insert(option, label.into());
                }
                out.insert("OPTIONS".into(), Value::Object(options));
            }
        }
        if !out.contains_key("TYPE") {
            self.push(
                Code::MissingField,
                file,
                node,
                format!("`{field}` needs a `type`"),
                "STRING, Y/N or ENUM (with `options`)",
            );
            return None;
        }
        Some(out)
    }

    /// A mode (`form`, `checkout`, `iframe`) → `FORM_DATA` etc.
    fn mode(
        &mut self,
        file: &Arc<Path>,
        node: &Located<Node>,
        field: &str,
        codes: &BTreeMap<String, Origin>,
    ) -> Option<Map<String, Value>> {
        let allowed: &[&str] = if field == "form" {
            &["actionUri", "method", "fields"]
        } else {
            &["actionUri", "fields"]
        };
        let entries = self.entries(file, node, field, Some(allowed))?;
        let mut out = Map::new();
        for (key, value) in entries {
            match key.as_str() {
                "actionUri" => {
                    let uri = self.text_field(file, value, &format!("{field}.actionUri"))?;
                    out.insert("ACTION_URI".into(), uri.into());
                }
                "method" => {
                    let method = self.one_of(file, value, "form.method", &["GET", "POST"])?;
                    out.insert("METHOD".into(), method.into());
                }
                _ => {
                    let mut fields = Map::new();
                    for (name, spec) in
                        self.entries(file, value, &format!("{field}.fields"), None)?
                    {
                        let path = format!("{field}.fields.{name}");
                        let mut one = Map::new();
                        for (k, v) in self.entries(
                            file,
                            spec,
                            &path,
                            Some(&["code", "name", "type", "visible"]),
                        )? {
                            match k.as_str() {
                                "code" => {
                                    let code = self.text_field(file, v, &format!("{path}.code"))?;
                                    if !codes.is_empty() && !codes.contains_key(&code) {
                                        let message = format!(
                                            "`{path}.code` names {}, which `codes` does not declare",
                                            quote(&code)
                                        );
                                        self.push(Code::UndeclaredCode, file, v, message, "declare it under `codes:`, or use `name`/`type` for a buyer's input");
                                    }
                                    one.insert("CODE".into(), code.into());
                                }
                                "name" => {
                                    let name = self.text_field(file, v, &format!("{path}.name"))?;
                                    one.insert("NAME".into(), name.into());
                                }
                                "type" => {
                                    let kind = self.one_of(
                                        file,
                                        v,
                                        &format!("{path}.type"),
                                        &["STRING", "Y/N"],
                                    )?;
                                    one.insert("TYPE".into(), kind.into());
                                }
                                _ => {
                                    let visible = self.flag(file, v, &format!("{path}.visible"))?;
                                    one.insert(
                                        "VISIBLE".into(),
                                        crate::model::objects::yes_no(visible).into(),
                                    );
                                }
                            }
                        }
                        fields.insert(name, Value::Object(one));
                    }
                    out.insert("FIELDS".into(), Value::Object(fields));
                }
            }
        }
        if !out.contains_key("ACTION_URI") {
            self.push(
                Code::MissingField,
                file,
                node,
                format!("`{field}` needs an `actionUri`"),
                "the address the portal sends buyers to",
            );
            return None;
        }
        Some(out)
    }
}

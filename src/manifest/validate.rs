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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::diagnostic::{Code, Diagnostic};
use super::located::{Located, Node};
use super::raw::{API_VERSION, KIND, RawDocument};
use super::yaml::{YamlError, YamlProblem};
use crate::model::{
    Desired, DesiredTarget, Origin, PaySystemRef, PersonTypeRef, SOURCE_VALUE, Setting,
    SettingValue, Target, TargetRef,
};
use crate::secrets::{SecretRef, SecretRefError};

const SETTING_FIELDS: [&str; 3] = ["type", "value", "secret"];

/// One document, checked on its own.
#[derive(Debug)]
pub(super) struct CheckedDocument {
    /// Its problems, in the order they were found.
    diagnostics: Vec<Diagnostic>,
    /// The target it declares, when `paySystem` and `personType` are valid.
    declared: Option<Declared>,
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
    let declared = checker.document(file, document);
    CheckedDocument {
        diagnostics: checker.diagnostics,
        declared,
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
    fn document(&mut self, file: &Arc<Path>, document: Located<RawDocument>) -> Option<Declared> {
        // The document as a whole is pointed at, not spanned.
        let start = Origin {
            len: 0,
            ..origin(file, &document)
        };
        let mut raw = document.value;
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
        if let Some(node) = raw
            .kind
            .as_ref()
            .filter(|n| !matches!(&n.value, Node::Str(s) if s == KIND))
        {
            let message = format!("unknown kind {}; expected `{KIND}`", describe(&node.value));
            let help = format!(
                "every paysync manifest document has `kind: {KIND}`; is this file meant for paysync?"
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

    fn settings(&mut self, file: &Arc<Path>, node: &mut Located<Node>) -> Settings {
        let mut declared = Settings::default();
        let Node::Map(entries) = &mut node.value else {
            let message = format!(
                "`settings` must be a mapping of setting codes to values, found {}",
                describe(&node.value)
            );
            self.push(
                Code::InvalidValue,
                file,
                node,
                message,
                "write `settings: {}` to manage no codes of this target",
            );
            return declared;
        };
        let dir = file.parent().unwrap_or(Path::new(""));
        for (key, value) in entries {
            let code = self.code(file, key);
            if let Some(remove) = removal(value) {
                match (code, remove) {
                    (Some(code), true) => {
                        declared.1.insert(code, origin(file, key));
                    }
                    (_, false) => self.push(
                        Code::InvalidValue,
                        file,
                        value,
                        "`remove` can only be `true`".to_owned(),
                        "`CODE: { remove: true }` removes a code an earlier source declares; leave the code out otherwise",
                    ),
                    (None, true) => {}
                }
                continue;
            }
            let setting = self.setting(file, dir, value);
            let (Some(code), Some(setting)) = (code, setting) else {
                continue;
            };
            if declared.0.contains_key(&code) {
                // `123:` and `"123":` are different YAML keys but the same code.
                let message = format!("setting code `{code}` is declared twice");
                self.push(Code::DuplicateKey, file, key, message, "keep one of them");
                continue;
            }
            declared.0.insert(code, (setting, origin(file, key)));
        }
        declared
    }

    fn code(&mut self, file: &Arc<Path>, key: &mut Located<Node>) -> Option<String> {
        let text = match &mut key.value {
            Node::Str(s) => std::mem::take(s),
            Node::Int { spelling, .. } => std::mem::take(spelling),
            other => {
                let message = format!("a setting code must be text, found {}", describe(other));
                self.push(
                    Code::InvalidCode,
                    file,
                    key,
                    message,
                    "setting codes use upper-case letters, digits and `_`",
                );
                return None;
            }
        };
        let valid = |code: &str| {
            !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        };
        if valid(&text) {
            return Some(text);
        }
        let upper = text.to_ascii_uppercase();
        if valid(&upper) {
            let message = format!("setting code {} is not upper-case", quote(&text));
            let help = format!(
                "write `{upper}`: Bitrix24 setting codes are upper-case (the portal upper-cases them on write)"
            );
            self.push(Code::LowercaseCode, file, key, message, help);
        } else {
            let message = format!("{} is not a valid setting code", quote(&text));
            self.push(
                Code::InvalidCode,
                file,
                key,
                message,
                "setting codes use upper-case letters A-Z, digits and `_`",
            );
        }
        None
    }

    fn setting(
        &mut self,
        file: &Arc<Path>,
        dir: &Path,
        node: &mut Located<Node>,
    ) -> Option<Setting> {
        let Node::Map(fields) = &mut node.value else {
            let value = self.text(file, node)?;
            return Some(Setting {
                source: SOURCE_VALUE.to_owned(),
                value: SettingValue::Plain(value),
            });
        };
        let before = self.diagnostics.len();
        let (mut source, mut value, mut secret) = (None, None, None);
        for (key, field) in fields {
            match &key.value {
                Node::Str(name) if name == "type" => source = Some(field),
                Node::Str(name) if name == "value" => value = Some(field),
                Node::Str(name) if name == "secret" => secret = Some((key, field)),
                other => {
                    let found = describe(other);
                    let message =
                        format!("unknown field {found}, expected one of `type`, `value`, `secret`");
                    let help = match other {
                        Node::Str(name) => {
                            closest(name, &SETTING_FIELDS).map(|f| format!("did you mean `{f}`?"))
                        }
                        _ => None,
                    };
                    let help = help.unwrap_or_else(|| "a setting is `{ value: ... }`, `{ type: ..., value: ... }` or `{ secret: ... }`".into());
                    self.push(Code::UnknownField, file, key, message, help);
                }
            }
        }
        let source = source.and_then(|node| self.source(file, node).map(|s| (node, s)));
        let setting = match (value, secret) {
            (Some(_), Some((key, _))) => {
                let message = "a setting has `value` or `secret`, not both".to_owned();
                let help = "keep `secret` to read the value from the environment or a file, or `value` for a literal";
                self.push(Code::ConflictingFields, file, key, message, help);
                None
            }
            // An unknown field was reported: most likely the misspelt `value`.
            (None, None) if self.diagnostics.len() > before => None,
            (None, None) => {
                let message = "missing field `value` (or `secret`) in this setting".to_owned();
                let help = "write `{ value: ... }`, `{ type: PAYMENT, value: ... }` or `{ secret: env:NAME }`";
                self.push(Code::MissingField, file, node, message, help);
                None
            }
            (Some(value), None) => self.text(file, value).map(|value| Setting {
                source: source.map_or_else(|| SOURCE_VALUE.to_owned(), |(_, s)| s),
                value: SettingValue::Plain(value),
            }),
            (None, Some((_, reference))) => {
                if let Some((at, found)) = source.filter(|(_, s)| s != SOURCE_VALUE) {
                    let message =
                        format!("a secret's `type` must be {SOURCE_VALUE}, found `{found}`");
                    self.push(
                        Code::ConflictingFields,
                        file,
                        at,
                        message,
                        "a secret is always a literal value: remove `type`",
                    );
                }
                self.secret(file, dir, reference).map(|secret| Setting {
                    source: SOURCE_VALUE.to_owned(),
                    value: SettingValue::Secret(secret),
                })
            }
        };
        setting.filter(|_| self.diagnostics.len() == before)
    }

    /// `type`: an upper-case identifier.
    fn source(&mut self, file: &Arc<Path>, node: &mut Located<Node>) -> Option<String> {
        let valid = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        };
        if let Node::Str(s) = &mut node.value
            && valid(s)
        {
            return Some(std::mem::take(s));
        }
        match &node.value {
            Node::Str(s) if valid(&s.to_ascii_uppercase()) => {
                let message = format!("value source {} is not upper-case", quote(s));
                self.push(
                    Code::InvalidValue,
                    file,
                    node,
                    message,
                    format!("write `{}`", s.to_ascii_uppercase()),
                );
            }
            other => {
                let message = format!(
                    "`type` must be a value source such as VALUE, ORDER, PAYMENT, USER or PROPERTY, found {}",
                    describe(other)
                );
                self.push(
                    Code::InvalidValue,
                    file,
                    node,
                    message,
                    "leave `type` out for a literal value (VALUE)",
                );
            }
        }
        None
    }

    fn secret(&mut self, file: &Arc<Path>, dir: &Path, node: &Located<Node>) -> Option<SecretRef> {
        let error = match &node.value {
            Node::Str(reference) => match SecretRef::parse(reference, dir) {
                Ok(secret) => {
                    // A `file:` secret that exists must be a regular file: reading a FIFO
                    // or a device would wait or never end. (A missing file is fine here:
                    // plans made without the secrets show it as not checked.)
                    if let SecretRef::File { written, path } = &secret
                        && let Ok(meta) = std::fs::metadata(path)
                        && !meta.is_file()
                    {
                        let kind = crate::files::kind_of(meta.file_type());
                        let message =
                            format!("secret file:{written} is {kind}, not a regular file");
                        self.push(
                            Code::BadSecretFile,
                            file,
                            node,
                            message,
                            "a `file:` secret names a regular file holding the value",
                        );
                        return None;
                    }
                    return Some(secret);
                }
                Err(error) => error,
            },
            other => {
                let message = format!(
                    "`secret` must be a reference such as {}, found {}",
                    crate::secrets::forms(),
                    describe(other)
                );
                self.push(
                    Code::BadSecretRef,
                    file,
                    node,
                    message,
                    "quote the reference if YAML reads it as something else",
                );
                return None;
            }
        };
        let (message, help) = match error {
            // Not echoed: what was written may be the secret itself.
            SecretRefError::UnknownSource { .. } => (
                format!("`secret` must be a reference: {}", crate::secrets::forms()),
                "keep the secret itself out of the manifest: put it in an environment variable or a file and reference that",
            ),
            error @ SecretRefError::BadEnvName { .. } => {
                (error.to_string(), "e.g. `secret: env:ACME_KEY`")
            }
            error @ SecretRefError::EmptyPath => (
                error.to_string(),
                "e.g. `secret: file:keys/acme.txt` (relative to this manifest)",
            ),
        };
        self.push(Code::BadSecretRef, file, node, message, help);
        None
    }

    /// A setting value: text, or an integer written in plain decimal.
    fn text(&mut self, file: &Arc<Path>, node: &mut Located<Node>) -> Option<String> {
        const NULL_HELP: &str =
            "write \"\" for an empty value, or remove the line to stop managing this code";
        let (message, help) = match &mut node.value {
            Node::Str(s) => return Some(std::mem::take(s)),
            Node::Int { value, spelling } if *spelling == value.to_string() => {
                return Some(std::mem::take(spelling));
            }
            // Beyond 64 bits the parser reads an integer as a float; its spelling is exact.
            Node::Float { spelling } if is_decimal_integer(spelling) => {
                return Some(std::mem::take(spelling));
            }
            Node::Int { value, spelling } => (
                format!("`{spelling}` is read as the number {value}, not as text"),
                format!("quote it to keep it as written: \"{spelling}\""),
            ),
            Node::Float { spelling } => (
                format!("`{spelling}` is a floating-point number; setting values are text"),
                format!("quote it: \"{spelling}\""),
            ),
            Node::Bool { spelling } => (
                format!("`{spelling}` is a boolean; setting values are text"),
                format!("quote it: \"{spelling}\" (Bitrix24 flags usually take \"Y\" or \"N\")"),
            ),
            Node::Null { spelling } if spelling.is_empty() => {
                ("missing value".to_owned(), NULL_HELP.to_owned())
            }
            Node::Null { spelling } => (
                format!("`{spelling}` is null; setting values are text"),
                NULL_HELP.to_owned(),
            ),
            Node::Seq => (
                "a list is not a setting value; setting values are text".to_owned(),
                "quote it if the brackets are part of the value".to_owned(),
            ),
            Node::Map(_) => (
                "a mapping is not a setting value here; `value` is text".to_owned(),
                "quote it if the braces are part of the value".to_owned(),
            ),
        };
        self.push(Code::InvalidValue, file, node, message, help);
        None
    }
}

/// The diagnostic for a document (or the rest of a file) the YAML layer could not read.
pub(super) fn yaml_diagnostic(file: &Arc<Path>, error: YamlError) -> Diagnostic {
    let at = Origin {
        file: Arc::clone(file),
        line: Origin::narrow(error.line),
        column: Origin::narrow(error.column),
        len: Origin::narrow(error.len),
    };
    match error.problem {
        YamlProblem::Syntax(message) => Diagnostic::new(Code::YamlSyntax, at, format!("invalid YAML: {message}"))
            .help("the mistake can be before the point where the parser noticed it, e.g. an unclosed `{`, `[` or quote"),
        YamlProblem::Unsupported(message) => Diagnostic::new(Code::YamlUnsupported, at, message)
            .help("manifests use plain YAML: no merge keys (`<<`) and no custom tags (`!name`)"),
        YamlProblem::Tag(tag) => Diagnostic::new(Code::YamlTag, at, format!("YAML tag `{tag}` is not allowed in manifests"))
            .help("tags change what a value is (`!!binary` decodes base64): write the value itself, quoted if needed"),
        YamlProblem::TabIndent => Diagnostic::new(Code::TabIndent, at, "tab character in indentation")
            .help("YAML indents with spaces only: replace the tab with spaces"),
        YamlProblem::Limit(message) => Diagnostic::new(Code::YamlLimit, at, format!("the file exceeds paysync's YAML limits: {message}"))
            .help("manifests are small: look for runaway aliases (`*name`) or an unexpectedly large file"),
        YamlProblem::DuplicateKey(key) => {
            let key = key.map_or_else(|| "key".to_owned(), |k| format!("key {}", quote(&k)));
            Diagnostic::new(Code::DuplicateKey, at, format!("duplicate {key} in this mapping"))
                .help("a key may appear once: YAML tools disagree on which value would win, so paysync refuses both")
        }
        YamlProblem::UnknownField { field, expected } => {
            let list = expected.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let diagnostic = Diagnostic::new(Code::UnknownField, at, format!("unknown field {}, expected one of {list}", quote(&field)));
            match closest(&field, &expected) {
                Some(name) => diagnostic.help(format!("did you mean `{name}`?")),
                None => diagnostic,
            }
        }
        YamlProblem::NotAMapping => Diagnostic::new(Code::InvalidValue, at, "a manifest document must be a mapping")
            .help(format!("start the document with `apiVersion: {API_VERSION}` and `kind: {KIND}`")),
    }
}

fn missing_help(field: &str) -> String {
    match field {
        "apiVersion" => format!("add `apiVersion: {API_VERSION}`"),
        "kind" => format!("add `kind: {KIND}`"),
        "paySystem" => "add `paySystem: <ID>`, the pay system's ID from `sale.paysystem.list`".to_owned(),
        "personType" => "add `personType: <ID>` (from `sale.persontype.list`), or 0 for the pay system's default settings".to_owned(),
        _ => "add `settings:` with the codes to manage, or `settings: {}` to manage none".to_owned(),
    }
}

/// `-?[1-9][0-9]*` or `0`: an integer as its decimal string is written.
fn is_decimal_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// Where `at` is, spanning what it spans.
fn origin<T>(file: &Arc<Path>, at: &Located<T>) -> Origin {
    Origin {
        file: Arc::clone(file),
        line: Origin::narrow(at.line),
        column: Origin::narrow(at.column),
        len: Origin::narrow(at.len),
    }
}

/// How a value appears in a message.
fn describe(node: &Node) -> String {
    match node {
        Node::Str(s) => quote(s),
        Node::Null { spelling } if spelling.is_empty() => "nothing".to_owned(),
        Node::Int { spelling, .. }
        | Node::Float { spelling }
        | Node::Bool { spelling }
        | Node::Null { spelling } => quote(spelling),
        Node::Seq => "a list".to_owned(),
        Node::Map(_) => "a mapping".to_owned(),
    }
}

/// `text` in backticks, control characters escaped, long text shortened.
fn quote(text: &str) -> String {
    let mut quoted = String::new();
    for c in text.chars().take(60) {
        if c.is_control() {
            quoted.extend(c.escape_debug());
        } else {
            quoted.push(c);
        }
    }
    if text.chars().count() > 60 {
        quoted.push('…');
    }
    format!("`{quoted}`")
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word: Vec<char> = word.to_lowercase().chars().collect();
    candidates
        .iter()
        .map(|c| {
            (
                edit_distance(&word, &c.to_lowercase().chars().collect::<Vec<_>>()),
                *c,
            )
        })
        .filter(|&(d, _)| d <= 2.max(word.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `Some(flag)` for a setting written `{ remove: flag }` (an overlay removing a code).
fn removal(node: &Located<Node>) -> Option<bool> {
    let Node::Map(entries) = &node.value else {
        return None;
    };
    match entries.as_slice() {
        [(key, value)] if matches!(&key.value, Node::Str(k) if k == "remove") => {
            Some(matches!(&value.value, Node::Bool { spelling } if spelling == "true"))
        }
        _ => None,
    }
}

/// A target (or reference) declared a second time, at `at`; `first` is the first.
pub(super) fn declared_twice(
    what: &dyn std::fmt::Display,
    at: Origin,
    first: Origin,
) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateTarget,
        at,
        format!("{what} is declared more than once"),
    )
    .help("declare each target in one document: merge the settings of both")
    .note(first, "first declared here")
}

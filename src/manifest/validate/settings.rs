//! The `settings` of a document: each code, its value or secret reference, its value
//! source and an overlay's `{ remove: true }`, each checked on its own.

use std::path::Path;
use std::sync::Arc;

use super::messages::{closest, describe, origin, quote};
use super::{Checker, Settings};
use crate::manifest::diagnostic::Code;
use crate::manifest::located::{Located, Node};
use crate::model::{SOURCE_VALUE, Setting, SettingValue};
use crate::secrets::{SecretRef, SecretRefError};

const SETTING_FIELDS: [&str; 3] = ["type", "value", "secret"];

impl Checker {
    pub(super) fn settings(&mut self, file: &Arc<Path>, node: &mut Located<Node>) -> Settings {
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
                source: SOURCE_VALUE.into(),
                value: SettingValue::Plain(value.into()),
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
                source: source.map_or_else(|| SOURCE_VALUE.into(), |(_, s)| s.into()),
                value: SettingValue::Plain(value.into()),
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
                    source: SOURCE_VALUE.into(),
                    value: SettingValue::Secret(Box::new(secret)),
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
            error @ SecretRefError::BadSops { .. } => (
                error.to_string(),
                "the path is relative to this manifest; the key walks the decrypted document",
            ),
            error @ SecretRefError::BadExec { .. } => (
                error.to_string(),
                "declare the command under `secrets.exec` in paysync.yaml",
            ),
            error @ SecretRefError::BadVault { .. } => (
                error.to_string(),
                "MOUNT is the KV version 2 mount (`secret`), PATH the secret's path under it",
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
            Node::Seq(_) => (
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

/// `-?[1-9][0-9]*` or `0`: an integer as its decimal string is written.
fn is_decimal_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
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

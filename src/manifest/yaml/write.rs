//! Writing manifests (`paysync import`) through serde-saphyr's serializer: every value
//! double-quoted (YAML keeps it a string), each setting with a type or a secret as a
//! one-line flow map, and the invisible characters serde-saphyr leaves as they are
//! escaped.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_saphyr::{DoubleQuoted, FlowMap};

use crate::manifest::raw::{API_VERSION, KIND, NewDocument, NewHandler, NewPaySystem, NewSetting};
use crate::untrusted::{escape_controls, is_unsafe_char};

/// A manifest file: `header` as comment lines (one line each: control and invisible
/// characters, line breaks too, escaped), then the documents, separated by `---`.
pub fn write_file(header: &[String], documents: &[NewDocument]) -> String {
    let written: Vec<Written<'_>> = documents.iter().map(Written::Settings).collect();
    write_objects_file(header, &written)
}

/// One document of a file [`write_objects_file`] writes, of any kind.
pub enum Written<'a> {
    Settings(&'a NewDocument),
    Handler(&'a NewHandler),
    PaySystem(&'a NewPaySystem),
}

/// [`write_file`] with documents of every kind (`import --all`): a handler's fields,
/// a pay system's, settings; every text value double-quoted.
pub fn write_objects_file(header: &[String], documents: &[Written<'_>]) -> String {
    let mut text = String::new();
    for line in header {
        text.push_str(format!("# {}", escape_controls(line)).trim_end());
        text.push('\n');
    }
    let documents: Vec<OutAny<'_>> = documents
        .iter()
        .map(|d| match d {
            Written::Settings(d) => OutAny::Settings(OutDocument::from(*d)),
            Written::Handler(h) => OutAny::Handler(OutHandler::from(*h)),
            Written::PaySystem(p) => OutAny::PaySystem(OutPaySystem::from(*p)),
        })
        .collect();
    let yaml = serde_saphyr::to_string_multiple_with_options(&documents, write_options())
        .expect("plain maps of strings and integers serialise");
    // serde-saphyr escapes control characters but leaves the invisible ones that reorder
    // or hide text (U+202E, U+200B, ...) as they are. Each is inside a double-quoted
    // scalar (every value is one; keys are setting codes, `[A-Z0-9_]`), where `\uXXXX`
    // reads back as the same character.
    for c in yaml.chars() {
        if is_unsafe_char(c) && !c.is_ascii() {
            use fmt::Write as _;
            let _ = write!(text, "\\u{:04X}", u32::from(c));
        } else {
            text.push(c);
        }
    }
    text
}

fn write_options() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! {
        indent_step: 2,
        prefer_block_scalars: false,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
    pay_system: OutId<'a>,
    person_type: OutId<'a>,
    settings: BTreeMap<&'a str, OutSetting<'a>>,
}

/// `paySystem`/`personType`: an ID, or a reference `{ xmlId: "..." }` / `{ code: "..." }`.
#[derive(Serialize)]
#[serde(untagged)]
enum OutId<'a> {
    Id(u64),
    Reference(FlowMap<BTreeMap<&'static str, DoubleQuoted<&'a str>>>),
}

impl<'a> OutId<'a> {
    fn reference(key: &'static str, value: &'a str) -> Self {
        OutId::Reference(FlowMap(BTreeMap::from([(key, DoubleQuoted(value))])))
    }

    /// A payer type: its ID, or `{ xmlId: ... }` / `{ code: ... }`.
    fn person_type(reference: &'a crate::model::PersonTypeRef) -> Self {
        use crate::model::PersonTypeRef;
        match reference {
            PersonTypeRef::Id(id) => OutId::Id(*id),
            PersonTypeRef::XmlId(x) | PersonTypeRef::Either(x) => OutId::reference("xmlId", x),
            PersonTypeRef::Code(c) => OutId::reference("code", c),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSetting<'a> {
    Literal(DoubleQuoted<&'a str>),
    Source(FlowMap<OutSource<'a>>),
    Secret(FlowMap<OutSecret<'a>>),
}

#[derive(Serialize)]
struct OutSource<'a> {
    #[serde(rename = "type")]
    source: DoubleQuoted<&'a str>,
    value: DoubleQuoted<&'a str>,
}

#[derive(Serialize)]
struct OutSecret<'a> {
    secret: DoubleQuoted<&'a str>,
}

impl<'a> From<&'a NewDocument> for OutDocument<'a> {
    fn from(document: &'a NewDocument) -> Self {
        let settings = document
            .settings
            .iter()
            .map(|(code, setting)| {
                let out = match setting {
                    NewSetting::Literal(value) => OutSetting::Literal(DoubleQuoted(value)),
                    NewSetting::Source { source, value } => {
                        OutSetting::Source(FlowMap(OutSource {
                            source: DoubleQuoted(source),
                            value: DoubleQuoted(value),
                        }))
                    }
                    NewSetting::Secret(reference) => OutSetting::Secret(FlowMap(OutSecret {
                        secret: DoubleQuoted(reference),
                    })),
                };
                (code.as_str(), out)
            })
            .collect();
        use crate::model::PaySystemRef;
        let (pay_system, person_type) = match &document.reference {
            None => (
                OutId::Id(document.target.pay_system),
                OutId::Id(document.target.person_type),
            ),
            Some(r) => (
                match &r.pay_system {
                    PaySystemRef::Id(id) => OutId::Id(*id),
                    PaySystemRef::XmlId(x) => OutId::reference("xmlId", x),
                },
                OutId::person_type(&r.person_type),
            ),
        };
        OutDocument {
            api_version: API_VERSION,
            kind: KIND,
            pay_system,
            person_type,
            settings,
        }
    }
}

/// A document of any kind, as written.
#[derive(Serialize)]
#[serde(untagged)]
enum OutAny<'a> {
    Settings(OutDocument<'a>),
    Handler(OutHandler<'a>),
    PaySystem(OutPaySystem<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutHandler<'a> {
    api_version: &'static str,
    kind: &'static str,
    code: DoubleQuoted<&'a str>,
    name: DoubleQuoted<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<i64>,
    #[serde(flatten)]
    fields: Quoted<'a>,
}

impl<'a> From<&'a NewHandler> for OutHandler<'a> {
    fn from(h: &'a NewHandler) -> Self {
        OutHandler {
            api_version: API_VERSION,
            kind: "PaySystemHandler",
            code: DoubleQuoted(&h.code),
            name: DoubleQuoted(&h.name),
            sort: h.sort,
            fields: Quoted::Map(&h.fields),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutPaySystem<'a> {
    api_version: &'static str,
    kind: &'static str,
    xml_id: DoubleQuoted<&'a str>,
    name: DoubleQuoted<&'a str>,
    handler: DoubleQuoted<&'a str>,
    person_type: OutId<'a>,
    registry_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_window: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<DoubleQuoted<&'a str>>,
}

impl<'a> From<&'a NewPaySystem> for OutPaySystem<'a> {
    fn from(p: &'a NewPaySystem) -> Self {
        OutPaySystem {
            api_version: API_VERSION,
            kind: "PaySystem",
            xml_id: DoubleQuoted(&p.xml_id),
            name: DoubleQuoted(&p.name),
            handler: DoubleQuoted(&p.handler),
            person_type: OutId::person_type(&p.person_type),
            registry_type: &p.registry_type,
            active: p.active,
            new_window: p.new_window,
            description: p.description.as_deref().map(DoubleQuoted),
        }
    }
}

/// A JSON value written with every string double-quoted (YAML keeps it text) and every
/// key that YAML could read as something else than text quoted too.
enum Quoted<'a> {
    Value(&'a serde_json::Value),
    Map(&'a serde_json::Map<String, serde_json::Value>),
}

impl Serialize for Quoted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        use serde_json::Value;
        let map = match self {
            Quoted::Map(map) => *map,
            Quoted::Value(Value::Object(map)) => map,
            Quoted::Value(Value::String(text)) => return DoubleQuoted(text.as_str()).serialize(s),
            Quoted::Value(Value::Array(items)) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Quoted::Value(item))?;
                }
                return seq.end();
            }
            Quoted::Value(other) => return other.serialize(s),
        };
        let mut out = s.serialize_map(Some(map.len()))?;
        for (key, value) in map {
            if plain_key(key) {
                out.serialize_entry(key.as_str(), &Quoted::Value(value))?;
            } else {
                out.serialize_entry(&DoubleQuoted(key.as_str()), &Quoted::Value(value))?;
            }
        }
        out.end()
    }
}

/// Whether YAML reads `key` written plain as the same text: an identifier that is not
/// a boolean or a null.
fn plain_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
}

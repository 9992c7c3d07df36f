//! Writing manifests (`paysync import`) through serde-saphyr's serializer: every value
//! double-quoted (YAML keeps it a string), each setting with a type or a secret as a
//! one-line flow map, and the invisible characters serde-saphyr leaves as they are
//! escaped.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_saphyr::{DoubleQuoted, FlowMap};

use crate::manifest::raw::{API_VERSION, KIND, NewDocument, NewSetting};
use crate::untrusted::{escape_controls, is_unsafe_char};

/// A manifest file: `header` as comment lines (one line each: control and invisible
/// characters, line breaks too, escaped), then the documents, separated by `---`.
pub fn write_file(header: &[String], documents: &[NewDocument]) -> String {
    let mut text = String::new();
    for line in header {
        text.push_str(format!("# {}", escape_controls(line)).trim_end());
        text.push('\n');
    }
    let documents: Vec<OutDocument<'_>> = documents.iter().map(OutDocument::from).collect();
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
        use crate::model::{PaySystemRef, PersonTypeRef};
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
                match &r.person_type {
                    PersonTypeRef::Id(id) => OutId::Id(*id),
                    PersonTypeRef::XmlId(x) | PersonTypeRef::Either(x) => {
                        OutId::reference("xmlId", x)
                    }
                    PersonTypeRef::Code(c) => OutId::reference("code", c),
                },
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

//! Rendering: the only code that formats output for people (plans, diagnostics, apply
//! reports) and the only code, with `main.rs`, that writes to stdout and stderr.

pub mod apply_report;
pub mod apply_summary;
pub mod diagnostics;
pub mod drift;
pub mod drift_markdown;
pub mod environments;
pub mod import;
mod markdown_folds;
mod markdown_values;
pub mod plan_json;
pub mod plan_markdown;
pub mod plan_text;
pub mod progress;
pub mod rollup;
pub(crate) mod secret_groups;
pub mod state_documents;
pub mod terminal;

use crate::untrusted::is_unsafe_char;

/// One line of JSON for stderr under `--log-format json`, the shape of the JSON logs:
/// `{"timestamp", "level", "message", ...fields}` (fields must be an object to be added).
pub(crate) fn json_line(level: &str, message: &str, fields: serde_json::Value) -> String {
    let mut object = serde_json::json!({
        "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        "level": level,
        "message": message.trim_end(),
    });
    if let (Some(object), serde_json::Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    format!("{object}\n")
}

/// Writes `value` as a double-quoted string for a terminal: quotes and backslashes escaped, and every
/// control or invisible character ([`is_unsafe_char`]) written as a JSON-style escape
/// (`\n`, `\u001b`, `\u202e`), so a value (from a manifest or the portal) can neither
/// move the cursor nor end the line. Text without such characters, nearly every value, is
/// copied as it is.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    push_quoted_inner(out, value);
    out.push('"');
}

/// [`push_quoted`] without the quotes (for a fragment of a quoted value).
pub(crate) fn push_quoted_inner(out: &mut String, value: &str) {
    use std::fmt::Write as _;
    if !value
        .chars()
        .any(|c| c == '"' || c == '\\' || is_unsafe_char(c))
    {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// A GitHub workflow command's message (`::error ...::MESSAGE`), escaped as the runner
/// reads it: no line break can end the command.
pub(crate) fn workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A GitHub workflow command's property value (`file=...`), escaped as the runner reads
/// it: no `:` or `,` can end the property.
pub(crate) fn workflow_property(text: &str) -> String {
    workflow_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// How many bytes of a plan being rendered are gathered before they are written: plans
/// are written in parts as they are made (a plan of 200,000 targets is 18 MB of text or
/// 80 MB of JSON, which need not be held whole; issue 13).
pub(crate) const OUTPUT_PART: usize = 64 * 1024;

/// A target as every renderer names it: `paySystem 11 "AcmePay" / personType 1
/// "Individuals"`, with the names it knows (portal text, quoted and escaped like a value).
pub(crate) fn target_label(target: &crate::model::Target, names: &crate::plan::Names) -> String {
    let mut out = format!("paySystem {}", target.pay_system);
    if let Some(name) = names.pay_system(target.pay_system) {
        out.push(' ');
        push_quoted(&mut out, name);
    }
    out.push_str(&format!(" / personType {}", target.person_type));
    if let Some(name) = names.person_type(target.person_type) {
        out.push(' ');
        push_quoted(&mut out, name);
    }
    out
}

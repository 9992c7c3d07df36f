//! `paysync schema [KIND]`: a JSON Schema on stdout, generated from the types: the
//! manifests' (default) or that of an output document. Each is committed under `schema/`
//! and kept equal to what this prints by a test.

use schemars::JsonSchema;

use super::steps::Context;
use crate::cli::SchemaKind;
use crate::error::{Error, exit};
use crate::manifest;
use crate::plan::document::PlanDocument;
use crate::render::apply_report::ApplyDocument;
use crate::render::diagnostics::ValidationDocument;
use crate::render::drift::DriftDocument;

pub fn run(kind: SchemaKind, ctx: &Context<'_>) -> Result<i32, Error> {
    let mut schema = serde_json::to_string_pretty(&schema(kind)).expect("schema serialises");
    schema.push('\n');
    ctx.term.out(&schema);
    Ok(exit::SUCCESS)
}

/// The schema of `kind`.
pub fn schema(kind: SchemaKind) -> serde_json::Value {
    match kind {
        SchemaKind::Manifest => manifest::json_schema(),
        SchemaKind::Project => crate::project::json_schema(),
        SchemaKind::Plan => document::<PlanDocument>(),
        SchemaKind::Drift => document::<DriftDocument<'static>>(),
        SchemaKind::Apply => document::<ApplyDocument>(),
        SchemaKind::Validation => document::<ValidationDocument<'static>>(),
        SchemaKind::StateList => document::<crate::render::state_documents::StateListDocument>(),
        SchemaKind::StateHistory => {
            document::<crate::render::state_documents::StateHistoryDocument>()
        }
    }
}

/// The schema of an output document, as it serialises.
fn document<T: JsonSchema>() -> serde_json::Value {
    manifest::reader_order(
        schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value(),
    )
}

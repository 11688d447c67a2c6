//! The report's JSON Schema, generated from the types the report serialises.
//!
//! utoipa already describes these types for the API's OpenAPI 3.1 document, whose schemas are
//! JSON Schema 2020-12; the same components become the `$defs` of a standalone schema, so the
//! schema an auditor's tool validates against cannot drift from what Haechi writes.

use serde_json::{Value, json};
use utoipa::openapi::OpenApiBuilder;
use utoipa::openapi::schema::ComponentsBuilder;

use crate::report::EvidenceReport;

/// The JSON Schema (2020-12) of [`EvidenceReport`], as pretty JSON text.
pub fn json_schema() -> String {
    let mut schemas = Vec::new();
    <EvidenceReport as utoipa::ToSchema>::schemas(&mut schemas);
    let components = ComponentsBuilder::new()
        .schema(
            <EvidenceReport as utoipa::ToSchema>::name(),
            <EvidenceReport as utoipa::PartialSchema>::schema(),
        )
        .schemas_from_iter(schemas)
        .build();
    let document = OpenApiBuilder::new().components(Some(components)).build();
    let mut document = serde_json::to_value(&document).unwrap_or(Value::Null);
    let mut defs = document["components"]["schemas"].take();
    rewrite_refs(&mut defs);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://haechi.dev/schemas/evidence.v1.json",
        "title": "Haechi evidence report (haechi.evidence.v1)",
        "$ref": "#/$defs/EvidenceReport",
        "$defs": defs,
    });
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `#/components/schemas/X` → `#/$defs/X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(reference) = inner
                    && let Some(name) = reference.strip_prefix("#/components/schemas/")
                {
                    *reference = format!("#/$defs/{name}");
                } else {
                    rewrite_refs(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

//! The published JSON Schema (`docs/evidence.schema.json`) is the one the types generate.

#[test]
fn the_published_schema_is_the_generated_one() {
    let published = include_str!("../../../docs/evidence.schema.json");
    assert!(
        published == haechi_evidence::json_schema(),
        "docs/evidence.schema.json is stale: run `haechi evidence schema > docs/evidence.schema.json`"
    );
}

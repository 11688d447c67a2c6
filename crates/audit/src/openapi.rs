//! The audit record's schema for the API's OpenAPI document: the JSON view the search API
//! writes (`AuditRecord`'s `Serialize`), which is hand-made, so its schema is too.

use haechi_events::SecurityEvent;

use crate::record::AuditRecord;

/// The schema of the record's JSON view (its `Serialize`), for the API's OpenAPI document: the event's members
/// (`SecurityEvent`) with `seq`, `prev_hash` and `hash` beside them.
impl utoipa::PartialSchema for AuditRecord {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
        use utoipa::openapi::{KnownFormat, Ref, SchemaFormat};
        let hex = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9a-f]{64}$"))
                .description(Some(description))
        };
        let position = ObjectBuilder::new()
            .property(
                "seq",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1))
                    .description(Some("Position in the log, dense from 1.")),
            )
            .required("seq")
            .property(
                "prev_hash",
                hex("The hash of the record before (zeros for seq 1), lowercase hex."),
            )
            .required("prev_hash")
            .property(
                "hash",
                hex("SHA-256 over the record's canonical bytes, lowercase hex."),
            )
            .required("hash");
        AllOfBuilder::new()
            .item(Ref::from_schema_name(
                <SecurityEvent as utoipa::ToSchema>::name(),
            ))
            .item(position)
            .description(Some(
                "One audit record: the security event, its position and its link in the hash \
                 chain.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for AuditRecord {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            <SecurityEvent as utoipa::ToSchema>::name().into_owned(),
            <SecurityEvent as utoipa::PartialSchema>::schema(),
        ));
        <SecurityEvent as utoipa::ToSchema>::schemas(schemas);
    }
}

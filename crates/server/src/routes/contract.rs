//! `GET /openapi.json`: the API's contract, generated from the code (`crate::openapi`).

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document as served (its JSON text), made once when the router is built.
#[derive(Debug, Clone)]
pub(super) struct Document(pub(super) Bytes);

/// This document: the API's contract (OpenAPI 3.1)
///
/// Generated from the handlers and the types they serialise, so it cannot drift from what the
/// server does. Public: it describes, it grants nothing.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "contract",
    operation_id = "openapi",
    security(()),
    responses((
        status = 200,
        description = "The OpenAPI 3.1 document.",
        body = Object,
        content_type = "application/json"
    ))
)]
async fn openapi_json(Extension(Document(document)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document)
}

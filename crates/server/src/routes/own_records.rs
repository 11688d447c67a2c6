//! A customer's own record and address book (`/v1/customers/me…`). Every route here counts
//! against the customer's own request rate (`[quota] customer_requests_per_minute`): over it,
//! 429.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haechi_vault::{AddressInput, CustomerPatch, Plaintext};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::customers::AddressView;
use crate::extract::{Authenticated, JsonBody, PathParam};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_own, patch_own))
        .routes(routes!(read_own_addresses, add_address))
        .routes(routes!(remove_address))
}

/// A customer's own record: every field in plaintext, entrance notes too. Written by the
/// vault's wiping view (`Plaintext`); this type only describes it.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "name": "김민준", "email": "minjun@example.com", "phone": "010-2345-6789",
    "birth_date": "1990-03-15", "customs_code": null, "addresses": []
}))]
#[allow(dead_code, reason = "describes the JSON the vault writes")]
struct OwnRecord {
    /// Name.
    name: String,
    /// E-mail (a login identifier).
    email: String,
    /// Phone (a login identifier).
    phone: String,
    /// `YYYY-MM-DD`, or null.
    birth_date: Option<String>,
    /// `P` + 12 digits, or null.
    customs_code: Option<String>,
    /// The address book.
    addresses: Vec<AddressView>,
}

/// The customer reads their own record
#[utoipa::path(
    get,
    path = "/v1/customers/me",
    tag = "customers",
    operation_id = "read_own_record",
    security(("bearer" = ["customer"])),
    responses(
        (status = 200, description = "The record, in plaintext.", body = OwnRecord),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn read_own(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<Plaintext>, ApiError> {
    let view = state
        .vault
        .own_records()
        .read(&caller.token, &caller.context)
        .await?;
    Ok(axum::Json(view))
}

/// The customer changes their own record
///
/// Absent fields stay as they are; nothing changes unless every given field is valid. A new
/// e-mail or phone becomes the login identifier in the same transaction; one another account
/// holds is a 409.
#[utoipa::path(
    patch,
    path = "/v1/customers/me",
    tag = "customers",
    operation_id = "patch_own_record",
    security(("bearer" = ["customer"])),
    request_body(content = CustomerPatch, example = json!({"name": "김민준"})),
    responses(
        (status = 200, description = "The record as changed.", body = OwnRecord),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn patch_own(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(patch): JsonBody<CustomerPatch>,
) -> Result<axum::Json<Plaintext>, ApiError> {
    let view = state
        .vault
        .own_records()
        .patch(&caller.token, patch, &caller.context)
        .await?;
    Ok(axum::Json(view))
}

/// `GET /v1/customers/me/addresses`: the customer's address book, serialised straight from
/// the vault's wiping view.
#[derive(Serialize, ToSchema)]
struct AddressBook {
    /// The addresses, entrance notes in plaintext.
    #[schema(value_type = Vec<AddressView>)]
    addresses: Plaintext,
}

/// The customer reads their address book
#[utoipa::path(
    get,
    path = "/v1/customers/me/addresses",
    tag = "customers",
    operation_id = "read_own_addresses",
    security(("bearer" = ["customer"])),
    responses(
        (status = 200, description = "The address book.", body = AddressBook),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn read_own_addresses(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<AddressBook>, ApiError> {
    let view = state
        .vault
        .own_records()
        .read_addresses(&caller.token, &caller.context)
        .await?;
    Ok(axum::Json(AddressBook { addresses: view }))
}

/// The customer adds an address
#[utoipa::path(
    post,
    path = "/v1/customers/me/addresses",
    tag = "customers",
    operation_id = "add_own_address",
    security(("bearer" = ["customer"])),
    request_body(content = AddressInput, example = json!({
        "recipient": "김민준", "phone": "010-2345-6789",
        "road_address": "서울특별시 송파구 올림픽로 300", "detail": "101동 1001호",
        "postal_code": "05551", "entrance_note": "공동현관 1234"
    })),
    responses(
        (
            status = 201,
            description = "The address as kept, with its id.",
            body = AddressView,
            links(("remove" = (
                operation_id = "remove_own_address",
                parameters(("address_id" = "$response.body#/id")),
                description = "Remove the address added."
            )))
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn add_address(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(address): JsonBody<AddressInput>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state
        .vault
        .own_records()
        .add_address(&caller.token, address, &caller.context)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// The customer removes an address
#[utoipa::path(
    delete,
    path = "/v1/customers/me/addresses/{address_id}",
    tag = "customers",
    operation_id = "remove_own_address",
    security(("bearer" = ["customer"])),
    params(("address_id" = String, Path, description = "The address's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn remove_address(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParam(address_id): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    state
        .vault
        .own_records()
        .remove_address(&caller.token, &address_id, &caller.context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The PII vault's service side: creation, reads under policy and quota, lookups and
//! crypto-shredding. (A customer's own record is `own_records`; the policy is `policy`.)

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haechi_vault::{BlindIndexKind, CustomerInput, MAX_BATCH, Plaintext};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Authenticated, JsonBody, PathParam};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(lookup))
        .routes(routes!(batch_get))
        .routes(routes!(read_one, shred))
}

/// A customer as a service reads them: `id` and the fields the policy grants for the
/// purpose, each masked (`h***@example.com`) unless the grant is plaintext. Written by the
/// vault's wiping view (`Plaintext`); this type only describes it.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"id": "c0f6b2d9e41a8c3f5b7d9e1a2c4f6b8d0", "name": "김*준", "phone": "010-****-5678"}))]
#[allow(dead_code, reason = "describes the JSON the vault writes")]
pub(super) struct CustomerView {
    /// The customer's id.
    id: String,
    /// Name.
    #[schema(required = false)]
    name: String,
    /// E-mail.
    #[schema(required = false)]
    email: String,
    /// Phone.
    #[schema(required = false)]
    phone: String,
    /// `YYYY-MM-DD`, or null when not on record.
    #[schema(required = false)]
    birth_date: Option<String>,
    /// `P` + 12 digits, or null when not on record.
    #[schema(required = false)]
    customs_code: Option<String>,
    /// The address book.
    #[schema(required = false)]
    addresses: Vec<AddressView>,
}

/// A shipping address as it leaves the vault (its entrance note in plaintext only to its
/// owner). Written by the vault's wiping view; this type only describes it.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "describes the JSON the vault writes")]
pub(super) struct AddressView {
    /// Stable id within the address book.
    id: String,
    /// Who receives the parcel.
    recipient: String,
    /// The recipient's phone.
    phone: String,
    /// 도로명주소.
    road_address: String,
    /// Unit (동/호), or null.
    detail: Option<String>,
    /// 5-digit postal code (masked: its first two digits).
    postal_code: String,
    /// Door code and delivery instructions, or null.
    entrance_note: Option<String>,
}

/// A created customer.
#[derive(Debug, Serialize, ToSchema)]
struct Created {
    /// The new customer's id.
    id: String,
}

/// Create a customer (record and login)
///
/// For a service holding the `account` purpose. The e-mail and phone become the customer's
/// login identifiers; one another account holds is a 409.
#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "customers",
    operation_id = "create_customer",
    security(("bearer" = ["service"]), ("client_credentials" = ["account"])),
    request_body(content = CustomerInput, example = json!({
        "name": "김민준", "email": "minjun@example.com", "phone": "010-2345-6789",
        "birth_date": "1990-03-15",
        "addresses": [{"recipient": "김민준", "phone": "010-2345-6789",
            "road_address": "서울특별시 송파구 올림픽로 300", "detail": "101동 1001호",
            "postal_code": "05551", "entrance_note": "공동현관 1234"}]
    })),
    responses(
        (
            status = 201,
            description = "Created.",
            body = Created,
            links(
                ("read" = (
                    operation_id = "read_customer",
                    parameters(("id" = "$response.body#/id")),
                    description = "Read the customer created."
                )),
                ("shred" = (
                    operation_id = "shred_customer",
                    parameters(("id" = "$response.body#/id")),
                    description = "Crypto-shred the customer created."
                )),
            )
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(input): JsonBody<CustomerInput>,
) -> Result<impl IntoResponse, ApiError> {
    let id = state
        .vault
        .lifecycle()
        .create(&caller.token, input, &caller.context)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(Created { id })))
}

/// What a service's read asks for.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReadQuery {
    /// The purpose of the read, one the service holds and the policy grants.
    #[serde(default)]
    #[param(example = "shipping")]
    purpose: Option<String>,
    /// Comma-separated field names; default: every field the policy grants for the purpose.
    #[serde(default)]
    #[param(example = "name,phone")]
    fields: Option<String>,
}

fn field_list(fields: Option<&str>) -> Option<Vec<String>> {
    fields.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|field| !field.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// A service reads one customer for a purpose
///
/// Under the access policy (default deny; masked unless the policy grants plaintext) and the
/// service's quotas: each distinct customer is charged to the service's budget, and the read
/// is on the audit record (`pii.read`).
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = "customers",
    operation_id = "read_customer",
    security(("bearer" = ["service"]), ("client_credentials" = [])),
    params(("id" = String, Path, description = "The customer's id."), ReadQuery),
    responses(
        (status = 200, description = "The fields granted.", body = CustomerView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn read_one(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<axum::Json<Plaintext>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    if id.len() > 64 {
        return Err(ApiError::not_found("no such customer"));
    }
    let fields = field_list(query.fields.as_deref());
    let grant = state
        .vault
        .service_reads()
        .authorize(
            &caller.token,
            std::slice::from_ref(&id),
            query.purpose.as_deref(),
            fields.as_deref(),
            &caller.context,
        )
        .await?;
    let view = state
        .vault
        .service_reads()
        .read(&grant, &caller.context)
        .await?;
    match view.customers.into_iter().next() {
        Some((_, customer)) => Ok(axum::Json(customer)),
        None => Err(ApiError::not_found("no such customer")),
    }
}

/// A batch read.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ids": ["c0f6b2d9e41a8c3f5b7d9e1a2c4f6b8d0"], "purpose": "shipping", "fields": ["name", "phone"]}))]
struct BatchRequest {
    /// 1 to 100 customer ids, each at most 64 characters.
    ids: Vec<String>,
    /// The purpose of the read.
    #[serde(default)]
    purpose: Option<String>,
    /// The fields wanted; default: every field the policy grants for the purpose.
    #[serde(default)]
    fields: Option<Vec<String>>,
}

/// The answer of a batch read (keys in the order the API has always written them).
#[derive(Serialize, ToSchema)]
struct Batch {
    /// The customers found, as single reads show them.
    #[schema(value_type = Vec<CustomerView>)]
    customers: Vec<Plaintext>,
    /// The ids that name no customer.
    missing: Vec<String>,
}

/// A service reads up to 100 customers at once
///
/// Each customer found is charged to the quota and recorded as its own `pii.read`, as a
/// single read would be.
#[utoipa::path(
    post,
    path = "/v1/customers:batchGet",
    tag = "customers",
    operation_id = "batch_get_customers",
    security(("bearer" = ["service"]), ("client_credentials" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "The customers found and the ids missing.", body = Batch),
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
async fn batch_get(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<BatchRequest>,
) -> Result<axum::Json<Batch>, ApiError> {
    if request.ids.is_empty() || request.ids.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(format!(
            "ids: give 1 to {MAX_BATCH} customer ids"
        )));
    }
    if request.ids.iter().any(|id| id.len() > 64) {
        return Err(ApiError::unprocessable(
            "ids: an id is at most 64 characters",
        ));
    }
    let grant = state
        .vault
        .service_reads()
        .authorize(
            &caller.token,
            &request.ids,
            request.purpose.as_deref(),
            request.fields.as_deref(),
            &caller.context,
        )
        .await?;
    let view = state
        .vault
        .service_reads()
        .read(&grant, &caller.context)
        .await?;
    let customers: Vec<Plaintext> = view.customers.into_iter().map(|(_, c)| c).collect();
    Ok(axum::Json(Batch {
        customers,
        missing: view.missing,
    }))
}

/// A lookup: exactly one of `email` or `phone`, and the purpose.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "010-2345-6789", "purpose": "support"}))]
struct LookupRequest {
    /// The e-mail to find (or give `phone`).
    #[serde(default)]
    email: Option<String>,
    /// The phone to find (or give `email`).
    #[serde(default)]
    phone: Option<String>,
    /// The purpose; the policy must grant the searched field for it.
    #[serde(default)]
    purpose: Option<String>,
}

/// The customers a lookup found.
#[derive(Debug, Serialize, ToSchema)]
struct Found {
    /// Their ids (each charged to the quota as a read).
    ids: Vec<String>,
}

/// A service finds customers by e-mail or phone
///
/// Through the blind index: the value is never stored or logged. A lookup is a read — each
/// customer returned is charged to the budget and named in its own `pii.lookup` — and misses
/// are rate-limited per principal.
#[utoipa::path(
    post,
    path = "/v1/customers/lookup",
    tag = "customers",
    operation_id = "lookup_customers",
    security(("bearer" = ["service"]), ("client_credentials" = [])),
    request_body = LookupRequest,
    responses(
        (status = 200, description = "The ids found (possibly none).", body = Found),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn lookup(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<LookupRequest>,
) -> Result<axum::Json<Found>, ApiError> {
    let (kind, value) = match (&request.email, &request.phone) {
        (Some(email), None) => (BlindIndexKind::Email, email),
        (None, Some(phone)) => (BlindIndexKind::Phone, phone),
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of \"email\" or \"phone\"",
            ));
        }
    };
    let grant = state
        .vault
        .service_reads()
        .authorize_lookup(
            &caller.token,
            kind,
            request.purpose.as_deref(),
            &caller.context,
        )
        .await?;
    let ids = state
        .vault
        .service_reads()
        .lookup(&grant, value, &caller.context)
        .await?;
    Ok(axum::Json(Found { ids }))
}

/// Crypto-shred a customer (erasure)
///
/// For a service holding the `erasure` purpose. The customer's sessions end first, then the
/// record's data key is destroyed: the ciphertext that remains can never be opened.
#[utoipa::path(
    delete,
    path = "/v1/customers/{id}",
    tag = "customers",
    operation_id = "shred_customer",
    security(("bearer" = ["service"]), ("client_credentials" = ["erasure"])),
    params(("id" = String, Path, description = "The customer's id.")),
    responses(
        (status = 204, description = "Shredded."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn shred(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    state
        .vault
        .lifecycle()
        .delete(&caller.token, &id, &caller.context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The PII vault's API: customers' own records, service reads under policy and quota,
//! lookups, creation, crypto-shredding, and the policy itself.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use haechi_vault::{
    AddressInput, BlindIndexKind, CustomerInput, CustomerPatch, MAX_BATCH, Plaintext, Policy,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::extract::{Admin, Authenticated, JsonBody, PathParam, RawBody};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", post(create))
        .route("/v1/customers/me", get(read_own).patch(patch_own))
        .route(
            "/v1/customers/me/addresses",
            get(read_own_addresses).post(add_address),
        )
        .route(
            "/v1/customers/me/addresses/{address_id}",
            delete(remove_address),
        )
        .route("/v1/customers/lookup", post(lookup))
        .route("/v1/customers:batchGet", post(batch_get))
        .route("/v1/customers/{id}", get(read_one).delete(shred))
        .route("/v1/admin/policy", get(read_policy).put(replace_policy))
}

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
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": id }))))
}

async fn read_own(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<impl IntoResponse, ApiError> {
    let view = state
        .vault
        .own_records()
        .read(&caller.token, &caller.context)
        .await?;
    Ok(axum::Json(view))
}

async fn patch_own(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(patch): JsonBody<CustomerPatch>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state
        .vault
        .own_records()
        .patch(&caller.token, patch, &caller.context)
        .await?;
    Ok(axum::Json(view))
}

async fn read_own_addresses(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<impl IntoResponse, ApiError> {
    let view = state
        .vault
        .own_records()
        .read_addresses(&caller.token, &caller.context)
        .await?;
    Ok(axum::Json(AddressBook { addresses: view }))
}

/// `GET /v1/customers/me/addresses`: the customer's address book, serialised straight from
/// the vault's wiping view.
#[derive(Serialize)]
struct AddressBook {
    addresses: Plaintext,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    #[serde(default)]
    purpose: Option<String>,
    /// Comma-separated field names; default: every field the policy grants for the purpose.
    #[serde(default)]
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

async fn read_one(
    State(state): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam,
    query: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    ids: Vec<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
}

/// The answer of a batch read (keys in the order the API has always written them).
#[derive(Serialize)]
struct Batch {
    customers: Vec<Plaintext>,
    missing: Vec<String>,
}

async fn batch_get(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<BatchRequest>,
) -> Result<impl IntoResponse, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
}

async fn lookup(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<LookupRequest>,
) -> Result<impl IntoResponse, ApiError> {
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
    Ok(axum::Json(json!({ "ids": ids })))
}

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

async fn read_policy(State(state): State<AppState>, _admin: Admin) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/toml")],
        state.vault.policy().source().to_string(),
    )
}

/// Replaces the access policy with the TOML body; a policy that does not parse is refused
/// with the line and problem, and the old policy stays in force. The new policy is written to
/// the policy file (atomically, the previous version kept) before it is put in force.
async fn replace_policy(
    State(state): State<AppState>,
    admin: Admin,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the policy must be UTF-8 TOML"))?;
    let policy = Policy::parse(text, "request body").map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            error.to_string(),
        )
    })?;
    let kept = state.vault.replace_policy(policy, &admin.grant).await?;
    Ok(axum::Json(json!({
        "replaced": true,
        "version": kept.version,
        "sha256": kept.digest,
    })))
}

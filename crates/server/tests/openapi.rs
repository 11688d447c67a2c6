//! The OpenAPI document (`haechi_server::openapi`, served at `GET /openapi.json`): an
//! OpenAPI 3.1 document whose every reference resolves, whose every operation says who may
//! call it, what it answers and how it fails, and which the router serves as it is.
//!
//! That the document covers every route, and only routes that exist, is checked with the
//! hostile-route table (`tests/hostile_routes.rs`: the table, the document and the router must
//! agree). Its validity against the OpenAPI 3.1 schema (`openapi-spec-validator`), its fit with
//! what the real server answers (schemathesis) and its use by a generated client are checked by
//! the root package's `tests/contract.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure should stop the test loudly"
)]

mod support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;
use support::{Fixture, json_of};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Every operation as `(method, path, operation)`.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                METHODS.contains(&method.as_str()),
                "{path}: {method} is not an HTTP method"
            );
            operations.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    operations
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap();
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves to nothing"))
        }
        None => value,
    }
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                if name == "$ref"
                    && let Some(reference) = member.as_str()
                {
                    found.push(reference.to_string());
                }
                references(member, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let document = haechi_server::openapi();
    assert_eq!(document["openapi"], "3.1.0", "{}", document["openapi"]);
    assert_eq!(document["info"]["title"], "Haechi");
    assert!(document["info"]["version"].is_string());
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: not a local reference"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} resolves to nothing"
        );
    }
    for scheme in ["bearer", "client_credentials", "client_basic"] {
        assert!(
            document["components"]["securitySchemes"][scheme].is_object(),
            "no security scheme {scheme}"
        );
    }
}

/// Each operation: an id (unique), a summary, a tag, its security stated (an empty
/// requirement for public ones), a 2xx or 3xx answer, and at least one 4xx answer whose body
/// is the `ApiError` schema; every `{parameter}` of its path declared as a path parameter.
#[test]
fn every_operation_has_a_summary_its_security_and_its_errors() {
    let document = haechi_server::openapi();
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let label = format!("{} {path}", method.to_uppercase());
        match operation["operationId"].as_str() {
            Some(id) if ids.insert(id.to_string()) => {}
            other => problems.push(format!(
                "{label}: operationId {other:?} missing or repeated"
            )),
        }
        if operation["summary"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{label}: no summary"));
        }
        if operation["tags"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{label}: no tag"));
        }
        if operation["security"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{label}: its security is not stated"));
        }
        let responses = operation["responses"].as_object().unwrap();
        if !responses
            .keys()
            .any(|status| status.starts_with('2') || status.starts_with('3'))
        {
            problems.push(format!("{label}: no success answer"));
        }
        let error_answers = responses
            .iter()
            .filter(|(status, _)| status.starts_with('4'))
            .filter(|(_, response)| {
                resolve(&document, response)["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/ApiError"
            })
            .count();
        if error_answers == 0 {
            problems.push(format!("{label}: no 4xx answer with the ApiError body"));
        }
        for status in ["403", "500", "503"] {
            if !responses.contains_key(status) {
                problems.push(format!("{label}: no {status}, which any route can answer"));
            }
        }
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .map(|parameters| {
                parameters
                    .iter()
                    .filter(|parameter| parameter["in"] == "path")
                    .filter_map(|parameter| parameter["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        if declared != templated {
            problems.push(format!(
                "{label}: path parameters {templated:?}, declared {declared:?}"
            ));
        }
    }
    assert!(ids.len() > 40, "{ids:?}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Links name an operation of the document by its `operationId` (utoipa writes the member in
/// snake case; `haechi_server`'s completion renames it), and their parameters are the target's.
#[test]
fn links_name_operations_that_exist() {
    let document = haechi_server::openapi();
    let all = operations(&document);
    let mut links = 0;
    for (_, _, operation) in &all {
        for response in operation["responses"].as_object().unwrap().values() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                links += 1;
                assert!(link.get("operation_id").is_none(), "{name}: {link}");
                let target = link["operationId"].as_str().unwrap();
                let (_, _, target) = all
                    .iter()
                    .find(|(_, _, candidate)| candidate["operationId"] == target)
                    .unwrap_or_else(|| panic!("{name}: no operation {target}"));
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    assert!(
                        target["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|declared| declared["name"] == parameter.as_str()),
                        "{name}: {parameter} is not a parameter of the target"
                    );
                }
            }
        }
    }
    assert!(links >= 5, "{links} links");
}

/// The error body's `error` member lists the codes the server writes.
#[test]
fn the_error_schema_lists_the_error_codes() {
    let document = haechi_server::openapi();
    let schema = &document["components"]["schemas"]["ApiError"];
    let code = resolve(&document, &schema["properties"]["error"]);
    let codes: BTreeSet<&str> = code["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enumeration of codes: {code}"))
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    for expected in [
        "bad_request",
        "malformed_json",
        "missing_token",
        "invalid_token",
        "invalid_client",
        "forbidden",
        "blocked",
        "not_found",
        "method_not_allowed",
        "conflict",
        "body_too_large",
        "unsupported_media_type",
        "invalid_field",
        "rate_limited",
        "quota_exceeded",
        "headers_too_large",
        "internal",
        "unavailable",
    ] {
        assert!(codes.contains(expected), "{expected} not in {codes:?}");
    }
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["error", "message"]));
}

/// Request bodies and 2xx answers with JSON carry a schema, and JSON request bodies an example.
#[test]
fn bodies_have_schemas_and_examples() {
    let document = haechi_server::openapi();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let label = format!("{} {path}", method.to_uppercase());
        if let Some(content) = operation["requestBody"]["content"].as_object() {
            for (media_type, body) in content {
                if body["schema"].is_null() {
                    problems.push(format!("{label}: request {media_type} without a schema"));
                }
                let schema = resolve(&document, &body["schema"]);
                let example = !body["example"].is_null()
                    || !schema["example"].is_null()
                    || schema["examples"].is_array();
                if media_type == "application/json" && !example {
                    problems.push(format!("{label}: request body without an example"));
                }
            }
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            for (media_type, body) in response["content"].as_object().into_iter().flatten() {
                if body["schema"].is_null() {
                    problems.push(format!("{label} {status}: {media_type} without a schema"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `GET /openapi.json` serves the document, public, as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_the_document() {
    let fixture = Fixture::open().await;
    let request = Request::builder()
        .uri("/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = fixture.send(request).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{:?}",
        response.headers()
    );
    let (status, served) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(served, haechi_server::openapi());
}

/// Found by schemathesis (tests/contract.rs): the customer's own-record routes answer 429 over
/// the customer's request rate (`[quota] customer_requests_per_minute`, 120 by default), and
/// the document did not say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_own_record_routes_document_their_rate_limit() {
    let fixture = Fixture::open().await;
    let mut limited = false;
    for _ in 0..200 {
        let request = Request::builder()
            .uri("/v1/customers/me")
            .header(
                "authorization",
                format!("Bearer {}", fixture.customer_token),
            )
            .body(Body::empty())
            .unwrap();
        let (status, body) = json_of(fixture.send(request).await).await;
        if status == 429 {
            assert_eq!(body["error"], "rate_limited", "{body}");
            limited = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert!(limited, "the customer's rate never ran out");
    let document = haechi_server::openapi();
    for (method, path, operation) in operations(&document) {
        if path.starts_with("/v1/customers/me") {
            assert!(
                operation["responses"]["429"].is_object(),
                "{method} {path} does not document its 429"
            );
        }
    }
}

/// Writes the document to `HAECHI_OPENAPI_OUT` (for a reader without a running server):
/// `HAECHI_OPENAPI_OUT=openapi.json cargo test -p haechi-server --test openapi write_document
/// -- --ignored`.
#[test]
#[ignore = "writes a file; run by hand"]
fn write_document() {
    let out = std::env::var("HAECHI_OPENAPI_OUT").unwrap();
    let text = serde_json::to_string_pretty(&haechi_server::openapi()).unwrap();
    std::fs::write(out, text).unwrap();
}

//! The driver's HTTP client: one request at a time, with the drill's forwarded address and
//! user agent; client-credentials tokens cached and fetched again when refused or old, as a
//! real client does.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use haechi_events::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{Broken, Driver};
use crate::server::Credential;

/// Service and admin tokens are fetched again once this old (they live 15 minutes).
const TOKEN_REUSE: Duration = Duration::from_secs(10 * 60);

/// A token and when (simulated) it was fetched.
#[derive(Clone)]
pub(super) struct CachedToken {
    token: String,
    issued: Timestamp,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum To<'a> {
    /// The next API node, round robin (the only one, on a single server).
    AnyApiNode,
    /// This node (a base URL).
    Node(&'a str),
}

impl Driver {
    /// Sends one request to the next API node; `Broken` if the server did not answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        from: Option<Ipv4Addr>,
        agent: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        self.send_to(To::AnyApiNode, method, path, (from, agent), bearer, body)
            .await
    }

    /// Sends one request to `to`, as from `from` with user agent `agent`.
    pub(super) async fn send_to(
        &self,
        to: To<'_>,
        method: Method,
        path: &str,
        (from, agent): (Option<Ipv4Addr>, &str),
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = match to {
            To::AnyApiNode => self.nodes.url(path),
            To::Node(base) => format!("{base}{path}"),
        };
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::USER_AGENT, agent);
        if let Some(from) = from {
            request = request.header("x-forwarded-for", from.to_string());
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| Broken(format!("{path}: the server did not answer: {error}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| Broken(format!("{path}: the answer broke off: {error}")))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// A client-credentials token, reused while fresh; `None` if refused.
    pub(super) async fn client_token(
        &mut self,
        cache_key: &str,
        credential: &Credential,
        from: Option<Ipv4Addr>,
        agent: &str,
    ) -> Result<Option<String>, Broken> {
        if let Some(cached) = self.tokens.get(cache_key)
            && self.now.since(cached.issued) < TOKEN_REUSE
        {
            return Ok(Some(cached.token.clone()));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .post(self.nodes.url("/v1/oauth/token"))
            .basic_auth(&credential.client_id, Some(&credential.client_secret))
            .header(reqwest::header::USER_AGENT, agent)
            .form(&[("grant_type", "client_credentials")]);
        if let Some(from) = from {
            request = request.header("x-forwarded-for", from.to_string());
        }
        let response = request.send().await.map_err(|error| {
            Broken(format!(
                "/v1/oauth/token: the server did not answer: {error}"
            ))
        })?;
        if !response.status().is_success() {
            self.tokens.remove(cache_key);
            return Ok(None);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|error| Broken(format!("/v1/oauth/token: not JSON: {error}")))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| Broken("/v1/oauth/token: no access_token".into()))?
            .to_string();
        if self.issuer_audience.is_none() {
            self.issuer_audience = issuer_and_audience(&token);
        }
        self.tokens.insert(
            cache_key.to_string(),
            CachedToken {
                token: token.clone(),
                issued: self.now,
            },
        );
        Ok(Some(token))
    }

    /// The administrator's token.
    pub(super) async fn admin_token(&mut self) -> Result<String, Broken> {
        let admin = self.admin.clone();
        self.client_token("admin", &admin, None, "haechi-drill")
            .await?
            .ok_or_else(|| Broken("the administrator credential was refused".into()))
    }

    /// An administrator's request to the next API node, with a new token once if the cached
    /// one died.
    pub(crate) async fn admin(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        self.admin_at(To::AnyApiNode, method, path, body).await
    }

    /// An administrator's request to `to` (a cluster's detection node verifies the token an
    /// API node issued: they share the ledger).
    pub(super) async fn admin_at(
        &mut self,
        to: To<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        const AGENT: (Option<Ipv4Addr>, &str) = (None, "haechi-drill");
        let token = self.admin_token().await?;
        let (status, answer) = self
            .send_to(to, method.clone(), path, AGENT, Some(&token), body)
            .await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, answer));
        }
        // The token died under us (containment revoked the key that signed it): a client
        // fetches a new one and tries again, once.
        self.tokens.remove("admin");
        let token = self.admin_token().await?;
        self.send_to(to, method, path, AGENT, Some(&token), body)
            .await
    }

    /// A service read with a cached token, fetching a new token once if the cached one was
    /// refused; `None` if no token could be had.
    pub(crate) async fn service_read(
        &mut self,
        cache_key: &str,
        credential: &Credential,
        path: &str,
        from: Ipv4Addr,
        agent: &str,
    ) -> Result<Option<(StatusCode, Value)>, Broken> {
        for _ in 0..2 {
            let Some(token) = self
                .client_token(cache_key, credential, Some(from), agent)
                .await?
            else {
                return Ok(None);
            };
            let (status, body) = self
                .send(Method::GET, path, Some(from), agent, Some(&token), None)
                .await?;
            if status != StatusCode::UNAUTHORIZED {
                return Ok(Some((status, body)));
            }
            self.tokens.remove(cache_key);
        }
        Ok(None)
    }
}

/// `iss` and `aud` of a JWT's payload.
fn issuer_and_audience(token: &str) -> Option<(String, String)> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        claims["iss"].as_str()?.to_string(),
        claims["aud"].as_str()?.to_string(),
    ))
}

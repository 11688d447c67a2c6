//! `forged_tokens`: the attacker holds a copy of a signing key — the company imported it when
//! it migrated its old identity provider — mints a token for each victim and reads the
//! victim's own data with it. The Coupang breach.

use std::time::Duration;

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use futures::future::LocalBoxFuture;
use haechi_events::Timestamp;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{AttackerKind, Habits, all, check_paced, read_as_customer};
use crate::Error;
use crate::driver::{Broken, Driver, StepResult};
use crate::plan::{AttackStep, Plan, Planning};
use crate::scenario::{Read, Scenario};

/// A copy of the signing key (the company imported it when it migrated its old identity
/// provider): tokens minted for each victim, the victim's profile and addresses read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgedTokens {
    /// Victims per second.
    pub per_second: f64,
    /// How long the campaign may last.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Share of all customers the attacker goes after (0–1].
    #[serde(default = "all")]
    pub victims: f64,
    /// Networks the attacker rotates through.
    pub networks: u32,
    /// What it reads of each victim.
    pub reads: Vec<Read>,
    /// It stops after this many refusals in a row.
    pub give_up_after: u32,
    /// Its user agent.
    pub user_agent: String,
}

impl AttackerKind for ForgedTokens {
    fn habits(&self) -> Habits<'_> {
        Habits::new(self.networks, self.give_up_after, &self.user_agent)
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), String> {
        check_paced(self.per_second, self.victims, self.networks)?;
        if self.reads.is_empty() {
            return Err("attacker.reads: name at least one (profile, addresses)".into());
        }
        Ok(())
    }

    fn campaign_seconds(&self) -> f64 {
        self.duration.as_secs_f64()
    }

    fn plan(&self, planning: &mut Planning<'_>) {
        planning.paced_victims(self.victims, self.per_second, self.duration, |index| index);
    }

    fn set_up<'a>(&'a self, driver: &'a mut Driver) -> LocalBoxFuture<'a, Result<(), Error>> {
        Box::pin(import_legacy_key(driver))
    }

    fn play<'a>(
        &'a self,
        driver: &'a mut Driver,
        _scenario: &'a Scenario,
        _plan: &'a Plan,
        step: AttackStep,
        at: Timestamp,
    ) -> LocalBoxFuture<'a, Result<StepResult, Broken>> {
        Box::pin(self.forged_read(driver, step, at))
    }
}

impl ForgedTokens {
    /// Mints a token for the victim with the copied key and reads with it.
    async fn forged_read(
        &self,
        driver: &mut Driver,
        step: AttackStep,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        let victim = step.target;
        let Some((key, kid)) = &driver.legacy_key else {
            return Err(Broken("no legacy key to forge with".into()));
        };
        // The attacker copies issuer and audience from any token it has seen.
        let (issuer, audience) = driver
            .issuer_audience
            .clone()
            .ok_or_else(|| Broken("no token seen to copy the issuer from".into()))?;
        let nonce: [u8; 32] =
            Sha256::digest(format!("forged {victim} {}", at.as_micros()).as_bytes()).into();
        let sid = format!("s_{}", hex::encode(&nonce[..12]));
        let jti = format!("t_{}", hex::encode(&nonce[12..24]));
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        let claims = json!({
            "iss": issuer,
            "aud": audience,
            "sub": format!("customer:{}", driver.customer_id(victim)),
            "sid": sid,
            "jti": jti,
            "iat": at.as_secs(),
            "exp": at.as_secs() + 900,
        });
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|error| Broken(format!("forging a token failed: {error}")))?;
        driver.observed.traits.sessions.insert(sid);
        let paths: Vec<&str> = self
            .reads
            .iter()
            .map(|read| match read {
                Read::Profile => "/v1/customers/me",
                Read::Addresses => "/v1/customers/me/addresses",
            })
            .collect();
        let received =
            read_as_customer(driver, &paths, &token, victim, step, &self.user_agent, at).await?;
        driver.observed.attack_attempts.push((at, received));
        Ok(StepResult {
            received,
            refused: !received,
        })
    }
}

/// The company's old identity-provider key, imported and made the active signing key;
/// the attacker keeps a copy. Random, never derived from anything guessable: on a
/// `--target` server it signs real tokens until the drill revokes it (`Driver::finish`).
async fn import_legacy_key(driver: &mut Driver) -> Result<(), Error> {
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(Error::local("cannot encode the legacy key"))?;
    let (status, body) = driver
        .admin(
            Method::POST,
            "/v1/admin/keys",
            Some(&json!({ "key": pem.as_str(), "activate": true })),
        )
        .await?;
    if !status.is_success() {
        return Err(Error::Target(format!(
            "importing the legacy key failed ({status}): {body}"
        )));
    }
    // On a cluster, every API node signs with it from here on.
    driver.shared_decision_made().await?;
    let keys = driver.admin(Method::GET, "/v1/admin/keys", None).await?.1;
    let kid = keys["keys"]
        .as_array()
        .and_then(|keys| {
            keys.iter()
                .find(|key| key["origin"] == "imported" && key["state"] == "active")
                .or_else(|| keys.iter().find(|key| key["state"] == "active"))
        })
        .and_then(|key| key["kid"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Target(format!("no active key after the import: {keys}")))?;
    let der = key
        .to_pkcs8_der()
        .map_err(Error::local("cannot encode the attacker's copy of the key"))?;
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    driver.legacy_key = Some((encoding, kid));
    Ok(())
}

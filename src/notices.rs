//! The notices in `haechi serve`: the notice key from custody and the company's profile
//! (`[notice]`), for the public check of pasted messages.

use std::sync::Arc;

use anyhow::Context as _;
use haechi_notice::NoticeKey;
use haechi_server::notices::{NoticeDesk, VerifyBudget};
use haechi_smishing::Profile;

use crate::config::{Config, NoticeSection};
use crate::runtime::Runtime;

/// The notice key's name among the wrapped secrets: an HMAC key of its own, which makes
/// nothing but notice codes (made on first use, shared by a cluster's nodes through the store).
pub(crate) const NOTICE_KEY_SECRET: &str = "notice-key";

/// Opens the check: the key, and the profile when `[notice]` names the company.
pub async fn open(config: &Config, runtime: &Runtime) -> anyhow::Result<Arc<NoticeDesk>> {
    let key = runtime
        .authority
        .keys()
        .named_secret(NOTICE_KEY_SECRET)
        .await
        .context("cannot open the notice key")?;
    let budget = budget(&config.notice)?;
    let desk = NoticeDesk::new(
        NoticeKey::from_bytes(&key),
        profile(&config.notice)?,
        budget,
    )
    .context("[notice]: the company's profile for the message check")?;
    Ok(Arc::new(desk))
}

/// The company as the smishing recogniser knows it: its domains (the portal's among them), its
/// names and its numbers; `None` when `[notice]` is not configured.
pub(crate) fn profile(notice: &NoticeSection) -> anyhow::Result<Option<Profile>> {
    if notice.company.is_empty() || notice.portal_origin.is_empty() {
        return Ok(None);
    }
    let host = notice
        .portal_origin
        .trim_start_matches("https://")
        .split([':', '/'])
        .next()
        .unwrap_or_default();
    let portal_domain = haechi_smishing::registrable_domain(host).with_context(|| {
        format!(
            "notice.portal_origin {:?} has no registrable domain",
            notice.portal_origin
        )
    })?;
    let mut company_domains = vec![portal_domain];
    for domain in &notice.company_domains {
        if !company_domains.contains(domain) {
            company_domains.push(domain.clone());
        }
    }
    let brand_names = if notice.brand_names.is_empty() {
        vec![notice.company.clone()]
    } else {
        notice.brand_names.clone()
    };
    Ok(Some(Profile {
        company_domains,
        brand_names,
        callback_numbers: notice.contact_numbers.clone(),
    }))
}

fn budget(notice: &NoticeSection) -> anyhow::Result<VerifyBudget> {
    let verify = &notice.verify;
    for (name, rate) in [
        ("per_source_per_second", verify.per_source_per_second),
        ("global_per_second", verify.global_per_second),
    ] {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("notice.verify.{name} must be a positive number, not {rate}");
        }
    }
    Ok(VerifyBudget {
        per_source_per_second: verify.per_source_per_second,
        burst: f64::from(verify.burst.max(1)),
        global_per_second: verify.global_per_second,
    })
}

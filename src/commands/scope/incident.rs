//! `--incident ID`: the indicators of an incident, read from the store.

use anyhow::Context as _;
use haechi_detect::LinkField;
use haechi_forensics::{IncidentSource, IndicatorKind};
use haechi_incident::{IncidentId, IncidentOrigin};

use crate::commands::block_on;
use crate::config::Config;
use crate::detection::configured_rules;

/// Reads incident `id` from the store and adds the values its alerts were tied by.
pub(super) fn resolve_incident(
    id: &str,
    indicators: &mut haechi_forensics::Indicators,
    config: &Config,
) -> anyhow::Result<IncidentSource> {
    let id = IncidentId::parse(id)?;
    let incident = block_on(async {
        let backend = crate::backends::Backend::open(config).await?;
        let found = backend.store().incident(&id).await?;
        anyhow::Ok(found)
    })??
    .with_context(|| format!("--incident: no incident {id}"))?;
    if let IncidentOrigin::Imported { .. } = incident.origin {
        anyhow::bail!(
            "--incident {id} was imported from a list of customers: that list is its scope              (haechi incident show {id} --customers)"
        );
    }
    let rules = configured_rules(config, &[]).rules;
    let mut fields: Vec<LinkField> = incident
        .rules
        .iter()
        .filter_map(|rule_id| rules.iter().find(|rule| rule.id() == rule_id))
        .flat_map(|rule| rule.incident_links().correlate.clone())
        .collect();
    if fields.is_empty() {
        // Rules no longer loaded: the attacker's key and addresses are what tie a campaign.
        fields = vec![LinkField::Kid, LinkField::Ip];
    }
    fields.sort();
    fields.dedup();
    let mut unlisted = 0;
    for field in &fields {
        let (kind, values) = match field {
            LinkField::Kid => (IndicatorKind::Kid, &incident.indicators.signing_keys),
            LinkField::Ip => (IndicatorKind::Ip, &incident.indicators.networks),
            LinkField::UserAgent => (IndicatorKind::UserAgent, &incident.indicators.user_agents),
            LinkField::Sid => (IndicatorKind::Sid, &incident.indicators.sessions),
            LinkField::Principal => (IndicatorKind::Principal, &incident.indicators.principals),
        };
        for value in &values.values {
            indicators.add(kind, value)?;
        }
        unlisted += values.unlisted;
    }
    if unlisted > 0 {
        eprintln!(
            "note: incident {id} counted {unlisted} more values than it lists; the scope uses              the listed ones"
        );
    }
    Ok(IncidentSource {
        id: id.to_string(),
        correlated_on: fields
            .iter()
            .map(|field| field.name().to_string())
            .collect(),
        unlisted,
    })
}

//! Reading Sigma documents as far as resolving references needs: kind, `id`, `name`, keys,
//! and which base rules each correlation names.

use std::collections::BTreeMap;

use super::{BASE_KEYS, COMMON_KEYS, MAX_REFERENCED_RULES, STATUSES};
use crate::rule::readable_id;
use crate::yaml::{Map, Node, Problem};

/// One Sigma document, read as far as resolving references needs.
pub(super) struct Document<'a> {
    pub(super) map: Map<'a>,
    /// The readable name (the Haechi rule id), when given.
    pub(super) name: Option<String>,
    /// The Sigma UUID.
    pub(super) sigma_id: String,
    /// `correlation:` of a correlation rule.
    pub(super) correlation: Option<Map<'a>>,
}

/// Reads a document's kind, `id`, `name` and keys.
pub(super) fn read_document(node: &Node) -> Result<Document<'_>, (Option<String>, Problem)> {
    let map = Map::of(node, "a Sigma rule").map_err(|problem| (None, problem))?;
    let name = map
        .get("name")
        .map(|node| readable_id(node, "`name`"))
        .transpose()
        .map_err(|problem| (None, problem))?;
    let with_name = |problem| (name.clone(), problem);
    let id_node = map.require("id", "a Sigma rule").map_err(with_name)?;
    let sigma_id = sigma_uuid(id_node).map_err(with_name)?;
    let correlation = match map.get("correlation") {
        None => None,
        Some(node) => Some(Map::of(node, "`correlation`").map_err(with_name)?),
    };
    let own_keys = if correlation.is_some() {
        &["correlation"][..]
    } else {
        BASE_KEYS
    };
    let allowed: Vec<&str> = COMMON_KEYS.iter().chain(own_keys).copied().collect();
    map.only(
        &allowed,
        "a Sigma rule (Haechi's own attributes go under `haechi:`)",
    )
    .map_err(with_name)?;
    if let Some(node) = map.get("status") {
        let status = node.text("`status`").map_err(with_name)?;
        if !STATUSES.contains(&status) {
            return Err(with_name(Problem::at(
                node,
                format!(
                    "unknown `status` {status:?}; known: {}",
                    STATUSES.join(", ")
                ),
            )));
        }
    }
    Ok(Document {
        map,
        name,
        sigma_id,
        correlation,
    })
}

/// A Sigma `id`: a UUID in its hyphenated form.
fn sigma_uuid(node: &Node) -> Result<String, Problem> {
    let text = node.scalar_text().unwrap_or_default();
    match uuid::Uuid::try_parse(&text) {
        Ok(uuid) if text.len() == uuid::fmt::Hyphenated::LENGTH => Ok(uuid.to_string()),
        _ => Err(Problem::at(
            node,
            "a Sigma `id` is a UUID such as 3c0f6f0e-5b55-4a39-9a1c-0d3e1f2b7a41 (the readable \
             rule id goes in `name`)",
        )),
    }
}

/// Every base rule's `name` and `id`, to the document's index.
pub(super) fn reference_index<'a>(
    documents: &'a [Option<Document<'a>>],
) -> BTreeMap<&'a str, usize> {
    let mut index = BTreeMap::new();
    for (position, document) in documents.iter().enumerate() {
        let Some(document) = document else { continue };
        if let Some(name) = &document.name {
            index.insert(name.as_str(), position);
        }
        index.insert(document.sigma_id.as_str(), position);
    }
    index
}

/// The base rules a correlation's `rules:` names, as document indexes.
pub(super) fn resolve(
    correlation: Map<'_>,
    references: &BTreeMap<&str, usize>,
    documents: &[Option<Document<'_>>],
) -> Result<Vec<usize>, Problem> {
    if let Some(node) = correlation.get("aliases") {
        return Err(Problem::at(
            node,
            "`aliases` is not supported: the base rules of Haechi's audit stream share field \
             names, so `group-by` names the field itself",
        ));
    }
    let node = correlation.require("rules", "`correlation`")?;
    let items = node.text_list("`rules`")?;
    if items.is_empty() || items.len() > MAX_REFERENCED_RULES {
        return Err(Problem::at(
            node,
            format!("`rules` names 1 to {MAX_REFERENCED_RULES} base rules"),
        ));
    }
    let mut bases = Vec::new();
    for (item, reference) in items {
        let Some(&index) = references.get(reference) else {
            return Err(Problem::at(
                item,
                format!(
                    "no base rule of this file has the name or id {reference:?} (or it did not \
                     load: see its own error)"
                ),
            ));
        };
        if documents[index]
            .as_ref()
            .is_some_and(|document| document.correlation.is_some())
        {
            return Err(Problem::at(
                item,
                format!("{reference:?} is a correlation rule; Haechi correlates base rules only"),
            ));
        }
        bases.push(index);
    }
    Ok(bases)
}

//! Rule files in Sigma v2 (<https://sigmahq.io/sigma-specification/>): base rules (with a
//! `logsource`), correlation rules (with `correlation.rules`), and what Sigma has no words for
//! (first-seen, baselines, absence, shares, state lookups, cooldown, incident links, response)
//! under the custom attribute `haechi:`, which Sigma tools keep and ignore.
//!
//! A base rule that a correlation names selects events for it and does not alert by itself
//! (Sigma's default, `generate: false`); every other base rule, and every correlation rule, is
//! one Haechi [`Rule`] whose id is its Sigma `name`. A correlation names base rules of its own
//! file, by `name` or `id`. Everything is then checked by the same code as Haechi's own format
//! ([`crate::rule::assemble`]), so both formats mean exactly the same.

use crate::detection::{Condition, Detection};
use crate::fields::Field;
use crate::rule::{Metadata, Parts, Rule, assemble, parse_severity, required_text};
use crate::yaml::{Map, Node, Problem, Value};

mod documents;

use documents::{Document, read_document, reference_index, resolve};

/// The `logsource.product` of Haechi's audit stream.
pub const LOGSOURCE_PRODUCT: &str = "haechi";
/// The `logsource.service` of Haechi's audit stream.
pub const LOGSOURCE_SERVICE: &str = "audit";

/// Keys every Sigma document may have (Sigma's metadata, and `haechi:`).
const COMMON_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "author",
    "date",
    "modified",
    "references",
    "tags",
    "license",
    "related",
    "taxonomy",
    "fields",
    "falsepositives",
    "level",
    "haechi",
];
/// Keys only a base rule has.
const BASE_KEYS: &[&str] = &["logsource", "detection", "scope"];
/// `haechi:` of a base rule that alerts.
const HAECHI_ALERTING_BASE_KEYS: &[&str] = &[
    "group-by",
    "cooldown",
    "where",
    "correlation",
    "incident",
    "response",
];
/// `haechi:` of a base rule a correlation names: only what narrows the events it selects.
const HAECHI_FEEDING_BASE_KEYS: &[&str] = &["where"];
/// `haechi:` of a correlation rule.
const HAECHI_CORRELATION_KEYS: &[&str] = &["cooldown", "correlation", "incident", "response"];
/// `haechi.correlation:` of a correlation rule: Haechi's additions to Sigma's types.
const CORRELATION_EXTRA_KEYS: &[&str] = &["max_groups", "probation", "retention"];
/// The correlation types Sigma defines that Haechi evaluates.
const SIGMA_TYPES: &[&str] = &["event_count", "value_count", "temporal_ordered"];
/// Sigma's `correlation:` keys that Haechi resolves here rather than in the correlation parser.
const REFERENCE_KEYS: &[&str] = &["rules", "generate", "aliases"];
/// Sigma's rule statuses.
const STATUSES: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];
/// The most base rules one correlation may name.
const MAX_REFERENCED_RULES: usize = 8;

/// A parsed rule, or the problem with it and the rule's id when it was readable.
pub(crate) type Outcome = Result<Rule, (Option<String>, Problem)>;

/// Whether a document is Sigma: it has a `logsource` (a base rule) or a `correlation` that
/// names `rules` (a correlation rule). Haechi's own format has neither.
pub(crate) fn is_sigma(node: &Node) -> bool {
    let Ok(map) = Map::of(node, "a rule") else {
        return false;
    };
    map.get("logsource").is_some()
        || map
            .get("correlation")
            .and_then(|node| Map::of(node, "`correlation`").ok())
            .is_some_and(|correlation| correlation.get("rules").is_some())
}

/// A base rule's compiled detection.
struct Base<'a> {
    detection: Detection,
    condition: Condition,
    fields: Vec<Field>,
    haechi: Option<Map<'a>>,
}

/// Parses a file's Sigma documents into rules: one per alerting base rule and one per
/// correlation rule, in document order.
pub(crate) fn parse_file(file: &str, nodes: &[&Node]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let documents: Vec<Option<Document<'_>>> = nodes
        .iter()
        .map(|node| match read_document(node) {
            Ok(document) => Some(document),
            Err(error) => {
                outcomes.push(Err(error));
                None
            }
        })
        .collect();
    let references = reference_index(&documents);

    // Which base rules each correlation names, and which base rules only feed correlations.
    let mut named: Vec<Option<Result<Vec<usize>, Problem>>> = Vec::new();
    let mut feeds = vec![false; documents.len()];
    for document in &documents {
        let Some(correlation) = document.as_ref().and_then(|document| document.correlation) else {
            named.push(None);
            continue;
        };
        let resolved = resolve(correlation, &references, &documents);
        if let Ok(bases) = &resolved {
            let generate = match correlation.get("generate") {
                None => Ok(false),
                Some(node) => node.boolean("`generate`"),
            };
            if !generate.unwrap_or(false) {
                for &base in bases {
                    feeds[base] = true;
                }
            }
        }
        named.push(Some(resolved));
    }

    let bases: Vec<Option<Result<Base<'_>, Problem>>> = documents
        .iter()
        .zip(&feeds)
        .map(|(document, &feeds)| {
            let document = document.as_ref()?;
            document
                .correlation
                .is_none()
                .then(|| parse_base(document, feeds))
        })
        .collect();

    for (index, document) in documents.iter().enumerate() {
        let Some(document) = document else { continue };
        let rule_id = document.name.clone();
        let outcome = match (&named[index], &bases[index]) {
            (Some(resolved), _) => {
                correlation_rule(file, nodes[index], document, resolved.as_ref(), &bases)
            }
            (None, Some(Err(problem))) => Err(problem.clone()),
            (None, Some(Ok(_))) if feeds[index] => continue,
            (None, Some(Ok(base))) => alerting_base(file, nodes[index], document, base),
            (None, None) => continue,
        };
        outcomes.push(outcome.map_err(|problem| (rule_id, problem)));
    }
    outcomes
}

/// A base rule's `logsource`, detection, condition, `haechi.where` and `fields`.
fn parse_base<'a>(document: &Document<'a>, feeds: bool) -> Result<Base<'a>, Problem> {
    let map = document.map;
    check_logsource(map.require("logsource", "a Sigma base rule")?)?;
    let haechi = haechi_attribute(map)?;
    if let Some(haechi) = haechi {
        if feeds {
            haechi.only(
                HAECHI_FEEDING_BASE_KEYS,
                "`haechi` of a base rule a correlation names (it does not alert by itself)",
            )?;
        } else {
            haechi.only(HAECHI_ALERTING_BASE_KEYS, "`haechi` of a base rule")?;
        }
    }
    let detection_node = map.require("detection", "a Sigma base rule")?;
    let detection_map = Map::of(detection_node, "`detection`")?;
    refuse_lookups(detection_map)?;
    let mut detection = Detection::parse(detection_map)?;
    let condition_node = detection_map.require("condition", "`detection`")?;
    let mut condition = detection.compile(condition_node, "`condition`")?;
    if let Some(node) = haechi.and_then(|haechi| haechi.get("where")) {
        condition = detection.restrict(condition, "haechi.where", node)?;
    }
    Ok(Base {
        detection,
        condition,
        fields: context_fields(map)?,
        haechi,
    })
}

/// `logsource: {product: haechi, service: audit}`: the only log Haechi's rules read.
fn check_logsource(node: &Node) -> Result<(), Problem> {
    let map = Map::of(node, "`logsource`")?;
    map.only(&["product", "service", "definition"], "`logsource`")?;
    for (key, expected) in [
        ("product", LOGSOURCE_PRODUCT),
        ("service", LOGSOURCE_SERVICE),
    ] {
        let value = map.require(key, "`logsource`")?;
        if value.text(&format!("`logsource.{key}`"))? != expected {
            return Err(Problem::at(
                value,
                format!(
                    "Haechi evaluates its own audit stream: `logsource` is {{product: \
                     {LOGSOURCE_PRODUCT}, service: {LOGSOURCE_SERVICE}}}"
                ),
            ));
        }
    }
    if let Some(definition) = map.get("definition") {
        definition.text("`logsource.definition`")?;
    }
    Ok(())
}

/// Lookups of Haechi's state (`state.*`) are not fields of the event: Sigma tools would look
/// for them in the record and never match. Sigma rules put them under `haechi.where`.
fn refuse_lookups(detection: Map<'_>) -> Result<(), Problem> {
    for (key, selection) in detection.entries {
        if key.text == "condition" {
            continue;
        }
        for conjunction in selection.items() {
            let Value::Mapping(tests) = &conjunction.value else {
                continue;
            };
            for (test, _) in tests {
                let name = test.text.split('|').next().unwrap_or_default();
                if Field::parse(name).is_ok_and(|field| field.is_lookup()) {
                    return Err(Problem::at_key(
                        test,
                        format!(
                            "`{name}` is a lookup of Haechi's state, not a field of the event \
                             (Sigma tools would look for it in the record): put it under \
                             `haechi.where`"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The `haechi:` custom attribute, when present.
fn haechi_attribute<'a>(map: Map<'a>) -> Result<Option<Map<'a>>, Problem> {
    map.get("haechi")
        .map(|node| Map::of(node, "`haechi`"))
        .transpose()
}

/// The rule's `fields`: the context its alerts carry.
fn context_fields(map: Map<'_>) -> Result<Vec<Field>, Problem> {
    let Some(node) = map.get("fields") else {
        return Ok(Vec::new());
    };
    node.text_list("`fields`")?
        .into_iter()
        .map(|(item, name)| Field::parse(name).map_err(|message| Problem::at(item, message)))
        .collect()
}

/// What an alerting Sigma rule says about itself: `title`, `description`, `falsepositives`
/// (a list, joined by line breaks) and a `level` Haechi alerts at.
fn metadata(document: &Document<'_>, context_fields: Vec<Field>) -> Result<Metadata, Problem> {
    let map = document.map;
    let title = required_text(map, "title")?;
    let description = required_text(map, "description")?;
    let node = map.require("falsepositives", "a Sigma rule that alerts")?;
    let false_positives = match &node.value {
        Value::String(text) => text.trim().to_string(),
        _ => node
            .text_list("`falsepositives`")?
            .into_iter()
            .map(|(_, text)| text.trim())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if false_positives.is_empty() {
        return Err(Problem::at(node, "`falsepositives` is empty"));
    }
    let level = map.require("level", "a Sigma rule that alerts")?;
    if level.text("`level`")? == "informational" {
        return Err(Problem::at(
            level,
            "a correlation rule alerts: its `level` is low, medium, high or critical",
        ));
    }
    for key in ["author", "date", "modified", "license"] {
        if let Some(node) = map.get(key) {
            node.text(&format!("`{key}`"))?;
        }
    }
    for key in ["references", "tags"] {
        if let Some(node) = map.get(key) {
            node.text_list(&format!("`{key}`"))?;
        }
    }
    Ok(Metadata {
        title,
        description,
        severity: parse_severity(level, "`level`")?,
        false_positives,
        context_fields,
    })
}

/// The readable id an alerting rule is known by.
fn alerting_name(document: &Document<'_>) -> Result<String, Problem> {
    document.name.clone().ok_or_else(|| {
        Problem::at(
            document.map.node,
            "a Sigma rule that alerts needs a `name`: Haechi's alerts, incidents and APIs know \
             the rule by it",
        )
    })
}

/// A base rule no correlation names: a single-event rule, or one of Haechi's own correlation
/// types under `haechi.correlation`.
fn alerting_base(
    file: &str,
    root: &Node,
    document: &Document<'_>,
    base: &Base<'_>,
) -> Result<Rule, Problem> {
    if document
        .map
        .get("level")
        .is_some_and(|level| level.value == Value::String("informational".into()))
    {
        return Err(Problem::at(
            document.map.node,
            "no correlation rule of this file names this base rule, and an `informational` \
             rule does not alert by itself: name it in a correlation's `rules` (or give it a \
             level low to critical)",
        ));
    }
    let id = alerting_name(document)?;
    let haechi = base.haechi;
    let attribute = |key: &str| haechi.and_then(|haechi| haechi.get(key));
    let correlation = match attribute("correlation") {
        None => None,
        Some(node) => {
            let map = Map::of(node, "`haechi.correlation`")?;
            let kind = map.require("type", "`haechi.correlation`")?;
            if SIGMA_TYPES.contains(&kind.text("`haechi.correlation.type`")?) {
                return Err(Problem::at(
                    kind,
                    "this is a Sigma correlation type: write a correlation rule that names this \
                     rule in `correlation.rules`",
                ));
            }
            Some(map)
        }
    };
    assemble(
        file,
        Parts {
            id,
            sigma_id: Some(document.sigma_id.clone()),
            line: root.position.line,
            metadata: metadata(document, base.fields.clone())?,
            detection: base.detection.clone(),
            condition: Some(base.condition.clone()),
            steps: None,
            correlation,
            group_by: attribute("group-by"),
            cooldown: attribute("cooldown"),
            response: attribute("response"),
            incident: attribute("incident"),
        },
    )
}

/// A Sigma correlation rule over the base rules it names, with Haechi's additions.
fn correlation_rule(
    file: &str,
    root: &Node,
    document: &Document<'_>,
    resolved: Result<&Vec<usize>, &Problem>,
    bases: &[Option<Result<Base<'_>, Problem>>],
) -> Result<Rule, Problem> {
    let id = alerting_name(document)?;
    let bases_named = resolved.map_err(Clone::clone)?;
    let map = document.map;
    let Some(correlation) = document.correlation else {
        return Err(Problem::at(
            map.node,
            "a correlation rule needs `correlation`",
        ));
    };
    let kind = correlation.require("type", "`correlation`")?;
    let kind_text = kind.text("`correlation.type`")?;
    if !SIGMA_TYPES.contains(&kind_text) {
        return Err(Problem::at(
            kind,
            format!(
                "Haechi evaluates the Sigma correlation types {}; its own types (first_seen, \
                 volume_baseline, absence, share) go under `haechi.correlation` of a base rule",
                SIGMA_TYPES.join(", ")
            ),
        ));
    }
    let haechi = haechi_attribute(map)?;
    if let Some(haechi) = haechi {
        haechi.only(HAECHI_CORRELATION_KEYS, "`haechi` of a correlation rule")?;
    }
    let attribute = |key: &str| haechi.and_then(|haechi| haechi.get(key));

    let mut parts = Vec::new();
    let mut fields = context_fields(map)?;
    let inherit_fields = map.get("fields").is_none();
    for &index in bases_named {
        match &bases[index] {
            Some(Ok(base)) => {
                parts.push((base.detection.clone(), base.condition.clone()));
                if inherit_fields {
                    for field in &base.fields {
                        if !fields.contains(field) {
                            fields.push(field.clone());
                        }
                    }
                }
            }
            _ => {
                return Err(Problem::at(
                    correlation.require("rules", "`correlation`")?,
                    "a base rule it names did not load (see its own error)",
                ));
            }
        }
    }
    let (detection, conditions) = Detection::join(parts);
    let (condition, steps) = if kind_text == "temporal_ordered" {
        (None, Some(conditions))
    } else if conditions.len() == 1 {
        (conditions.into_iter().next(), None)
    } else {
        (Some(Condition::Or(conditions)), None)
    };
    let merged = merged_correlation(correlation, attribute("correlation"))?;
    assemble(
        file,
        Parts {
            id,
            sigma_id: Some(document.sigma_id.clone()),
            line: root.position.line,
            metadata: metadata(document, fields)?,
            detection,
            condition,
            steps,
            correlation: Some(Map::of(&merged, "`correlation`")?),
            group_by: None,
            cooldown: attribute("cooldown"),
            response: attribute("response"),
            incident: attribute("incident"),
        },
    )
}

/// Sigma's `correlation:` without the references resolved here, plus `haechi.correlation`'s
/// additions (`max_groups`, `probation`, `retention`), as one mapping for the correlation
/// parser. Nodes keep their positions, so errors point into the file.
fn merged_correlation(correlation: Map<'_>, extra: Option<&Node>) -> Result<Node, Problem> {
    let mut entries: Vec<_> = correlation
        .entries
        .iter()
        .filter(|(key, _)| !REFERENCE_KEYS.contains(&key.text.as_str()))
        .cloned()
        .collect();
    if let Some(node) = extra {
        let extra = Map::of(node, "`haechi.correlation`")?;
        extra.only(
            CORRELATION_EXTRA_KEYS,
            "`haechi.correlation` of a correlation rule",
        )?;
        entries.extend(extra.entries.iter().cloned());
    }
    Ok(Node {
        position: correlation.node.position,
        value: Value::Mapping(entries),
    })
}

//! What templates see: statements and exposure reports turned into words of the page's
//! language, times in Korean time, paragraphs split. Nothing here is HTML: the templates
//! escape everything they print.

use haechi_events::Timestamp;
use haechi_incident::{IncidentStatement, paragraphs};
use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use crate::exposures::ExposureReport;
use crate::words::{Lang, word};

/// A statement as the pages show it.
#[derive(Debug, Serialize)]
pub(crate) struct StatementView {
    incident_id: String,
    version: u32,
    published: String,
    title: String,
    paragraphs: Vec<String>,
    faq: Vec<FaqView>,
    key_id: String,
}

#[derive(Debug, Serialize)]
struct FaqView {
    question: String,
    answer: Vec<String>,
}

impl StatementView {
    pub(crate) fn new(statement: &IncidentStatement, lang: Lang) -> Self {
        let text = statement.text(lang == Lang::En);
        StatementView {
            incident_id: statement.incident_id.to_string(),
            version: statement.version,
            published: korean_time(statement.published_at),
            title: text.title.clone(),
            paragraphs: text.paragraphs(),
            faq: text
                .faq
                .iter()
                .map(|entry| FaqView {
                    question: entry.question.clone(),
                    answer: paragraphs(&entry.answer),
                })
                .collect(),
            key_id: statement.key_id.clone(),
        }
    }
}

/// The signed-in view.
#[derive(Debug, Serialize)]
pub(crate) struct ReportView {
    exposed: Vec<FieldView>,
    not_exposed: Vec<FieldView>,
    incidents: Vec<IncidentView>,
}

#[derive(Debug, Serialize)]
struct FieldView {
    name: String,
    label: String,
}

#[derive(Debug, Serialize)]
struct IncidentView {
    id: String,
    title: String,
    state: String,
    fields: Vec<FieldView>,
    from: Option<String>,
    to: Option<String>,
    reads: u64,
    contained_at: Option<String>,
    measures: Vec<MeasureView>,
}

#[derive(Debug, Serialize)]
struct MeasureView {
    label: String,
    count: u64,
    first_at: String,
}

impl ReportView {
    pub(crate) fn new(report: &ExposureReport, lang: Lang) -> Self {
        let fields = |names: &[String]| -> Vec<FieldView> {
            names
                .iter()
                .map(|name| FieldView {
                    name: name.clone(),
                    label: word(lang, &format!("field_{name}")),
                })
                .collect()
        };
        ReportView {
            exposed: fields(&report.exposed),
            not_exposed: fields(&report.not_exposed),
            incidents: report
                .incidents
                .iter()
                .map(|incident| IncidentView {
                    id: incident.incident_id.to_string(),
                    title: incident.title.clone(),
                    state: word(lang, &format!("state_{}", incident.state.as_str())),
                    fields: fields(&incident.fields),
                    from: incident.first_seen.map(korean_time),
                    to: incident.last_seen.map(korean_time),
                    reads: incident.reads,
                    contained_at: incident.contained_at.map(korean_time),
                    measures: incident
                        .measures
                        .iter()
                        .map(|measure| MeasureView {
                            label: word(lang, &format!("measure_{}", measure.kind)),
                            count: measure.count,
                            first_at: korean_time(measure.first_at),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `2025-06-11 10:00 KST`: the time people in Korea read the notice in.
pub(crate) fn korean_time(at: Timestamp) -> String {
    let kst = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let instant = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_micros()) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(kst);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} KST",
        instant.year(),
        u8::from(instant.month()),
        instant.day(),
        instant.hour(),
        instant.minute()
    )
}

//! The report as one HTML page for people: Korean first with English beside, every status,
//! finding and gap shown (nothing folded away, so print shows all), figures inline, no script
//! and nothing loaded from anywhere.

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::report::{
    EvidenceReport, Figure, FindingSeverity, MonthlyReviewEntry, ReportPeriod, Requirement,
    RequirementAttributes, ReviewAcknowledgement, Status, Table,
};

/// The page's template, compiled into the binary so the report renders anywhere.
const TEMPLATE: &str = include_str!("../../templates/report.html");
const TEMPLATE_NAME: &str = "report.html";

/// The report as one self-contained HTML page.
///
/// Every value from the report is HTML-escaped, except the figures' SVG, which is Haechi's own
/// drawing and goes in as markup once it is checked to hold only the elements
/// [`super::charts`] draws. Fails only on a template bug (the tests render the page) or a
/// figure that holds anything else.
pub fn render_html(report: &EvidenceReport) -> Result<String, crate::Error> {
    for figure in &report.figures {
        check_figure(figure)?;
    }
    let mut environment = Environment::new();
    // Every value printed is HTML-escaped; only `|safe` (the figures) opts out.
    environment.set_auto_escape_callback(|_| AutoEscape::Html);
    // A misspelt field fails the render (and the tests) instead of printing nothing.
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment
        .add_template(TEMPLATE_NAME, TEMPLATE)
        .map_err(render_error)?;
    let template = environment
        .get_template(TEMPLATE_NAME)
        .map_err(render_error)?;
    template
        .render(Serde(Page::new(report)))
        .map_err(render_error)
}

fn render_error(error: minijinja::Error) -> crate::Error {
    crate::Error::Render(error.to_string())
}

/// The elements the charts draw. The SVG goes into the page unescaped, so a figure from a
/// tampered JSON file must not bring a `<script>`, a `<style>` that hides the gaps, or a link;
/// the page's Content-Security-Policy stops scripts and loads as a second line.
const FIGURE_ELEMENTS: &[&str] = &[
    "svg", "title", "desc", "g", "rect", "line", "polyline", "polygon", "path", "circle", "text",
    "tspan",
];

/// Refuses a figure whose SVG is not one `<svg>` element made only of [`FIGURE_ELEMENTS`].
/// Text in the charts is always escaped, so every `<` starts a tag.
/// Whether a tag's attributes only draw: no style (which could hide the page's gaps), no
/// handler, no link. The charts write presentation attributes only.
fn presentational(attributes: &str) -> bool {
    attributes
        .split(|character: char| character.is_ascii_whitespace())
        .filter_map(|attribute| attribute.split('=').next())
        .map(str::to_ascii_lowercase)
        .all(|name| {
            !(name == "style" || name.starts_with("on") || name.contains("href") || name == "src")
        })
}

fn check_figure(figure: &Figure) -> Result<(), crate::Error> {
    let svg = figure.svg.trim();
    let drawn_here = svg.starts_with("<svg")
        && svg.ends_with("</svg>")
        && svg.split('<').skip(1).all(|tag| {
            let tag = tag.strip_prefix('/').unwrap_or(tag);
            let name_length = tag
                .find(|character: char| !character.is_ascii_alphanumeric())
                .unwrap_or(tag.len());
            let (name, after) = tag.split_at(name_length);
            FIGURE_ELEMENTS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(name))
                && after.starts_with(|character: char| {
                    character.is_ascii_whitespace() || character == '/' || character == '>'
                })
                && presentational(after.split('>').next().unwrap_or_default())
        });
    if drawn_here {
        Ok(())
    } else {
        Err(crate::Error::Render(format!(
            "figure {:?}: its SVG holds markup the report does not draw",
            figure.id
        )))
    }
}

/// What the template shows: the report's values with the words and classes of each status
/// decided here, where a new status or severity cannot be forgotten (the matches are
/// exhaustive).
#[derive(Serialize)]
struct Page<'a> {
    format: &'a str,
    framework: &'a str,
    organisation: &'a str,
    period: &'a ReportPeriod,
    generated_at: &'a str,
    generated_by: &'a str,
    trail: &'a crate::report::TrailHead,
    summary: [StatusCount; 4],
    requirements: Vec<RequirementView<'a>>,
    figures: &'a [Figure],
    reviews: Vec<ReviewView<'a>>,
}

/// A status or severity as drawn: its CSS class and its words.
#[derive(Serialize)]
struct Badge {
    class: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct StatusCount {
    badge: Badge,
    count: u32,
}

#[derive(Serialize)]
struct RequirementView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    attributes: &'a RequirementAttributes,
    status: Badge,
    status_reason: &'a str,
    assessment_date: &'a str,
    evidence: Vec<EvidenceView<'a>>,
    findings: Vec<FindingView<'a>>,
}

/// An evidence item with its absent parts as `none` (the JSON leaves them out, which the
/// strict template would take for a mistake).
#[derive(Serialize)]
struct EvidenceView<'a> {
    title: &'a str,
    text: Option<&'a str>,
    table: Option<&'a Table>,
    source: &'a str,
}

#[derive(Serialize)]
struct FindingView<'a> {
    severity: Badge,
    text: &'a str,
}

#[derive(Serialize)]
struct ReviewView<'a> {
    month: &'a str,
    accesses: String,
    principals: String,
    bulk_reads: String,
    alerts: String,
    closed: bool,
    acknowledged: Option<&'a ReviewAcknowledgement>,
    digest: &'a str,
    digest_prefix: &'a str,
    /// The review job recorded another summary when the month ended.
    differs_from_prepared: bool,
}

impl<'a> Page<'a> {
    fn new(report: &'a EvidenceReport) -> Page<'a> {
        let summary = &report.summary;
        Page {
            format: &report.format,
            framework: &report.framework,
            organisation: &report.organisation,
            period: &report.period,
            generated_at: &report.generated_at,
            generated_by: &report.generated_by,
            trail: &report.trail,
            summary: [
                (Status::Met, summary.met),
                (Status::Partly, summary.partly),
                (Status::NotMet, summary.not_met),
                (Status::NotApplicable, summary.not_applicable),
            ]
            .map(|(status, count)| StatusCount {
                badge: status_badge(status),
                count,
            }),
            requirements: report
                .requirements
                .iter()
                .map(RequirementView::new)
                .collect(),
            figures: &report.figures,
            reviews: report.reviews.iter().map(ReviewView::new).collect(),
        }
    }
}

impl<'a> RequirementView<'a> {
    fn new(requirement: &'a Requirement) -> RequirementView<'a> {
        RequirementView {
            id: &requirement.id,
            name: &requirement.name,
            description: &requirement.description,
            attributes: &requirement.attributes,
            status: status_badge(requirement.status),
            status_reason: &requirement.status_reason,
            assessment_date: &requirement.assessment_date,
            evidence: requirement
                .evidence
                .iter()
                .map(|item| EvidenceView {
                    title: &item.title,
                    text: item.text.as_deref(),
                    table: item.table.as_ref(),
                    source: &item.source,
                })
                .collect(),
            findings: requirement
                .findings
                .iter()
                .map(|finding| FindingView {
                    severity: severity_badge(finding.severity),
                    text: &finding.text,
                })
                .collect(),
        }
    }
}

impl<'a> ReviewView<'a> {
    fn new(review: &'a MonthlyReviewEntry) -> ReviewView<'a> {
        ReviewView {
            month: &review.month,
            accesses: grouped(review.accesses),
            principals: grouped(review.principals),
            bulk_reads: grouped(review.bulk_reads),
            alerts: grouped(review.alerts),
            closed: review.closed,
            acknowledged: review.acknowledged.as_ref(),
            digest: &review.digest,
            // Sixteen hex digits tell months apart at a glance; the full digest is the title.
            digest_prefix: review.digest.get(..16).unwrap_or(&review.digest),
            differs_from_prepared: review
                .prepared_digest
                .as_ref()
                .is_some_and(|prepared| *prepared != review.digest),
        }
    }
}

fn status_badge(status: Status) -> Badge {
    let label = match status {
        Status::Met => "충족 / met",
        Status::Partly => "부분 충족 / partly met",
        Status::NotMet => "미충족 / not met",
        Status::NotApplicable => "해당 없음 / not applicable",
    };
    Badge {
        class: status.as_str(),
        label,
    }
}

fn severity_badge(severity: FindingSeverity) -> Badge {
    let (class, label) = match severity {
        FindingSeverity::Failure => ("failure", "결함 / failure"),
        FindingSeverity::Gap => ("gap", "미비 / gap"),
        FindingSeverity::Note => ("note", "참고 / note"),
    };
    Badge { class, label }
}

/// A count with thousands separators (`12,345`).
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::charts::{Bar, Limit, Series, horizontal_bars, volume_lines};
    use crate::report::{EvidenceItem, Finding, REPORT_FORMAT, StatusCounts};

    fn attributes() -> RequirementAttributes {
        RequirementAttributes {
            domain: "2. 보호대책 요구사항".to_owned(),
            subdomain: "2.5. 인증 및 권한관리".to_owned(),
            section: "2.5.1 사용자 계정 관리".to_owned(),
            audit_checklist: vec!["계정 발급 절차가 있는가?".to_owned()],
            related_regulations: vec!["안전성 확보조치 기준 제5조".to_owned()],
            audit_evidence: vec![],
            non_compliance_cases: vec![],
        }
    }

    fn requirement(id: &str, status: Status, findings: Vec<Finding>) -> Requirement {
        Requirement {
            id: id.to_owned(),
            name: format!("통제 {id} / control {id}"),
            description: "무엇을 요구하는가".to_owned(),
            attributes: attributes(),
            status,
            status_reason: format!("{id} 판단 근거"),
            assessment_date: "2024-07-01T00:00:00Z".to_owned(),
            evidence: vec![
                EvidenceItem {
                    title: "계정 목록 / accounts".to_owned(),
                    text: None,
                    table: Some(Table {
                        columns: vec!["계정 / account".to_owned(), "역할 / role".to_owned()],
                        rows: vec![vec!["admin:kim".to_owned(), "admin".to_owned()]],
                        rows_omitted: 42,
                    }),
                    source: "store: clients".to_owned(),
                },
                EvidenceItem {
                    title: "설정 / configuration".to_owned(),
                    text: Some("잠금 5회 / lockout after 5".to_owned()),
                    table: None,
                    source: "configuration".to_owned(),
                },
            ],
            findings,
        }
    }

    fn report() -> EvidenceReport {
        let requirements = vec![
            requirement("2.5.1", Status::Met, vec![]),
            requirement(
                "2.9.4",
                Status::NotMet,
                vec![Finding {
                    severity: FindingSeverity::Failure,
                    text: "<script>alert(1)</script>".to_owned(),
                }],
            ),
        ];
        EvidenceReport {
            format: REPORT_FORMAT.to_owned(),
            framework: "ISMS-P 2023".to_owned(),
            organisation: "해치 주식회사 & Co".to_owned(),
            period: ReportPeriod {
                from: "2024-04-01".to_owned(),
                to: "2024-06-30".to_owned(),
            },
            generated_at: "2024-07-01T00:00:00Z".to_owned(),
            generated_by: "operator".to_owned(),
            trail: crate::report::TrailHead {
                records: 12_345,
                last_seq: 12_345,
                last_signed_seq: 12_340,
            },
            summary: StatusCounts::of(&requirements),
            requirements,
            figures: vec![
                Figure {
                    id: "access-volume".to_owned(),
                    title: "주체별 접근량 / access volume".to_owned(),
                    svg: volume_lines(
                        &[Series {
                            name: "svc".to_owned(),
                            values: vec![1, 4],
                        }],
                        &["2024-04-01".to_owned(), "2024-04-02".to_owned()],
                    ),
                },
                Figure {
                    id: "key-ages".to_owned(),
                    title: "키 사용 기간 / key ages".to_owned(),
                    svg: horizontal_bars(
                        &[Bar {
                            label: "k1".to_owned(),
                            value: 120.0,
                            over_limit: true,
                        }],
                        "일",
                        Some(Limit {
                            value: 90.0,
                            label: "교체 주기 / rotation".to_owned(),
                        }),
                    ),
                },
            ],
            reviews: vec![
                MonthlyReviewEntry {
                    month: "2024-04".to_owned(),
                    digest: "0123456789abcdef0123456789abcdef".to_owned(),
                    accesses: 12_345,
                    principals: 3,
                    bulk_reads: 1,
                    alerts: 2,
                    closed: true,
                    prepared_digest: None,
                    acknowledged: Some(ReviewAcknowledgement {
                        reviewer: "admin:lee".to_owned(),
                        at: "2024-05-02T01:00:00Z".to_owned(),
                        note: "확인함".to_owned(),
                        digest_matches: false,
                    }),
                },
                MonthlyReviewEntry {
                    month: "2024-05".to_owned(),
                    digest: "fedcba9876543210fedcba9876543210".to_owned(),
                    accesses: 0,
                    principals: 0,
                    bulk_reads: 0,
                    alerts: 0,
                    closed: true,
                    prepared_digest: Some("00".to_owned()),
                    acknowledged: None,
                },
            ],
        }
    }

    #[test]
    fn the_page_renders_with_everything_shown() {
        let html = render_html(&report()).unwrap();
        assert!(html.starts_with("<!doctype html>\n<html lang=\"ko\">"));
        assert!(html.contains("개인정보 보호 통제 증적 보고서"));
        assert!(html.contains("Content-Security-Policy"));
        assert!(html.contains("<section class=\"requirement\" id=\"req-2.5.1\""));
        assert!(html.contains("<section class=\"requirement\" id=\"req-2.9.4\""));
        assert!(html.contains("href=\"#req-2.9.4\""));
        assert!(html.contains("<thead><tr><th scope=\"col\">계정"));
        assert!(html.contains("잠금 5회"));
        assert!(html.contains("<figure>") && html.contains("<figcaption>"));
        assert!(html.contains("<svg xmlns="), "figures go in as markup");
        assert!(html.contains("@media print"));
        assert!(!html.contains("<details"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link") && !html.contains("src=\"http"));
    }

    #[test]
    fn report_text_is_escaped() {
        let html = render_html(&report()).unwrap();
        assert!(!html.contains("<script>alert(1)</script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
        assert!(html.contains("해치 주식회사 &amp; Co"));
    }

    #[test]
    fn statuses_and_gaps_are_marked() {
        let html = render_html(&report()).unwrap();
        assert!(html.contains("class=\"badge not_met\""));
        assert!(
            html.contains("differs from the job"),
            "a changed closed month is marked"
        );
        assert!(html.contains("class=\"reason not_met\""));
        assert!(html.contains("class=\"badge met\""));
        assert!(html.contains("class=\"severity failure\""));
        // The summary counts one of each (minijinja escapes `/` too, harmlessly).
        assert!(
            html.contains("미충족 &#x2f; not met</span><strong>1</strong>"),
            "{html}"
        );
        // A closed month without acknowledgement is red; a changed one says so.
        assert!(html.contains("class=\"missing\">미확인 / not acknowledged"));
        assert!(html.contains("changed since acknowledged"));
        assert!(
            html.contains(
                "<code title=\"0123456789abcdef0123456789abcdef\">0123456789abcdef</code>"
            )
        );
        assert!(html.contains("12,345"));
    }

    #[test]
    fn omitted_rows_are_counted() {
        let html = render_html(&report()).unwrap();
        assert!(html.contains("… 42 more rows not listed"), "{html}");
    }

    #[test]
    fn an_empty_report_renders() {
        let mut empty = report();
        empty.requirements.clear();
        empty.figures.clear();
        empty.reviews.clear();
        empty.summary = StatusCounts::default();
        let html = render_html(&empty).unwrap();
        assert!(html.contains("no requirements"));
        assert!(html.contains("no figures"));
        assert!(html.contains("no reviews in the period"));
    }

    #[test]
    fn foreign_markup_in_a_figure_is_refused() {
        for svg in [
            "<svg><script>alert(1)</script></svg>",
            "<svg><style>.not_met{display:none}</style></svg>",
            "<svg><foreignObject></foreignObject></svg>",
            "<svg><svg:script/></svg>",
            "<img src=x>",
            "<svg></svg><script>alert(1)</script><svg></svg>",
            "<svg><rect style=\"position:fixed;inset:0\"/></svg>",
            "<svg onload=\"alert(1)\"></svg>",
            "<svg><a xlink:href=\"x\"></a></svg>",
        ] {
            let mut tampered = report();
            tampered.figures[0].svg = svg.to_owned();
            assert!(
                matches!(render_html(&tampered), Err(crate::Error::Render(_))),
                "{svg}"
            );
        }
    }

    #[test]
    fn counts_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}

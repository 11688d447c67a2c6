//! The report as one HTML page (`templates/report.html`): tables of the measures, the 2025
//! breach beside the drill, the bar and the alerts, and a labelled timeline drawn as inline SVG
//! (no scripts).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use haechi_events::Timestamp;

use super::{Observations, Report};

/// The timeline's data, in microseconds of simulated time.
#[derive(Debug, Clone, Default)]
pub(super) struct Chart {
    start: i64,
    end: i64,
    attack_ok: Vec<i64>,
    attack_refused: Vec<i64>,
    normal: Vec<i64>,
    alerts: Vec<(i64, String)>,
    containment: Option<i64>,
}

impl Chart {
    /// The timeline of `observed`, with the moment of containment if there was one.
    pub(super) fn new(observed: &Observations, containment: Option<Timestamp>) -> Chart {
        let micros = |at: Timestamp| at.as_micros();
        Chart {
            start: micros(observed.start),
            end: micros(observed.end),
            attack_ok: observed
                .attack_attempts
                .iter()
                .filter(|(_, ok)| *ok)
                .map(|(at, _)| micros(*at))
                .collect(),
            attack_refused: observed
                .attack_attempts
                .iter()
                .filter(|(_, ok)| !*ok)
                .map(|(at, _)| micros(*at))
                .collect(),
            normal: observed.normal_reads.iter().map(|at| micros(*at)).collect(),
            alerts: observed
                .alerts
                .iter()
                .map(|alert| (micros(alert.seen_at), alert.rule_id.clone()))
                .collect(),
            containment: containment.map(micros),
        }
    }
}

impl Report {
    /// The report as one HTML page: the verdict, the measures, the side-by-side with the 2025
    /// breach, the bar and the alerts as tables, and the timeline (inline SVG). No script, no
    /// external reference; every value escaped.
    pub fn html(&self) -> String {
        let mut environment = minijinja::Environment::new();
        environment.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        let rendered = environment
            .template_from_str(TEMPLATE)
            .and_then(|template| {
                template.render(minijinja::value::Serde(Page {
                    report: self,
                    verdict: if self.passed { "passed" } else { "failed" },
                    measures: self.measures(),
                    versus: self.versus(),
                    timeline: self.chart_svg(),
                }))
            });
        // The template is compiled in and its context typed: a failure is a bug. The page says
        // so rather than being missing, and the Markdown beside it has everything.
        rendered.unwrap_or_else(|error| {
            format!(
                "<!doctype html><meta charset=\"utf-8\"><title>drill report</title>\
                 <p>the report page could not be rendered ({}); see report.md</p>\n",
                escape(&error.to_string())
            )
        })
    }

    /// The drill beside the breach it rehearses, figure by figure.
    fn versus(&self) -> Vec<[String; 3]> {
        vec![
            [
                "time from the first forged request to the first alert".into(),
                "none: nobody noticed for about five months".into(),
                super::seconds(self.time_to_first_alert_secs),
            ],
            [
                "time the attacker could read".into(),
                "137 days".into(),
                super::seconds(self.time_to_containment_secs),
            ],
            [
                "customers exposed".into(),
                "33,670,000".into(),
                format!("{} of {}", self.customers_exposed, self.customers),
            ],
            [
                "customers exposed before containment".into(),
                "33,670,000".into(),
                self.customers_exposed_before_containment.to_string(),
            ],
        ]
    }

    fn chart_svg(&self) -> String {
        let chart = &self.chart;
        let figures = &self.timeline;
        // Labels sit in their own column at the left, so ticks and words never overlap and
        // nothing runs past the right edge.
        let (width, height, left, right) = (1000.0_f64, 270.0_f64, 250.0_f64, 20.0_f64);
        let span = (chart.end - chart.start).max(1) as f64;
        let x = |micros: i64| left + (micros - chart.start) as f64 / span * (width - left - right);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
             role=\"img\" aria-label=\"timeline of the drill\" font-family=\"sans-serif\" \
             font-size=\"12\"><title>timeline of the drill</title>\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        );
        let rows = [
            (
                format!("legitimate reads ({})", figures.legitimate_reads),
                40.0,
                "#1f5fa8",
                &chart.normal,
            ),
            (
                format!(
                    "attacker: data received ({})",
                    figures.attacker_reads_received
                ),
                80.0,
                "#b3261e",
                &chart.attack_ok,
            ),
            (
                format!("attacker: refused ({})", figures.attacker_reads_refused),
                120.0,
                "#6b6b6b",
                &chart.attack_refused,
            ),
        ];
        for (label, y, colour, times) in rows {
            let _ = write!(
                svg,
                "<text x=\"8\" y=\"{}\" fill=\"{colour}\">{}</text>",
                y + 4.0,
                escape(&label)
            );
            // One tick per pixel column at most: tens of thousands of events stay small.
            let columns: BTreeSet<i64> = times.iter().map(|at| x(*at).round() as i64).collect();
            for column in columns {
                let _ = write!(
                    svg,
                    "<line x1=\"{column}\" x2=\"{column}\" y1=\"{}\" y2=\"{}\" stroke=\"{colour}\"/>",
                    y - 8.0,
                    y + 8.0
                );
            }
        }
        let _ = write!(
            svg,
            "<text x=\"8\" y=\"164\" fill=\"#9a6700\">alerts ({})</text>",
            figures.alerts
        );
        for (at, rule) in &chart.alerts {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"160\" r=\"4\" fill=\"#9a6700\"><title>{}</title></circle>",
                x(*at),
                escape(rule)
            );
        }
        let axis = 195.0;
        if let Some(contained) = chart.containment {
            let column = x(contained);
            // The label goes to whichever side of the line has room.
            let (label_x, anchor) = if column > width - right - 120.0 {
                (column - 4.0, "end")
            } else {
                (column + 4.0, "start")
            };
            let _ = write!(
                svg,
                "<line x1=\"{column:.1}\" x2=\"{column:.1}\" y1=\"24\" y2=\"{axis}\" stroke=\"#1e7a3c\" \
                 stroke-width=\"2\" stroke-dasharray=\"4 3\"/><text x=\"{label_x:.1}\" y=\"214\" \
                 text-anchor=\"{anchor}\" fill=\"#1e7a3c\">containment</text>"
            );
        }
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{axis}\" y2=\"{axis}\" stroke=\"black\"/>\
             <text x=\"{left}\" y=\"250\">{}</text><text x=\"{}\" y=\"250\" text-anchor=\"end\">{}</text>\
             <text x=\"8\" y=\"250\">simulated time</text></svg>",
            width - right,
            escape(&self.simulated_start),
            width - right,
            escape(&self.simulated_end),
        );
        svg
    }
}

/// The page's template.
const TEMPLATE: &str = include_str!("../../templates/report.html");

/// What the template shows.
#[derive(serde::Serialize)]
struct Page<'a> {
    report: &'a Report,
    verdict: &'static str,
    measures: Vec<(&'static str, String)>,
    versus: Vec<[String; 3]>,
    /// Drawn here with every label escaped: the template inserts it as it is (`|safe`).
    timeline: String,
}

/// Text made safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

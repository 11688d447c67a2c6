//! The report as one HTML page: the Markdown, escaped, under a timeline chart drawn as inline
//! SVG (no scripts).

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
    /// The report as one HTML page with a timeline chart (inline SVG, no scripts).
    pub fn html(&self) -> String {
        let markdown_free = escape(&self.markdown());
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Haechi drill {name}</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}\
             pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}}</style></head><body>\
             <h1>Drill <code>{name}</code>: {verdict}</h1>{chart}<pre>{markdown_free}</pre></body></html>\n",
            name = escape(&self.scenario),
            verdict = if self.passed { "passed" } else { "failed" },
            chart = self.chart_svg(),
        )
    }

    fn chart_svg(&self) -> String {
        let chart = &self.chart;
        let (width, height, left, right) = (1000.0_f64, 260.0_f64, 60.0_f64, 20.0_f64);
        let span = (chart.end - chart.start).max(1) as f64;
        let x = |micros: i64| left + (micros - chart.start) as f64 / span * (width - left - right);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-label=\"timeline\" style=\"font:12px sans-serif\">\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        );
        let rows = [
            ("legitimate reads", 40.0, "#4a7bd0", &chart.normal),
            ("attacker: data received", 90.0, "#d03a2f", &chart.attack_ok),
            ("attacker: refused", 140.0, "#999999", &chart.attack_refused),
        ];
        for (label, y, colour, times) in rows {
            let _ = write!(
                svg,
                "<text x=\"{left}\" y=\"{}\" fill=\"{colour}\">{label} ({})</text>",
                y - 12.0,
                times.len()
            );
            // One tick per pixel column at most: tens of thousands of events stay small.
            let columns: BTreeSet<i64> = times.iter().map(|at| x(*at).round() as i64).collect();
            for column in columns {
                let _ = write!(
                    svg,
                    "<line x1=\"{column}\" x2=\"{column}\" y1=\"{}\" y2=\"{}\" stroke=\"{colour}\"/>",
                    y - 6.0,
                    y + 6.0
                );
            }
        }
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"178\">alerts ({})</text>",
            chart.alerts.len()
        );
        for (at, rule) in &chart.alerts {
            let column = x(*at);
            let _ = write!(
                svg,
                "<circle cx=\"{column:.1}\" cy=\"190\" r=\"4\" fill=\"#e0a000\"><title>{}</title></circle>",
                escape(rule)
            );
        }
        if let Some(contained) = chart.containment {
            let column = x(contained);
            let _ = write!(
                svg,
                "<line x1=\"{column:.1}\" x2=\"{column:.1}\" y1=\"20\" y2=\"215\" stroke=\"#1a9b3c\" \
                 stroke-width=\"2\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"232\" \
                 fill=\"#1a9b3c\">containment</text>",
                column + 4.0
            );
        }
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"215\" y2=\"215\" stroke=\"black\"/>\
             <text x=\"{left}\" y=\"252\">{}</text><text x=\"{}\" y=\"252\" text-anchor=\"end\">{}</text></svg>",
            width - right,
            escape(&self.simulated_start),
            width - right,
            escape(&self.simulated_end),
        );
        svg
    }
}

/// Text made safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

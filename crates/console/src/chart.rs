//! The scope page's figure: customers exposed per UTC day, one bar a day from the first
//! exposure to the last — days without a read drawn as empty, so a pause in the attack shows
//! as one. Plain SVG with a `<title>` per bar; no script.

use std::fmt::Write as _;

use haechi_forensics::DayCount;
use time::Date;
use time::macros::format_description;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;
/// More days than this are drawn as the days that have reads only (a span of years would
/// make bars thinner than a pixel).
const MAX_DAYS_FILLED: i64 = 800;

/// One bar.
struct Day {
    day: String,
    customers: u64,
    new_customers: u64,
    reads: u64,
}

/// `text` safe inside SVG text and attributes (the days are made by the scope, never taken
/// from events; escaped all the same, since the page prints the figure as it is).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The figure, or `None` when there is nothing to draw.
pub(crate) fn exposed_per_day(timeline: &[DayCount]) -> Option<String> {
    let days = filled(timeline);
    let peak = days.iter().map(|day| day.customers).max()?.max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = plot_width / days.len() as f64;
    // A few days are drawn as bars of a readable width, not as wide blocks.
    let bar = (step * 0.8).clamp(1.0, 36.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" aria-labelledby="chart-title"><title id="chart-title">Customers exposed per UTC day, {} to {}, at most {peak} a day</title>"#,
        escape(days.first().map_or("", |day| day.day.as_str())),
        escape(days.last().map_or("", |day| day.day.as_str())),
    );
    // The axes and the peak's gridline.
    let base = TOP + plot_height;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{base}" x2="{}" y2="{base}"/><line class="grid" x1="{LEFT}" y1="{TOP}" x2="{}" y2="{TOP}"/><text class="tick" x="{}" y="{}" text-anchor="end">{peak}</text><text class="tick" x="{}" y="{base}" text-anchor="end">0</text>"#,
        WIDTH - RIGHT,
        WIDTH - RIGHT,
        LEFT - 6.0,
        TOP + 4.0,
        LEFT - 6.0,
    );
    for (index, day) in days.iter().enumerate() {
        let height = plot_height * day.customers as f64 / peak as f64;
        let x = LEFT + step * index as f64 + (step - bar) / 2.0;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.2}" y="{:.2}" width="{bar:.2}" height="{height:.2}"><title>{}: {} customers ({} first exposed), {} reads</title></rect>"#,
            base - height,
            escape(&day.day),
            day.customers,
            day.new_customers,
            day.reads,
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            r#"<text class="tick" x="{LEFT}" y="{}">{}</text>"#,
            base + 18.0,
            escape(&first.day)
        );
        if days.len() > 1 {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                base + 18.0,
                escape(&last.day)
            );
        }
    }
    svg.push_str("</svg>");
    Some(svg)
}

/// The timeline with the days between its days added as empty ones.
fn filled(timeline: &[DayCount]) -> Vec<Day> {
    let format = format_description!("[year]-[month]-[day]");
    let day_of = |count: &DayCount| Day {
        day: count.day.clone(),
        customers: count.customers,
        new_customers: count.new_customers,
        reads: count.reads,
    };
    let bounds = timeline
        .first()
        .zip(timeline.last())
        .and_then(|(first, last)| {
            Some((
                Date::parse(&first.day, &format).ok()?,
                Date::parse(&last.day, &format).ok()?,
            ))
        });
    let Some((first, last)) = bounds else {
        return timeline.iter().map(day_of).collect();
    };
    if (last - first).whole_days() > MAX_DAYS_FILLED {
        return timeline.iter().map(day_of).collect();
    }
    let mut given = timeline.iter().peekable();
    let mut days = Vec::new();
    let mut date = first;
    while date <= last {
        let name = date.format(&format).unwrap_or_default();
        match given.next_if(|count| count.day == name) {
            Some(count) => days.push(day_of(count)),
            None => days.push(Day {
                day: name,
                customers: 0,
                new_customers: 0,
                reads: 0,
            }),
        }
        let Some(next) = date.next_day() else { break };
        date = next;
    }
    days
}

//! The report's figures as inline SVG: a line chart of access volume per principal and a
//! horizontal bar chart (alert response times, key ages).
//!
//! Each function returns one complete `<svg>` element, drawn by hand like the drill's
//! timeline: no script, no external reference, no `id` (the figures share one HTML page, where
//! ids would collide), every text XML-escaped. The colours survive a black-and-white printer:
//! lines also differ by dash pattern, and bars over a limit also say so in words.

use std::fmt::Write as _;

/// One principal's daily access counts, for [`volume_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The principal (or "others" for the rest merged).
    pub name: String,
    /// One count per day, aligned with the chart's day labels.
    pub values: Vec<u64>,
}

/// One bar of [`horizontal_bars`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// What the bar measures (a key, an alert).
    pub label: String,
    /// Its length in the chart's unit; non-finite and negative values are drawn as 0.
    pub value: f64,
    /// Whether the value breaks the limit: the bar is drawn red and marked in words.
    pub over_limit: bool,
}

/// A limit drawn across a bar chart as a dashed vertical line (a rotation interval, a target
/// response time).
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// Where the line stands, in the chart's unit.
    pub value: f64,
    /// What the line means, written above it.
    pub label: String,
}

/// The most series [`volume_lines`] draws: more lines than dash patterns cannot be told apart.
pub const MAX_SERIES: usize = 8;

/// Access volume per principal over time: one line per series, days along the x axis, counts up
/// the y axis, a legend with each series' name and total.
///
/// Values are aligned with `days`: a series shorter than `days` stops early, extra values are
/// ignored. At most [`MAX_SERIES`] series are drawn; the legend counts any left out. With no
/// day, no series or no access at all, the figure says "기간 중 접근 없음 / no access in the
/// period".
pub fn volume_lines(series: &[Series], days: &[String]) -> String {
    let no_access = series
        .iter()
        .all(|one| one.values.iter().take(days.len()).all(|value| *value == 0));
    if days.is_empty() || no_access {
        return message_svg(
            "주체별 접근량 / access volume per principal",
            "기간 중 접근 없음 / no access in the period",
        );
    }
    let drawn = &series[..series.len().min(MAX_SERIES)];
    let left_out = series.len() - drawn.len();

    let (left, right, top, plot_height) = (64.0, 20.0, 16.0, 220.0);
    let plot_width = WIDTH - left - right;
    let bottom = top + plot_height;
    let legend_top = bottom + 52.0;
    let legend_rows = drawn.len().div_ceil(LEGEND_COLUMNS) + usize::from(left_out > 0);
    let height = legend_top + legend_rows as f64 * 20.0 + 8.0;

    let highest = drawn
        .iter()
        .flat_map(|one| one.values.iter().take(days.len()))
        .copied()
        .max()
        .unwrap_or(0);
    let scale = Scale::for_count(highest);
    let y = |value: f64| bottom - value / scale.top * plot_height;
    // One day alone sits in the middle; otherwise the first and last days touch the edges.
    let x = |index: usize| {
        if days.len() == 1 {
            left + plot_width / 2.0
        } else {
            left + index as f64 * plot_width / (days.len() - 1) as f64
        }
    };

    let label = format!(
        "주체별 일별 접근량, {} ~ {} / daily access volume per principal, {} to {}",
        days[0],
        days[days.len() - 1],
        days[0],
        days[days.len() - 1]
    );
    let mut svg = open_svg(height, &label);

    // Horizontal gridlines with their counts at the left.
    for tick in scale.ticks() {
        let at = y(tick);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            left + plot_width,
            left - 6.0,
            at + 4.0,
            format_number(tick)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" \
         transform=\"rotate(-90 12 {:.1})\">접근 수 / accesses</text>",
        top + plot_height / 2.0,
        top + plot_height / 2.0
    );

    // Day labels, every nth so that neighbours never overlap.
    let (shown, axis_title) = day_labels(days);
    let widest = shown
        .iter()
        .map(|day| text_width(day, 11.0))
        .fold(0.0, f64::max);
    let room = if days.len() == 1 {
        plot_width
    } else {
        plot_width / (days.len() - 1) as f64
    };
    let every = ((widest + 10.0) / room).ceil().max(1.0) as usize;
    for (index, day) in shown.iter().enumerate().step_by(every) {
        let at = x(index);
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{bottom}\" y2=\"{:.1}\" stroke=\"{AXIS}\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            bottom + 4.0,
            bottom + 17.0,
            escape(day)
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"{AXIS}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
        left + plot_width,
        left + plot_width / 2.0,
        bottom + 36.0,
        escape(&axis_title)
    );

    for (index, one) in drawn.iter().enumerate() {
        let (colour, dashes) = LINE_STYLES[index % LINE_STYLES.len()];
        let values: Vec<u64> = one.values.iter().take(days.len()).copied().collect();
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(day, value)| format!("{:.1},{:.1}", x(day), y(*value as f64)))
            .collect();
        let _ = write!(
            svg,
            "<g><title>{}</title><polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" \
             stroke-width=\"2\" stroke-linejoin=\"round\"{}/>",
            escape(&one.name),
            points.join(" "),
            dash_attribute(dashes)
        );
        // A single point makes no line: a dot shows it.
        if values.len() == 1 {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(0),
                y(values[0] as f64)
            );
        }
        svg.push_str("</g>");

        let column = index % LEGEND_COLUMNS;
        let row = index / LEGEND_COLUMNS;
        let entry_x = left + column as f64 * LEGEND_ENTRY_WIDTH;
        let entry_y = legend_top + row as f64 * 20.0;
        let total: u64 = values.iter().sum();
        let text = format!("{} ({})", one.name, format_number(total as f64));
        let _ = write!(
            svg,
            "<g><title>{}</title><line x1=\"{entry_x:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" \
             stroke=\"{colour}\" stroke-width=\"2\"{}/><text x=\"{:.1}\" y=\"{entry_y:.1}\">{}</text></g>",
            escape(&text),
            entry_x + 26.0,
            entry_y - 4.0,
            entry_y - 4.0,
            dash_attribute(dashes),
            entry_x + 32.0,
            escape(&fit(&text, LEGEND_ENTRY_WIDTH - 40.0, 12.0))
        );
    }
    if left_out > 0 {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{:.1}\" font-size=\"11\">그 외 {left_out}개 계열 생략 / \
             {left_out} more series not drawn</text>",
            legend_top + (legend_rows - 1) as f64 * 20.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One horizontal bar per item, label at the left and value with `unit` at the bar's end, and
/// `limit` as a dashed vertical line with its label. Bars over the limit are red and say "초과 /
/// over"; the others are blue. The scale always reaches the limit. With no bar, the figure says
/// "없음 / none".
pub fn horizontal_bars(bars: &[Bar], unit: &str, limit: Option<Limit>) -> String {
    if bars.is_empty() {
        return message_svg("막대 그래프 / bar chart", "없음 / none");
    }
    let limit = limit.map(|limit| Limit {
        value: drawable(limit.value),
        label: limit.label,
    });
    let (left, right, row_height, bar_height) = (190.0, 120.0, 24.0, 16.0);
    // Room above the bars for the limit's label.
    let top = if limit.is_some() { 28.0 } else { 8.0 };
    let plot_width = WIDTH - left - right;
    let bottom = top + bars.len() as f64 * row_height;
    let height = bottom + 30.0;

    let highest = bars
        .iter()
        .map(|bar| drawable(bar.value))
        .chain(limit.as_ref().map(|limit| limit.value))
        .fold(0.0, f64::max);
    let scale = Scale::for_measure(highest);
    let x = |value: f64| left + value / scale.top * plot_width;

    let over = bars.iter().filter(|bar| bar.over_limit).count();
    let mut label = format!(
        "막대 그래프: {}개 항목, 단위 {unit} / bar chart: {} items in {unit}",
        bars.len(),
        bars.len()
    );
    if let Some(limit) = &limit {
        let _ = write!(
            label,
            "; {} ({}); 초과 {over}개 / {over} over",
            limit.label,
            with_unit(limit.value, unit)
        );
    }
    let mut svg = open_svg(height, &label);

    // Vertical gridlines with their values under the bars.
    for tick in scale.ticks() {
        let at = x(tick);
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{top}\" y2=\"{bottom:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            bottom + 16.0,
            escape(&with_unit(tick, unit))
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom:.1}\" stroke=\"{AXIS}\"/>"
    );

    for (index, bar) in bars.iter().enumerate() {
        let value = drawable(bar.value);
        let row_top = top + index as f64 * row_height;
        let middle = row_top + row_height / 2.0;
        let end = x(value);
        let (colour, weight, marker) = if bar.over_limit {
            (OVER_LIMIT, "bold", " 초과 / over")
        } else {
            (WITHIN_LIMIT, "normal", "")
        };
        let value_text = format!("{}{marker}", with_unit(value, unit));
        let _ = write!(
            svg,
            "<g><title>{}: {}</title>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_height}\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"{weight}\" fill=\"{}\">{}</text></g>",
            escape(&bar.label),
            escape(&value_text),
            left - 8.0,
            middle + 4.0,
            escape(&fit(&bar.label, left - 16.0, 12.0)),
            middle - bar_height / 2.0,
            end - left,
            end + 5.0,
            middle + 4.0,
            if bar.over_limit { OVER_LIMIT } else { TEXT },
            escape(&value_text)
        );
    }

    if let Some(limit) = &limit {
        let at = x(limit.value);
        // The label stands on the side of the line with more room.
        let (anchor, label_x) = if at > left + plot_width / 2.0 {
            ("end", at - 4.0)
        } else {
            ("start", at + 4.0)
        };
        let text = format!("{} ({})", limit.label, with_unit(limit.value, unit));
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"{TEXT}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\
             <text x=\"{label_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\">{}</text>",
            top - 12.0,
            top - 16.0,
            escape(&text)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Text made safe inside XML (and so inside the HTML page the SVG is inlined into). Characters
/// XML 1.0 forbids (most control characters) become U+FFFD so the figure still parses.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// Every figure is this wide: it fits an A4 page and the report's column.
const WIDTH: f64 = 720.0;
const FONT: &str = "'Noto Sans CJK KR', 'Noto Sans KR', system-ui, sans-serif";
const TEXT: &str = "#1a1a1a";
const AXIS: &str = "#555555";
const GRID: &str = "#d9d9d9";
const OVER_LIMIT: &str = "#b3261e";
const WITHIN_LIMIT: &str = "#1f5fa8";
const LEGEND_COLUMNS: usize = 3;
const LEGEND_ENTRY_WIDTH: f64 = 215.0;

/// Colour and dash pattern per series: colours from the Okabe–Ito palette (told apart by
/// colour-blind readers), each with its own dash pattern for grayscale print.
const LINE_STYLES: [(&str, &str); MAX_SERIES] = [
    ("#0072b2", ""),
    ("#d55e00", "8 4"),
    ("#009e73", "2 3"),
    ("#cc79a7", "10 3 2 3"),
    ("#8a6d00", "4 4"),
    ("#56b4e9", "12 3 2 3 2 3"),
    ("#000000", "1 5"),
    ("#7f7f7f", "16 4"),
];

/// The `<svg>` opening tag and its accessible name, on a white ground (print and dark mode).
fn open_svg(height: f64, label: &str) -> String {
    let label = escape(label);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{label}\" \
         font-family=\"{FONT}\" font-size=\"12\" fill=\"{TEXT}\"><title>{label}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    )
}

/// A figure with nothing to draw: its message, centred, so the absence is seen, not guessed.
fn message_svg(label: &str, message: &str) -> String {
    let mut svg = open_svg(60.0, &format!("{label}: {message}"));
    let _ = write!(
        svg,
        "<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"59\" fill=\"none\" stroke=\"{GRID}\"/>\
         <text x=\"{}\" y=\"35\" text-anchor=\"middle\" font-size=\"14\">{}</text></svg>",
        WIDTH - 1.0,
        WIDTH / 2.0,
        escape(message)
    );
    svg
}

/// The `stroke-dasharray` attribute for a pattern, nothing for a solid line.
fn dash_attribute(dashes: &str) -> String {
    if dashes.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dashes}\"")
    }
}

/// A value the chart can draw: non-finite and negative values are drawn as 0.
fn drawable(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// The labels under the x axis and the axis title. Dates of one year (`YYYY-MM-DD`) lose the
/// year, which moves into the title, so more of them fit.
fn day_labels(days: &[String]) -> (Vec<String>, String) {
    let is_date = |day: &str| {
        let bytes = day.as_bytes();
        bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit())
    };
    let year = days.first().map(|day| day.get(..4).unwrap_or_default());
    if let Some(year) = year
        && days.iter().all(|day| is_date(day) && day.starts_with(year))
    {
        let shown = days
            .iter()
            .map(|day| day.get(5..).unwrap_or_default().to_owned())
            .collect();
        return (shown, format!("날짜 / day ({year})"));
    }
    (days.to_vec(), "날짜 / day".to_owned())
}

/// An axis from 0 to a round top, in steps of 1, 2, 2.5 or 5 times a power of ten: four or
/// five gridlines.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    top: f64,
    step: f64,
}

impl Scale {
    /// A scale for counts: steps are whole numbers.
    fn for_count(highest: u64) -> Scale {
        Scale::rounded(highest as f64, 1.0)
    }

    /// A scale for measures, which may be fractions.
    fn for_measure(highest: f64) -> Scale {
        Scale::rounded(highest, 0.0)
    }

    fn rounded(highest: f64, smallest_step: f64) -> Scale {
        if highest <= 0.0 {
            return Scale {
                top: 1.0,
                step: 1.0,
            };
        }
        let raw = highest / 4.0;
        let magnitude = 10_f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|factor| factor * magnitude)
            // 2.5 of a unit is no step for whole counts.
            .filter(|step| smallest_step == 0.0 || step.fract() == 0.0)
            .find(|step| *step >= raw)
            .unwrap_or(10.0 * magnitude)
            .max(smallest_step);
        // The small slack keeps float noise (0.3 / 0.1 = 3.0000000000000004) from adding a step.
        Scale {
            top: (highest / step - 1e-9).ceil() * step,
            step,
        }
    }

    fn ticks(self) -> impl Iterator<Item = f64> {
        let count = (self.top / self.step).round() as u64;
        (0..=count).map(move |index| index as f64 * self.step)
    }
}

/// `value` and `unit` as the reader sees them (`90 일`, `1,250 ms`).
fn with_unit(value: f64, unit: &str) -> String {
    if unit.is_empty() {
        format_number(value)
    } else {
        format!("{} {unit}", format_number(value))
    }
}

/// A number with thousands separators and at most one decimal.
fn format_number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    let whole = rounded.trunc();
    let mut digits = format!("{}", whole.abs() as u64);
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    let sign = if rounded < 0.0 { "-" } else { "" };
    let tenths = ((rounded - whole).abs() * 10.0).round() as u64;
    if tenths == 0 {
        format!("{sign}{digits}{grouped}")
    } else {
        format!("{sign}{digits}{grouped}.{tenths}")
    }
}

/// About how wide `text` is drawn at `size` pixels: CJK and other wide characters take a full
/// em, the rest about 0.56 of one (Noto Sans and system sans fonts). No font metrics are at
/// hand, so this is an estimate that errs a little wide.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|character| if is_wide(character) { 1.0 } else { 0.56 })
        .sum::<f64>()
        * size
}

fn is_wide(character: char) -> bool {
    matches!(character,
        '\u{1100}'..='\u{115f}'
        | '\u{2e80}'..='\u{a4cf}'
        | '\u{ac00}'..='\u{d7a3}'
        | '\u{f900}'..='\u{faff}'
        | '\u{fe30}'..='\u{fe4f}'
        | '\u{ff00}'..='\u{ff60}'
        | '\u{ffe0}'..='\u{ffe6}')
}

/// `text` shortened with an ellipsis to fit `width` pixels; the full text stays in the
/// element's `<title>`.
fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut fitted = String::new();
    let mut used = text_width("…", size);
    for character in text.chars() {
        used += text_width(character.encode_utf8(&mut [0; 4]), size);
        if used > width {
            break;
        }
        fitted.push(character);
    }
    fitted.push('…');
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks what an XML parser would: tags nest and close, attribute values are quoted, text
    /// holds no raw `<`, and every `&` starts an entity. (No XML parser is in the workspace.)
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            assert_text(&rest[..start]);
            let end = rest[start..].find('>').map(|end| start + end);
            let Some(end) = end else {
                panic!("unclosed tag in {svg}");
            };
            let tag = &rest[start + 1..end];
            let name_end = tag
                .find(|character: char| character.is_whitespace() || character == '/')
                .unwrap_or(tag.len());
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "mismatched </{name}> in {svg}");
            } else {
                assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
                assert!(!tag.contains('<'), "raw < in tag: {tag}");
                assert_text(tag);
                if !tag.ends_with('/') {
                    open.push(&tag[..name_end]);
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed {open:?}");
        assert!(rest.is_empty());
    }

    fn assert_text(text: &str) {
        for (index, _) in text.match_indices('&') {
            let entity = &text[index..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|known| entity.starts_with(known)),
                "raw & in {text}"
            );
        }
        assert!(
            !text.contains('<') && !text.contains('>'),
            "raw <> in {text}"
        );
    }

    fn days(count: usize) -> Vec<String> {
        (1..=count)
            .map(|day| format!("2024-{:02}-{:02}", 1 + (day - 1) / 28, 1 + (day - 1) % 28))
            .collect()
    }

    fn bar(label: &str, value: f64, over_limit: bool) -> Bar {
        Bar {
            label: label.to_owned(),
            value,
            over_limit,
        }
    }

    #[test]
    fn labels_are_escaped() {
        let hostile = "<script>&\"x'</script>";
        let lines = volume_lines(
            &[Series {
                name: hostile.to_owned(),
                values: vec![1, 2, 3],
            }],
            &[hostile.to_owned(), "b".to_owned(), "c".to_owned()],
        );
        let bars = horizontal_bars(
            &[bar(hostile, 3.0, false)],
            hostile,
            Some(Limit {
                value: 2.0,
                label: hostile.to_owned(),
            }),
        );
        for svg in [lines, bars] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(
                svg.contains("&lt;script&gt;&amp;&quot;x&#39;&lt;/script&gt;"),
                "{svg}"
            );
            assert_well_formed(&svg);
        }
    }

    #[test]
    fn control_characters_do_not_break_the_xml() {
        assert_eq!(escape("a\u{0}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c\td");
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let series: Vec<Series> = (0..10)
            .map(|index| Series {
                name: format!("admin:운영자{index}"),
                values: (0..90).map(|day| (day * index) % 37).collect(),
            })
            .collect();
        let lines = volume_lines(&series, &days(90));
        assert_well_formed(&lines);
        assert_eq!(lines.matches("<polyline").count(), MAX_SERIES);
        assert!(lines.contains("2 more series not drawn"));
        assert!(lines.contains("role=\"img\"") && lines.contains("<title>"));
        assert!(lines.contains("viewBox=\"0 0 720 "));
        // One year's dates drop the year from each label.
        assert!(lines.contains(">01-01<") && lines.contains("(2024)"));
        assert!(!lines.contains(">01-02<"), "labels must thin out: {lines}");

        let one_day = volume_lines(
            &[Series {
                name: "svc".to_owned(),
                values: vec![5],
            }],
            &["2024-03-01".to_owned()],
        );
        assert_well_formed(&one_day);
        assert!(one_day.contains("<circle"));

        let bars = horizontal_bars(
            &[bar("key-1", 12.5, false), bar("key-2", 1234.0, true)],
            "일",
            None,
        );
        assert_well_formed(&bars);
        assert!(bars.contains("1,234 일"));
        assert!(bars.contains("12.5 일"));
    }

    #[test]
    fn the_limit_line_appears_and_the_scale_reaches_it() {
        let svg = horizontal_bars(
            &[bar("key-a", 10.0, false)],
            "days",
            Some(Limit {
                value: 90.0,
                label: "교체 주기 / rotation interval".to_owned(),
            }),
        );
        assert_well_formed(&svg);
        assert!(svg.contains("stroke-dasharray=\"5 4\""), "{svg}");
        assert!(
            svg.contains("교체 주기 / rotation interval (90 days)"),
            "{svg}"
        );
        // The top tick is at least the limit.
        assert!(
            svg.contains(">100 days<") || svg.contains(">90 days<"),
            "{svg}"
        );
        let limit_x = svg
            .split("stroke-dasharray=\"5 4\"")
            .next()
            .and_then(|before| before.rsplit("x1=\"").next())
            .and_then(|tail| tail.split('"').next())
            .and_then(|number| number.parse::<f64>().ok())
            .unwrap();
        assert!(limit_x <= WIDTH, "{limit_x}");
    }

    #[test]
    fn over_limit_bars_are_red_and_marked() {
        let svg = horizontal_bars(
            &[bar("fresh", 10.0, false), bar("stale", 200.0, true)],
            "일",
            Some(Limit {
                value: 90.0,
                label: "90일".to_owned(),
            }),
        );
        assert_eq!(svg.matches("fill=\"#b3261e\"/>").count(), 1, "{svg}");
        assert_eq!(svg.matches("fill=\"#1f5fa8\"/>").count(), 1, "{svg}");
        assert!(svg.contains("200 일 초과 / over"));
        let stale = svg.find(">stale<").unwrap();
        assert!(svg[stale..].contains("#b3261e"));
    }

    #[test]
    fn empty_inputs_say_so() {
        for svg in [
            volume_lines(&[], &days(30)),
            volume_lines(
                &[Series {
                    name: "a".to_owned(),
                    values: vec![],
                }],
                &[],
            ),
            volume_lines(
                &[Series {
                    name: "idle".to_owned(),
                    values: vec![0; 30],
                }],
                &days(30),
            ),
        ] {
            assert_well_formed(&svg);
            assert!(
                svg.contains("기간 중 접근 없음 / no access in the period"),
                "{svg}"
            );
        }
        let none = horizontal_bars(&[], "일", None);
        assert_well_formed(&none);
        assert!(none.contains("없음 / none"));
    }

    #[test]
    fn zero_and_non_finite_values_draw_as_zero() {
        let svg = horizontal_bars(
            &[
                bar("zero", 0.0, false),
                bar("nan", f64::NAN, false),
                bar("inf", f64::INFINITY, true),
                bar("negative", -3.0, false),
            ],
            "h",
            Some(Limit {
                value: f64::NAN,
                label: "target".to_owned(),
            }),
        );
        assert_well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf\""), "{svg}");
        assert_eq!(svg.matches("width=\"0.0\"").count(), 4, "{svg}");
    }

    #[test]
    fn scales_are_round() {
        let check = |highest: f64, top: f64, step: f64| {
            let scale = Scale::for_measure(highest);
            let close = |left: f64, right: f64| (left - right).abs() < 1e-9;
            assert!(
                close(scale.top, top) && close(scale.step, step),
                "{highest}: {scale:?}"
            );
        };
        check(7.0, 8.0, 2.0);
        check(100.0, 100.0, 25.0);
        check(0.3, 0.3, 0.1);
        check(0.0, 1.0, 1.0);
        assert_eq!(
            Scale::for_count(3),
            Scale {
                top: 3.0,
                step: 1.0
            }
        );
        assert_eq!(
            Scale::for_count(9),
            Scale {
                top: 10.0,
                step: 5.0
            }
        );
        for highest in [1, 3, 7, 10, 99, 101, 12_345] {
            let ticks = Scale::for_count(highest).ticks().count();
            assert!((2..=5).contains(&ticks), "{highest}: {ticks}");
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(1234567.0), "1,234,567");
        assert_eq!(format_number(12.25), "12.3");
        assert_eq!(format_number(999.96), "1,000");
    }

    #[test]
    fn long_labels_are_shortened() {
        let long = "가".repeat(40);
        let fitted = fit(&long, 100.0, 12.0);
        assert!(fitted.ends_with('…'));
        assert!(text_width(&fitted, 12.0) <= 100.0);
        assert_eq!(fit("short", 100.0, 12.0), "short");
    }
}

//! Facts → report: every control judged, the figures drawn, the months' reviews listed.

use crate::activity::CUSTOMERS_LINE;
use crate::controls::CONTROLS;
use crate::facts::Facts;
use crate::period::kst_minute;
use crate::render::charts::{Bar, Limit, Series, horizontal_bars, volume_lines};
use crate::report::{EvidenceReport, Figure, REPORT_FORMAT, ReportPeriod, StatusCounts, TrailHead};
use crate::review::reviews;

/// Lines drawn in the volume chart; the rest are summed into "others".
const VOLUME_LINES: usize = 7;
/// Alerts drawn in the response-time chart (the slowest first).
const ALERT_BARS: usize = 30;
/// The response-time chart's reference line: an alert answered within fifteen minutes.
const RESPONSE_TARGET_MINUTES: f64 = 15.0;

/// The framework line of every report.
pub const FRAMEWORK: &str = "ISMS-P 2023 (정보보호 및 개인정보보호 관리체계 인증 기준) · 개인정보의 \
    안전성 확보조치 기준 (PIPA safeguard standard, 2023)";

/// Judges every control on `facts` and assembles the report.
pub fn assess(facts: &Facts) -> EvidenceReport {
    let assessment_date = facts.generated_at.to_rfc3339();
    let requirements: Vec<_> = CONTROLS
        .iter()
        .map(|control| control.requirement(facts, &assessment_date))
        .collect();
    EvidenceReport {
        format: REPORT_FORMAT.into(),
        framework: FRAMEWORK.into(),
        organisation: facts.organisation.clone(),
        period: ReportPeriod {
            from: facts.period.from().to_string(),
            to: facts.period.to().to_string(),
        },
        generated_at: assessment_date,
        generated_by: facts.generated_by.clone(),
        trail: TrailHead {
            records: facts.audit.chain.records,
            last_seq: facts.audit.chain.last_seq,
            last_signed_seq: facts.audit.chain.last_signed_seq,
        },
        summary: StatusCounts::of(&requirements),
        requirements,
        figures: vec![access_volume(facts), alert_response(facts), key_ages(facts)],
        reviews: reviews(&facts.activity, facts.generated_at)
            .iter()
            .map(|review| review.entry(&facts.activity))
            .collect(),
    }
}

fn access_volume(facts: &Facts) -> Figure {
    let days = facts.period.days();
    let mut customers = vec![0u64; days];
    let mut lines: Vec<(String, Vec<u64>)> = Vec::new();
    for (principal, values) in &facts.activity.daily {
        if principal == CUSTOMERS_LINE {
            customers
                .iter_mut()
                .zip(values)
                .for_each(|(sum, value)| *sum += value);
        } else {
            lines.push((principal.clone(), values.clone()));
        }
    }
    lines.sort_by_key(|(name, values)| {
        (std::cmp::Reverse(values.iter().sum::<u64>()), name.clone())
    });
    let mut series: Vec<Series> = Vec::new();
    let mut others = vec![0u64; days];
    for (index, (name, values)) in lines.into_iter().enumerate() {
        if index < VOLUME_LINES {
            series.push(Series { name, values });
        } else {
            others
                .iter_mut()
                .zip(&values)
                .for_each(|(sum, value)| *sum += value);
        }
    }
    if others.iter().any(|value| *value > 0) {
        series.push(Series {
            name: "others".into(),
            values: others,
        });
    }
    if customers.iter().any(|value| *value > 0) {
        series.push(Series {
            name: CUSTOMERS_LINE.into(),
            values: customers,
        });
    }
    Figure {
        id: "access-volume".into(),
        title: "주체별 일일 개인정보 접근량 / Personal-data accesses per principal per day".into(),
        svg: volume_lines(&series, &facts.period.day_labels()),
    }
}

fn alert_response(facts: &Facts) -> Figure {
    let mut bars: Vec<Bar> = facts
        .activity
        .alerts
        .items
        .iter()
        .map(|alert| {
            let answered = match (alert.acknowledged_at, alert.contained_at) {
                (Some(ack), Some(contained)) => Some(ack.min(contained)),
                (one, other) => one.or(other),
            };
            let label = format!("{} {}", alert.rule, kst_minute(alert.raised_at));
            match answered {
                Some(at) => {
                    let minutes = at.since(alert.raised_at).as_secs_f64() / 60.0;
                    Bar {
                        label,
                        value: minutes,
                        over_limit: minutes > RESPONSE_TARGET_MINUTES,
                    }
                }
                None => Bar {
                    label: format!("{label} (unanswered)"),
                    value: facts.generated_at.since(alert.raised_at).as_secs_f64() / 60.0,
                    over_limit: true,
                },
            }
        })
        .collect();
    bars.sort_by(|a, b| b.value.total_cmp(&a.value));
    bars.truncate(ALERT_BARS);
    Figure {
        id: "alert-response".into(),
        title: "경보 대응 시간 (분) / Minutes from alert to acknowledgement or containment".into(),
        svg: horizontal_bars(
            &bars,
            "min",
            Some(Limit {
                value: RESPONSE_TARGET_MINUTES,
                label: "목표 / target".into(),
            }),
        ),
    }
}

fn key_ages(facts: &Facts) -> Figure {
    let crypto = &facts.cryptography;
    let limit = crypto.rotation_interval_days as f64;
    let bars: Vec<Bar> = crypto
        .signing_keys
        .iter()
        .filter(|key| matches!(key.state.as_str(), "active" | "retiring" | "pending"))
        .map(|key| {
            let age = crate::controls::days_between(key.created_at, facts.generated_at) as f64;
            Bar {
                label: format!("{} ({})", key.kid, key.state),
                value: age,
                over_limit: key.state == "active" && age > limit,
            }
        })
        .collect();
    Figure {
        id: "key-ages".into(),
        title: "서명키 사용 기간 (일) / Age of the signing keys in use (days)".into(),
        svg: horizontal_bars(
            &bars,
            "days",
            Some(Limit {
                value: limit,
                label: "교체 주기 / rotation".into(),
            }),
        ),
    }
}

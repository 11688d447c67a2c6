//! The pages: one minijinja environment over the templates compiled into the binary, and one
//! function per page saying what it shows.

use haechi_custody::KeyRecord;
use haechi_events::{SecurityEvent, Timestamp};
use haechi_portal::Asset;
use haechi_respond::rules::RulesInForce;
use haechi_respond::{AlertView, BlockRecord, SuspensionRecord};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::assets::bundled;
use crate::chart::exposed_per_day;
use crate::views::{
    AlertDetail, AlertRow, BlockRow, Done, EventRow, KeyRevocation, KeyRow, Problem, ScopeSummary,
    ScopeView, SuspensionRow,
};

/// What can go wrong rendering a page (a template bug: the tests render every page).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template failed to load or render.
    #[error("console template: {0}")]
    Template(#[from] minijinja::Error),
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("alerts.html", include_str!("../templates/alerts.html")),
    ("alert.html", include_str!("../templates/alert.html")),
    ("scope.html", include_str!("../templates/scope.html")),
    (
        "containment.html",
        include_str!("../templates/containment.html"),
    ),
    ("keys.html", include_str!("../templates/keys.html")),
    (
        "revoke_key.html",
        include_str!("../templates/revoke_key.html"),
    ),
    ("rules.html", include_str!("../templates/rules.html")),
    ("error.html", include_str!("../templates/error.html")),
];

/// The part of the console a page belongs to (the navigation marks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Alerts, an alert, its scope.
    Alerts,
    /// Blocks and suspensions.
    Containment,
    /// Signing keys.
    Keys,
    /// Detection rules.
    Rules,
}

/// What every signed-in page carries: who is signed in, and the CSRF token its forms post.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The administrator (`admin:NAME`).
    pub principal: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// When the session ends (its token's expiry).
    pub expires: Timestamp,
}

/// The console's pages and assets.
pub struct Console {
    templates: Environment<'static>,
    assets: [Asset; 3],
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("assets", &self.assets)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// Loads the templates.
    pub fn new() -> Result<Console, Error> {
        let mut templates = Environment::new();
        // Every value printed is HTML-escaped, whatever the template's name.
        templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            templates.add_template(name, source)?;
        }
        Ok(Console {
            templates,
            assets: bundled(),
        })
    }

    /// The asset served at `path`, if any.
    pub fn asset(&self, path: &str) -> Option<&Asset> {
        self.assets.iter().find(|asset| asset.path == path)
    }

    /// The sign-in page (again with `problem` after a failed sign-in).
    pub fn sign_in(&self, problem: Option<&Problem>) -> Result<String, Error> {
        self.render(
            "sign_in.html",
            None,
            None,
            context! { problem => problem.map(Serde) },
        )
    }

    /// The alert list, newest first (`total`: how many the desk holds), which the page's
    /// script keeps live.
    pub fn alerts(
        &self,
        frame: &Frame,
        alerts: &[AlertView],
        total: usize,
    ) -> Result<String, Error> {
        let rows: Vec<AlertRow> = alerts.iter().map(AlertRow::of).collect();
        self.render(
            "alerts.html",
            Some(frame),
            Some(Section::Alerts),
            context! { alerts => Serde(&rows), total },
        )
    }

    /// One alert: what it is, its evidence events (`events`, with `events_note` saying why
    /// some are not shown), its actions, and the forms to acknowledge it and run its scope.
    pub fn alert(
        &self,
        frame: &Frame,
        alert: &AlertView,
        events: &[(u64, SecurityEvent)],
        events_note: Option<&str>,
        outcome: Outcome<'_>,
    ) -> Result<String, Error> {
        let detail = AlertDetail::of(alert);
        let events: Vec<EventRow> = events
            .iter()
            .map(|(seq, event)| EventRow::of(*seq, event))
            .collect();
        self.render(
            "alert.html",
            Some(frame),
            Some(Section::Alerts),
            context! {
                alert => Serde(&detail),
                events => Serde(&events),
                events_note,
                done => outcome.done.map(Done::words),
                problem => outcome.problem.map(Serde),
            },
        )
    }

    /// "Who was exposed" for an alert: the customers its indicators read, which fields, when,
    /// per day, and the links to the whole list.
    pub fn scope(
        &self,
        frame: &Frame,
        alert: &AlertView,
        summary: &ScopeSummary<'_>,
    ) -> Result<String, Error> {
        let row = AlertRow::of(alert);
        let view = ScopeView::of(summary);
        let chart = exposed_per_day(&summary.scope.summary.timeline);
        self.render(
            "scope.html",
            Some(frame),
            Some(Section::Alerts),
            context! {
                alert => Serde(&row),
                scope => Serde(&view),
                chart => chart.map(Value::from_safe_string),
            },
        )
    }

    /// The blocks and suspensions in force, with the forms to add and lift them (`form`: the
    /// values of the form shown again with `outcome.problem`).
    pub fn containment(
        &self,
        frame: &Frame,
        blocks: &[BlockRecord],
        suspensions: &[SuspensionRecord],
        outcome: Outcome<'_>,
        form: &[(String, String)],
    ) -> Result<String, Error> {
        let blocks: Vec<BlockRow> = blocks.iter().map(BlockRow::of).collect();
        let suspensions: Vec<SuspensionRow> = suspensions.iter().map(SuspensionRow::of).collect();
        // Every field the forms print back, empty unless given.
        let mut values: std::collections::BTreeMap<String, String> =
            ["network", "reason", "principal", "suspend_reason"]
                .into_iter()
                .map(|name| (name.to_string(), String::new()))
                .collect();
        values.extend(form.iter().cloned());
        self.render(
            "containment.html",
            Some(frame),
            Some(Section::Containment),
            context! {
                blocks => Serde(&blocks),
                suspensions => Serde(&suspensions),
                done => outcome.done.map(Done::words),
                problem => outcome.problem.map(Serde),
                form => values,
            },
        )
    }

    /// The signing keys: state and age, rotation, and a revocation link for each key that
    /// still verifies (`session_kid`: the key of the administrator's own token).
    pub fn keys(
        &self,
        frame: &Frame,
        keys: &[KeyRecord],
        now: Timestamp,
        session_kid: &str,
        outcome: Outcome<'_>,
    ) -> Result<String, Error> {
        let rows: Vec<KeyRow> = keys
            .iter()
            .map(|key| KeyRow::of(key, now, session_kid))
            .collect();
        self.render(
            "keys.html",
            Some(frame),
            Some(Section::Keys),
            context! {
                keys => Serde(&rows),
                done => outcome.done.map(Done::words),
                problem => outcome.problem.map(Serde),
            },
        )
    }

    /// A key's revocation: before (`done` false), the sessions it will end and the form to
    /// confirm; after, the sessions it ended.
    pub fn revoke_key(
        &self,
        frame: &Frame,
        revocation: &KeyRevocation,
        own_session: bool,
        done: bool,
    ) -> Result<String, Error> {
        self.render(
            "revoke_key.html",
            Some(frame),
            Some(Section::Keys),
            context! {
                revocation => Serde(revocation),
                own_session,
                done,
            },
        )
    }

    /// The rules in force, each with its newest alert among those the desk holds, and the
    /// leak watch's sources with their health.
    pub fn rules(
        &self,
        frame: &Frame,
        in_force: &RulesInForce,
        alerts: &[AlertView],
        sources: &[crate::LeakSourceRow],
    ) -> Result<String, Error> {
        #[derive(Serialize)]
        struct RuleRow<'a> {
            id: &'a str,
            title: &'a str,
            severity: &'static str,
            file: &'a str,
            line: usize,
            dry_run: bool,
            alerts: usize,
            open: usize,
            last: Option<AlertRow>,
        }
        let rules: Vec<RuleRow<'_>> = in_force
            .rules
            .iter()
            .map(|rule| {
                let of_rule = || alerts.iter().filter(|view| view.alert.rule_id == rule.id);
                RuleRow {
                    id: &rule.id,
                    title: &rule.title,
                    severity: rule.severity.as_str(),
                    file: &rule.file,
                    line: rule.line,
                    dry_run: rule.dry_run.unwrap_or(false),
                    alerts: of_rule().count(),
                    open: of_rule()
                        .filter(|view| view.state == haechi_respond::AlertState::Open)
                        .count(),
                    last: of_rule()
                        .max_by_key(|view| view.alert.last_time)
                        .map(AlertRow::of),
                }
            })
            .collect();
        let errors: Vec<String> = in_force
            .errors
            .iter()
            .map(|problem| problem.to_string())
            .collect();
        self.render(
            "rules.html",
            Some(frame),
            Some(Section::Rules),
            context! {
                rules => Serde(&rules),
                errors,
                digest => &in_force.digest,
                changed_at => in_force.changed_at.map(crate::views::when),
                sources => sources
                    .iter()
                    .map(|source| context! {
                        name => &source.name,
                        up => source.up,
                        failures => source.failures,
                        last_error => &source.last_error,
                        last_poll => source.last_poll.map(crate::views::when),
                        matched => source.matched,
                        clean => source.clean,
                        quarantined => source.quarantined,
                    })
                    .collect::<Vec<_>>(),
            },
        )
    }

    /// A page saying what went wrong (`frame`: the navigation, when signed in).
    pub fn error(
        &self,
        frame: Option<&Frame>,
        status: u16,
        message: &str,
    ) -> Result<String, Error> {
        self.render("error.html", frame, None, context! { status, message })
    }

    fn render(
        &self,
        name: &str,
        frame: Option<&Frame>,
        section: Option<Section>,
        page: Value,
    ) -> Result<String, Error> {
        let [css, js, icon] = &self.assets;
        let frame = frame.map(|frame| {
            context! {
                principal => &frame.principal,
                csrf => &frame.csrf,
                expires => crate::views::when(frame.expires),
            }
        });
        let context = context! {
            css => &css.path,
            js => &js.path,
            icon => &icon.path,
            frame,
            section => section.map(Serde),
            ..page
        };
        Ok(self.templates.get_template(name)?.render(context)?)
    }
}

/// What the act before a page did: done (after its redirect), or refused with a problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome<'a> {
    /// The act done.
    pub done: Option<Done>,
    /// Why the act was refused.
    pub problem: Option<&'a Problem>,
}

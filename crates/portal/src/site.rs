//! The pages: one minijinja environment holding the templates compiled into the binary, and
//! one function per page giving it what it shows.

use haechi_incident::IncidentStatement;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};

use crate::assets::{Asset, bundled};
use crate::exposures::ExposureReport;
use crate::views::{ReportView, StatementView};
use crate::words::{Lang, words};

/// What can go wrong rendering a page (a template bug: the tests render every page).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template failed to load or render.
    #[error("portal template: {0}")]
    Template(#[from] minijinja::Error),
}

/// Why the sign-in form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProblem {
    /// Wrong identifier or password, or no such account (never said apart).
    Failed,
    /// Too many attempts.
    Throttled,
}

pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("incident.html", include_str!("../templates/incident.html")),
    ("me.html", include_str!("../templates/me.html")),
    ("busy.html", include_str!("../templates/busy.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("verify.html", include_str!("../templates/verify.html")),
];

/// A notice in the customer's inbox: what was sent to them, as sent.
#[derive(Debug, Clone)]
pub struct InboxNotice {
    /// `sms`, `lms` or `email`.
    pub channel: &'static str,
    /// When it was sent.
    pub sent_at: haechi_events::Timestamp,
    /// Its text, code included.
    pub text: String,
}

#[derive(serde::Serialize)]
struct InboxView<'a> {
    channel: &'static str,
    sent_at: String,
    text: &'a str,
}

/// What the "is this from us?" page shows.
#[derive(Debug, Clone, Default)]
pub struct VerifyPage {
    /// The text as pasted (shown again in the form).
    pub text: String,
    /// Why the text could not be checked, in the page's language.
    pub problem: Option<String>,
    /// The verdict.
    pub result: Option<VerifyResult>,
}

/// A check's verdict, in words of the page's language.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyResult {
    /// `genuine`, `altered` or `not_ours`.
    pub verdict: &'static str,
    /// The notice as sent, when genuine.
    pub notice: Option<String>,
    /// The reasons, in the page's language.
    pub reasons: Vec<String>,
}

/// The portal's pages and assets.
pub struct Site {
    templates: Environment<'static>,
    assets: [Asset; 2],
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("assets", &self.assets)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// Loads the templates.
    pub fn new() -> Result<Site, Error> {
        let mut templates = Environment::new();
        // Every value printed is HTML-escaped, whatever the template's name.
        templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            templates.add_template(name, source)?;
        }
        Ok(Site {
            templates,
            assets: bundled(),
        })
    }

    /// The asset served at `path`, if any.
    pub fn asset(&self, path: &str) -> Option<&Asset> {
        self.assets.iter().find(|asset| asset.path == path)
    }

    /// The start page: the current statements' headlines, the anonymous check and the
    /// sign-in form (shown again with `problem` after a failed sign-in).
    pub fn home(
        &self,
        lang: Lang,
        statements: &[IncidentStatement],
        problem: Option<LoginProblem>,
    ) -> Result<String, Error> {
        let problem = problem.map(|problem| match problem {
            LoginProblem::Failed => "login_failed",
            LoginProblem::Throttled => "login_throttled",
        });
        self.page(
            "home.html",
            lang,
            "/portal/",
            statements,
            context! { problem },
        )
    }

    /// The incident page: each current statement in full, with its FAQ.
    pub fn incident(&self, lang: Lang, statements: &[IncidentStatement]) -> Result<String, Error> {
        self.page(
            "incident.html",
            lang,
            "/portal/incident",
            statements,
            context! {},
        )
    }

    /// The signed-in view.
    pub fn me(
        &self,
        lang: Lang,
        statements: &[IncidentStatement],
        report: &ExposureReport,
        notices: &[InboxNotice],
    ) -> Result<String, Error> {
        let report = Value::from(Serde(ReportView::new(report, lang)));
        let notices = Value::from(Serde(
            notices
                .iter()
                .map(|notice| InboxView {
                    channel: notice.channel,
                    sent_at: crate::views::korean_time(notice.sent_at),
                    text: &notice.text,
                })
                .collect::<Vec<_>>(),
        ));
        self.page(
            "me.html",
            lang,
            "/portal/me",
            statements,
            context! { report, notices },
        )
    }

    /// "Is this message from us?": the form, with the text checked and its verdict when there
    /// is one, or a problem with the text.
    pub fn verify(&self, lang: Lang, form: &VerifyPage) -> Result<String, Error> {
        self.page(
            "verify.html",
            lang,
            "/portal/verify",
            &[],
            context! {
                text => &form.text,
                problem => &form.problem,
                result => form.result.as_ref().map(|result| Value::from(Serde(result))),
            },
        )
    }

    /// The waiting page of a shed request: it tries `retry_path` again by itself after
    /// `retry_after` seconds (a meta refresh: no script needed).
    pub fn busy(&self, lang: Lang, retry_path: &str, retry_after: u64) -> Result<String, Error> {
        self.page(
            "busy.html",
            lang,
            retry_path,
            &[],
            context! { retry_after, retry_path },
        )
    }

    /// An error page saying `message` (already in the page's language or plain).
    pub fn error(&self, lang: Lang, status: u16, message: &str) -> Result<String, Error> {
        self.page(
            "error.html",
            lang,
            "/portal/",
            &[],
            context! { status, message },
        )
    }

    fn page(
        &self,
        template: &str,
        lang: Lang,
        path: &str,
        statements: &[IncidentStatement],
        extra: Value,
    ) -> Result<String, Error> {
        let statements = Value::from(Serde(
            statements
                .iter()
                .map(|statement| StatementView::new(statement, lang))
                .collect::<Vec<_>>(),
        ));
        let other = match lang {
            Lang::Ko => "en",
            Lang::En => "ko",
        };
        let base = context! {
            t => Value::from(Serde(words(lang))),
            lang => lang.code(),
            switch_href => format!("{path}?lang={other}"),
            query => if lang == Lang::En { "?lang=en" } else { "" },
            css => self.assets[0].path.clone(),
            script => self.assets[1].path.clone(),
            statements,
        };
        let template = self.templates.get_template(template)?;
        Ok(template.render(context! { ..base, ..extra })?)
    }
}

//! Is this text really from us? A smishing recogniser for pasted SMS and LMS texts.
//!
//! After a breach, scammers send texts that reuse the leaked names, phones and addresses and
//! borrow the company's name: "check your exposure", "claim compensation", 택배, 통관, 환불,
//! 보상금, 계정 정지. The company's own notices are few and predictable: they link only to the
//! company's domains, give only its own phone numbers, and never ask for a secret. A
//! [`Recogniser`] is built from that [`Profile`] and [`assess`](Recogniser::assess)es a text,
//! returning every [`Signal`] it found, each with a reason a customer understands (Korean
//! first: [`Signal::reason_ko`], [`Signal::reason_en`]).
//!
//! # Signals and their weights
//!
//! | signal | weight | why |
//! | --- | --- | --- |
//! | [`Signal::LookAlikeDomain`] (punycode, homoglyph, extra words, typo, other suffix) | 100 | made to pass for the company's address; never innocent |
//! | [`Signal::IpAddressLink`] | 60 | no organisation sends customers to a bare address |
//! | [`Signal::ForeignLink`] | 50 | the company links only to its own domains |
//! | [`Signal::ShortenedLink`] | 50 | hides where it leads; the company does not shorten its links |
//! | [`Signal::AsksForSecret`] | 50 | the company never asks for a password, card number, code … |
//! | [`Signal::AsksForAppInstall`] | 50 | the company never asks to install an app from a text |
//! | [`Signal::UnknownCallback`] | 25, or 50 if the text names the company | a number that is not the company's, in a text that claims to be the company's |
//! | [`Signal::AsksForMoney`] | 30 | a stranger's or "acquaintance's" request to send money |
//! | [`Signal::SentFromAbroad`] | 20 | the company sends from Korea; `[국외발신]` texts come from abroad |
//! | [`Signal::UrgencyLure`] | 20 each, at most 40 together | bait words; the company uses some of them too, so they never decide alone |
//!
//! A link or a phone number counts once however often it appears; the callback weight counts
//! once however many unknown numbers there are. [`Assessment::is_smishing`] is
//! `score >= 50` ([`SMISHING_THRESHOLD`]): a look-alike, foreign, shortened or IP link, a
//! request for a secret or an app install is enough alone; an unknown number is enough when the
//! text claims to be the company; weaker signals must come together (an unknown number and two
//! lures, say).
//!
//! "Smishing" here means "not a message from this company and trying to make you act". A
//! genuine text from another organisation that links to its own site is also reported: for a
//! customer asking "is this from 해치몰?", the honest answer is no.
//!
//! ```
//! use haechi_smishing::{Profile, Recogniser};
//!
//! let recogniser = Recogniser::new(Profile {
//!     company_domains: vec!["haechi-mall.co.kr".into()],
//!     brand_names: vec!["해치몰".into(), "haechi mall".into()],
//!     callback_numbers: vec!["1588-1234".into()],
//! })?;
//! let genuine = recogniser.assess("[해치몰] 개인정보 노출 안내. 상세: https://portal.haechi-mall.co.kr");
//! assert!(!genuine.is_smishing());
//! let fake = recogniser.assess("[해치몰] 피해보상 신청 https://haechi-mall-refund.com");
//! assert!(fake.is_smishing());
//! assert_eq!(fake.signals[0].code(), "look_alike_domain");
//! # Ok::<(), haechi_smishing::Error>(())
//! ```
//!
//! # Bounded work
//!
//! Only the first [`ASSESSED_BYTES`] bytes of a text are assessed (an SMS is 90 bytes, an LMS
//! 2,000); the [`Assessment::extent`] says when a text was cut. Every pattern is a `regex`
//! (linear time), and each text is scanned a fixed number of times.
//!
//! **Architecture invariant:** the crate does no IO, reads no clock and no network. The public
//! suffix list is compiled into the `psl` crate; whether a domain is registered or live is never
//! looked up.

#![forbid(unsafe_code)]

mod asks;
mod callbacks;
mod error;
mod links;
mod lookalike;
mod lures;
mod signal;
mod text;

use serde::Serialize;

pub use error::Error;
pub use links::{Link, LinkOwner};
pub use signal::{LookAlike, Secret, Signal};
pub use text::ASSESSED_BYTES;

/// The score from which [`Assessment::is_smishing`] answers yes.
pub const SMISHING_THRESHOLD: u32 = 50;

/// What the company's own messages look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Registrable domains the company owns, e.g. `haechi-mall.co.kr`; their subdomains are the
    /// company's too. Unicode or punycode, any case.
    pub company_domains: Vec<String>,
    /// The names customers know the company by, e.g. `해치몰`, `haechi mall`, `haechimall`.
    /// A domain that contains one of them, or nearly, is a look-alike.
    pub brand_names: Vec<String>,
    /// The company's phone numbers in any formatting (`1588-1234`, `02-123-4567`,
    /// `+82 2 123 4567`), including its opt-out (`080`) number if its texts carry one.
    pub callback_numbers: Vec<String>,
}

/// The registrable domain `host` belongs to (`portal.haechi-mall.co.kr` → `haechi-mall.co.kr`),
/// by the public suffix list; `None` for a public suffix or a name that is not a domain. What
/// a [`Profile`] lists, from a host the company configured elsewhere (its portal's).
pub fn registrable_domain(host: &str) -> Option<String> {
    psl::domain_str(&host.to_ascii_lowercase()).map(str::to_string)
}

/// Assesses texts against one company's [`Profile`]. Build once, share freely: assessing
/// borrows it immutably.
#[derive(Debug, Clone)]
pub struct Recogniser {
    company: lookalike::Company,
    callbacks: callbacks::KnownNumbers,
}

impl Recogniser {
    /// Checks the profile and prepares it for assessing: every domain must be a registrable
    /// domain (not a public suffix, not a subdomain), every number a phone number, every brand
    /// name non-empty, and there must be at least one domain.
    pub fn new(profile: Profile) -> Result<Recogniser, Error> {
        let company = lookalike::Company::new(&profile.company_domains, &profile.brand_names)?;
        let callbacks = callbacks::KnownNumbers::new(&profile.callback_numbers)?;
        Ok(Recogniser { company, callbacks })
    }

    /// Assesses one text: finds its links, phone numbers, requests and lures, and says which
    /// of them a genuine message of the company would not contain. Never fails and never
    /// panics; text past [`ASSESSED_BYTES`] is not read.
    pub fn assess(&self, text: &str) -> Assessment {
        let prepared = text::prepare(text);
        let mut links = links::find(&prepared.text);
        lookalike::mark_owners(&mut links, &self.company);
        let mut signals: Vec<Signal> = links
            .iter()
            .filter_map(|link| lookalike::classify(link, &self.company))
            .collect();
        signals.extend(asks::find(&prepared.text));
        let mention = self.company.mention_in(&prepared.text);
        signals.extend(self.callbacks.unknown_in(&prepared.text));
        if prepared.sent_from_abroad {
            signals.push(Signal::SentFromAbroad);
        }
        signals.extend(lures::find(&prepared.text));
        let score = score(&signals, mention);
        Assessment {
            signals,
            links,
            mention,
            extent: prepared.extent,
            score,
        }
    }

    /// The name the reasons use for the company: its first brand name, or else its first
    /// domain.
    pub fn company_name(&self) -> &str {
        self.company.display_name()
    }
}

/// Whether the assessed text names the company (one of its brand names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyMention {
    /// The text uses one of the company's brand names, so it claims to come from it or about it.
    Named,
    /// The text does not name the company.
    NotNamed,
}

/// How much of the text was assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "extent", rename_all = "snake_case")]
pub enum Extent {
    /// The whole text.
    Whole,
    /// Only the first `bytes` bytes: the text was longer than [`ASSESSED_BYTES`].
    FirstBytes {
        /// How many bytes of the text were assessed.
        bytes: usize,
    },
}

/// What [`Recogniser::assess`] found in one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Every reason the text is probably not the company's, strongest kinds first as found:
    /// links, requests, numbers, origin, lures.
    pub signals: Vec<Signal>,
    /// Every link or bare domain found, in order, each with its host and whether it is the
    /// company's.
    pub links: Vec<Link>,
    /// Whether the text names the company.
    pub mention: CompanyMention,
    /// Whether the whole text was assessed.
    pub extent: Extent,
    score: u32,
}

impl Assessment {
    /// The sum of the signals' weights (see the crate documentation for the table).
    pub fn score(&self) -> u32 {
        self.score
    }

    /// Whether the score reaches [`SMISHING_THRESHOLD`]: the text is probably not from the
    /// company and tries to make its reader act.
    pub fn is_smishing(&self) -> bool {
        self.score >= SMISHING_THRESHOLD
    }

    /// The reasons in Korean, naming the company (e.g. "해치몰의 주소가 아닌 곳(…)으로 연결하는
    /// 링크가 있습니다").
    pub fn reasons_ko(&self, company_name: &str) -> Vec<String> {
        self.signals
            .iter()
            .map(|signal| signal.reason_ko_naming(company_name))
            .collect()
    }

    /// The reasons in English, naming the company.
    pub fn reasons_en(&self, company_name: &str) -> Vec<String> {
        self.signals
            .iter()
            .map(|signal| signal.reason_en_naming(company_name))
            .collect()
    }
}

/// The most that lures add together: bait words alone never make a text smishing, because the
/// company's own texts use some of them (택배, 환불).
const LURES_CAP: u32 = 40;

fn score(signals: &[Signal], mention: CompanyMention) -> u32 {
    let mut total = 0;
    let mut lures = 0;
    let mut callback = 0;
    for signal in signals {
        match signal {
            Signal::LookAlikeDomain { .. } => total += 100,
            Signal::IpAddressLink { .. } => total += 60,
            Signal::ForeignLink { .. }
            | Signal::ShortenedLink { .. }
            | Signal::AsksForSecret { .. }
            | Signal::AsksForAppInstall => total += 50,
            Signal::AsksForMoney => total += 30,
            Signal::SentFromAbroad => total += 20,
            // An unknown number is what a real company's texts never carry when they name the
            // company; in anyone else's text it is only a number.
            Signal::UnknownCallback { .. } => {
                callback = match mention {
                    CompanyMention::Named => 50,
                    CompanyMention::NotNamed => 25,
                }
            }
            Signal::UrgencyLure { .. } => lures += 20,
        }
    }
    total + callback + lures.min(LURES_CAP)
}

#[cfg(test)]
mod tests;

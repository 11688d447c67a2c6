//! Haechi's breach notices: what each affected customer is told, and how they can tell a
//! genuine notice from a smisher's copy.
//!
//! After a breach the smishing comes with the same names and numbers the attacker took. A
//! notice therefore carries a code, `HC-XXXX-XXXX` (the Verified-SMS design): a MAC under the
//! company's notice key over the notice's id, its recipient and its canonical text, recorded
//! before the notice leaves. Pasted back into the portal, the text is **genuine** (its code
//! was made for exactly this text), **altered** (a real code on changed words) or **not
//! ours**. Formatting damage — `[Web발신]`, broken lines, spacing, full-width letters — is
//! not a change ([`canonical`]).
//!
//! - [`TemplateSet`], [`NoticeTemplates`]: the company's templates (minijinja), checked whole
//!   — the SMS within 90 EUC-KR bytes, the code printed once, no link but the portal.
//! - [`Notice`], [`NoticeStore`]: the outbox — one row per customer and channel, its facts
//!   (fields and dates, no personal data), its state and, once sealed, its code.
//! - [`NoticeKey`], [`NoticeCode`]: the code.
//! - [`judge`]: the check of a pasted text.
//!
//! # Architecture invariants
//! - **Pure domain.** No IO, no clock, no network: sending is `haechi-courier`'s.
//! - **No personal data in the outbox.** A notice's text is rendered from its batch's
//!   templates and its facts (field names, dates); its recipient appears only as a keyed tag.
//!   Contacts are decrypted by the worker that sends, at the moment it sends.
//! - **Recorded before sent.** A notice's code is in the outbox before any sink sees it, so
//!   every message that reached a customer can be verified.

#![forbid(unsafe_code)]

pub mod canonical;
mod code;
mod error;
mod ids;
mod links;
mod model;
mod store;
mod templates;
mod verify;

pub use code::{NoticeCode, NoticeKey};
pub use error::Error;
pub use ids::{Channel, NoticeId};
pub use model::{Notice, NoticeFacts, NoticeState, Seal};
pub use store::{Delivery, NoticeBatch, NoticeStore, OutboxCounts};
pub use templates::{
    EMAIL_MAX_BYTES, LMS_BUDGET_BYTES, NoticeTemplates, Rendered, SMS_BUDGET_BYTES, Sender,
    TemplateSet,
};
pub use verify::{Judgement, MAX_CODES_LOOKED_UP, codes_to_look_up, judge};

#[cfg(test)]
mod tests;

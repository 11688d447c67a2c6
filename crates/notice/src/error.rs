//! The notice crate's one error type.

/// What can go wrong with notices.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template that does not compile, render or pass the checks; names the file.
    #[error("notice template {template}: {message}")]
    BadTemplate {
        /// The template's file name (`lms.txt`).
        template: String,
        /// What is wrong.
        message: String,
    },
    /// Sender settings that cannot go on a notice (`[notice]`); names the member.
    #[error("[notice] {0}")]
    BadSender(String),
    /// What a customer's record says cannot make a notice (no field, an unknown one).
    #[error("{0}")]
    BadFacts(String),
    /// Not `sms`, `lms` or `email`.
    #[error("{0:?} is not a notice channel (sms, lms, email)")]
    BadChannel(String),
    /// Not a notice id (`NT-` and 16 hexadecimal digits).
    #[error("{0:?} is not a notice id")]
    BadNoticeId(String),
    /// Not a notice code (`HC-XXXX-XXXX`).
    #[error("{0:?} is not a notice code (HC-XXXX-XXXX)")]
    BadCode(String),
}

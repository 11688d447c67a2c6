//! Why a [`Profile`](crate::Profile) was refused.

/// A profile that cannot describe a company's messages. Assessing never fails: only building a
/// [`Recogniser`](crate::Recogniser) does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profile names no domain, so every link would be foreign and no look-alike could be
    /// recognised.
    #[error("the profile names no company domain")]
    NoCompanyDomain,
    /// The domain is not a valid host name (IDNA refused it, or it is empty).
    #[error("company domain {domain:?} is not a valid domain name")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
    },
    /// The domain is valid but not registrable: a public suffix (`co.kr`) or a subdomain
    /// (`portal.haechi-mall.co.kr`). The profile lists what the company registered; its
    /// subdomains are recognised from that.
    #[error("company domain {domain:?} is not a registrable domain (expected {expected:?})")]
    NotRegistrableDomain {
        /// The domain as given.
        domain: String,
        /// The registrable domain it belongs to, or empty for a public suffix.
        expected: String,
    },
    /// A brand name is empty or only spaces and punctuation.
    #[error("a brand name is empty")]
    EmptyBrandName,
    /// A callback number has characters other than digits, spaces, `-`, `.`, `(`, `)` and a
    /// leading `+`, or too few or too many digits for a Korean phone number.
    #[error("callback number {number:?} is not a phone number")]
    InvalidCallbackNumber {
        /// The number as given.
        number: String,
    },
}

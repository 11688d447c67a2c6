//! The company's identity (its domains and names) and the domains made to pass for it.
//!
//! A look-alike is judged on the registrable domain's label (`haechi-mall` in
//! `portal.haechi-mall.co.kr`) and suffix (`co.kr`), and on the whole host for added words:
//! - **homoglyph**: a different label with the same UTS #39 confusable skeleton
//!   (`haechi-rnall`, Cyrillic `hаechi-mall`); **punycode** when the text wrote it as `xn--…`;
//! - **other suffix**: the same name under another suffix (`haechi-mall.com`);
//! - **extra words**: a host that contains a brand name (`haechi-mall-refund.com`,
//!   `haechimall.co.kr.secure-login.xyz`); checked before typos, because containing the name
//!   is exact where an edit distance is a guess;
//! - **typo**: one or two edits from the name (`haechi-mal`), by optimal string alignment, so
//!   a swap of two letters is one edit. Names of four characters or fewer allow none, five to
//!   seven allow one: short names are one edit away from many innocent domains.

use unicode_normalization::UnicodeNormalization;

use crate::links::{Link, LinkOwner, SHORTENERS};
use crate::{CompanyMention, Error, LookAlike, Signal};

/// The company as the rules see it.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    domains: Vec<OwnDomain>,
    /// Brand names and domain labels without spaces, hyphens or dots, as skeletons: what a
    /// host must not contain.
    brand_skeletons: Vec<String>,
    /// Brand names as written and compacted, lower-cased: what a text that names the company
    /// contains.
    names: Vec<String>,
    /// Brand names without spaces or hyphens, ASCII only, long enough to compare by edit
    /// distance.
    ascii_brands: Vec<String>,
    display_name: String,
}

#[derive(Debug, Clone)]
struct OwnDomain {
    /// The registrable domain in ASCII.
    registrable: String,
    /// Its label before the suffix, in Unicode (`haechi-mall`).
    label: String,
    /// Its public suffix (`co.kr`).
    suffix: String,
    /// The label without hyphens (`haechimall`).
    compact: String,
    skeleton: String,
    compact_skeleton: String,
}

impl Company {
    pub(crate) fn new(domains: &[String], brand_names: &[String]) -> Result<Company, Error> {
        if domains.is_empty() {
            return Err(Error::NoCompanyDomain);
        }
        let domains = domains
            .iter()
            .map(|domain| OwnDomain::new(domain))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names = Vec::new();
        let mut brand_skeletons = Vec::new();
        let mut ascii_brands = Vec::new();
        for brand in brand_names {
            let written: String = brand.trim().nfkc().collect::<String>().to_lowercase();
            let compact = compact(&written);
            if compact.is_empty() {
                return Err(Error::EmptyBrandName);
            }
            if long_enough(&compact) {
                brand_skeletons.push(skeleton(&compact));
            }
            if compact.is_ascii() && compact.len() >= 6 {
                ascii_brands.push(compact.clone());
            }
            names.push(written);
            names.push(compact);
        }
        for domain in &domains {
            if long_enough(&domain.compact) {
                brand_skeletons.push(domain.compact_skeleton.clone());
            }
            names.push(domain.label.clone());
        }
        names.sort();
        names.dedup();
        brand_skeletons.sort();
        brand_skeletons.dedup();
        let display_name = brand_names
            .first()
            .map(|name| name.trim().to_owned())
            .or_else(|| domains.first().map(|domain| domain.registrable.clone()))
            .unwrap_or_default();
        Ok(Company {
            domains,
            brand_skeletons,
            names,
            ascii_brands,
            display_name,
        })
    }

    pub(crate) fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Whether a registrable domain (ASCII) is one of the company's.
    pub(crate) fn owns(&self, registrable: &str) -> bool {
        self.domains
            .iter()
            .any(|domain| domain.registrable == registrable)
    }

    /// Whether the prepared (lower-cased) text names the company.
    pub(crate) fn mention_in(&self, text: &str) -> CompanyMention {
        if self.names.iter().any(|name| text.contains(name.as_str())) {
            CompanyMention::Named
        } else {
            CompanyMention::NotNamed
        }
    }

    /// How a link that is not the company's imitates one of its domains, and which, if it
    /// does.
    pub(crate) fn resemblance(
        &self,
        link: &Link,
        registrable: &str,
    ) -> Option<(LookAlike, String)> {
        let suffix = psl::suffix_str(registrable).unwrap_or("");
        let ascii_label = registrable
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .unwrap_or(registrable);
        let label = idna::domain_to_unicode(ascii_label).0;
        let label_compact = compact(&label);
        let label_skeleton = skeleton(&label);
        let label_compact_skeleton = skeleton(&label_compact);

        let found = self
            .domains
            .iter()
            .find_map(|domain| {
                let confusable = (label != domain.label && label_skeleton == domain.skeleton)
                    || (label_compact != domain.compact
                        && label_compact_skeleton == domain.compact_skeleton);
                confusable.then_some((LookAlike::Homoglyph, domain))
            })
            .or_else(|| {
                self.domains.iter().find_map(|domain| {
                    let same_name = label == domain.label || label_compact == domain.compact;
                    if same_name && suffix != domain.suffix {
                        Some((LookAlike::OtherSuffix, domain))
                    } else if same_name {
                        // Only hyphens differ: `haechimall.co.kr` for `haechi-mall.co.kr`.
                        Some((LookAlike::Typo, domain))
                    } else {
                        None
                    }
                })
            })
            .or_else(|| {
                let host = idna::domain_to_unicode(&link.host).0;
                let host_skeleton = skeleton(&compact(&host));
                let extra = self
                    .brand_skeletons
                    .iter()
                    .any(|brand| host_skeleton.contains(brand.as_str()));
                extra
                    .then(|| {
                        self.domains
                            .first()
                            .map(|domain| (LookAlike::ExtraWords, domain))
                    })
                    .flatten()
            })
            .or_else(|| {
                self.domains.iter().find_map(|domain| {
                    let near = |name: &str, other: &str| {
                        let allowed = match other.chars().count() {
                            0..=4 => 0,
                            5..=7 => 1,
                            _ => 2,
                        };
                        (1..=allowed).contains(&strsim::osa_distance(name, other))
                    };
                    let typo = near(&label, &domain.label)
                        || near(&label_compact, &domain.compact)
                        || self
                            .ascii_brands
                            .iter()
                            .any(|brand| near(&label_compact, brand));
                    typo.then_some((LookAlike::Typo, domain))
                })
            });

        found.map(|(how, domain)| {
            // The text spelt the host in punycode: the customer saw `xn--…`, not the letters.
            let how = if link.text.contains("xn--") {
                LookAlike::Punycode
            } else {
                how
            };
            (how, domain.registrable.clone())
        })
    }
}

impl OwnDomain {
    fn new(given: &str) -> Result<OwnDomain, Error> {
        let invalid = || Error::InvalidDomain {
            domain: given.to_owned(),
        };
        let normalised: String = given.trim().nfkc().collect::<String>();
        let normalised = normalised.trim_end_matches('.');
        if normalised.is_empty() {
            return Err(invalid());
        }
        let ascii = idna::domain_to_ascii_strict(normalised).map_err(|_| invalid())?;
        if ascii.is_empty() {
            return Err(invalid());
        }
        let registrable = psl::domain_str(&ascii).ok_or_else(|| Error::NotRegistrableDomain {
            domain: given.to_owned(),
            expected: String::new(),
        })?;
        if registrable != ascii {
            return Err(Error::NotRegistrableDomain {
                domain: given.to_owned(),
                expected: registrable.to_owned(),
            });
        }
        let suffix = psl::suffix_str(&ascii).unwrap_or("").to_owned();
        let ascii_label = ascii
            .strip_suffix(suffix.as_str())
            .and_then(|label| label.strip_suffix('.'))
            .unwrap_or(&ascii);
        let label = idna::domain_to_unicode(ascii_label).0;
        let compact = compact(&label);
        Ok(OwnDomain {
            skeleton: skeleton(&label),
            compact_skeleton: skeleton(&compact),
            registrable: ascii,
            label,
            suffix,
            compact,
        })
    }
}

/// A name without the separators people and scammers vary: spaces, hyphens, dots, underscores.
fn compact(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '_'))
        .collect()
}

/// Short names (`mall`, `ab`) occur inside innocent hosts; a brand must be this long to count
/// as "contained". Korean syllables carry more, so three of them are enough.
fn long_enough(name: &str) -> bool {
    let count = name.chars().count();
    count >= 5 || (!name.is_ascii() && count >= 3)
}

/// The UTS #39 confusable skeleton, case-folded on both sides: two names with the same
/// skeleton look the same to a reader (`rn` and `m`, `а` and `a`, `1` and `l`, `0` and `o`).
pub(crate) fn skeleton(name: &str) -> String {
    unicode_security::skeleton(&name.to_lowercase())
        .collect::<String>()
        .to_lowercase()
}

/// What the company would never link to, if anything: an IP address, a shortener, a
/// look-alike of its domain or any other foreign domain, in that order (one signal per link).
pub(crate) fn classify(link: &Link, company: &Company) -> Option<Signal> {
    let host = link.host.clone();
    let Some(registrable) = link.registrable_domain.as_deref() else {
        return match link.owner {
            LinkOwner::Company => None,
            LinkOwner::Other => Some(Signal::IpAddressLink { host }),
        };
    };
    if company.owns(registrable) {
        return None;
    }
    if SHORTENERS.contains(&registrable) || SHORTENERS.contains(&host.as_str()) {
        return Some(Signal::ShortenedLink { host });
    }
    if let Some((how, resembles)) = company.resemblance(link, registrable) {
        return Some(Signal::LookAlikeDomain {
            host,
            resembles,
            how,
        });
    }
    Some(Signal::ForeignLink { host })
}

/// Marks the company's links; the rest stay [`LinkOwner::Other`].
pub(crate) fn mark_owners(links: &mut [Link], company: &Company) {
    for link in links {
        if link
            .registrable_domain
            .as_deref()
            .is_some_and(|domain| company.owns(domain))
        {
            link.owner = LinkOwner::Company;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkOwner;

    fn company() -> Company {
        let names = ["해치몰", "haechi mall", "haechimall"].map(String::from);
        match Company::new(&["haechi-mall.co.kr".to_owned()], &names) {
            Ok(company) => company,
            Err(error) => panic!("{error}"),
        }
    }

    fn check(text: &str, host: &str, expected: Option<LookAlike>) {
        let registrable = psl::domain_str(host).unwrap_or(host);
        let link = Link {
            text: text.to_owned(),
            host: host.to_owned(),
            registrable_domain: Some(registrable.to_owned()),
            owner: LinkOwner::Other,
        };
        let found = company()
            .resemblance(&link, registrable)
            .map(|(how, _)| how);
        assert_eq!(found, expected, "{host}");
    }

    #[test]
    fn each_kind_of_look_alike() {
        use LookAlike::*;
        check("haechi-rnall.co.kr", "haechi-rnall.co.kr", Some(Homoglyph));
        check(
            "hаechi-mall.co.kr",
            "xn--hechi-mall-zqi.co.kr",
            Some(Homoglyph),
        );
        check("haechi-ma11.co.kr", "haechi-ma11.co.kr", Some(Homoglyph));
        check(
            "xn--hechi-mall-zqi.co.kr",
            "xn--hechi-mall-zqi.co.kr",
            Some(Punycode),
        );
        check(
            "xn--haechimll-6yh.co.kr",
            "xn--haechimll-6yh.co.kr",
            Some(Punycode),
        );
        check("haechi-mall.com", "haechi-mall.com", Some(OtherSuffix));
        check("haechimall.com", "haechimall.com", Some(OtherSuffix));
        check("haechi-mal.co.kr", "haechi-mal.co.kr", Some(Typo));
        check("haehci-mall.co.kr", "haehci-mall.co.kr", Some(Typo));
        check("haechimall.co.kr", "haechimall.co.kr", Some(Typo));
        check(
            "haechi-mall-refund.com",
            "haechi-mall-refund.com",
            Some(ExtraWords),
        );
        let nested = "haechimall.co.kr.secure-login.xyz";
        check(nested, nested, Some(ExtraWords));
        check("xn--352bl37a89e.com", "xn--352bl37a89e.com", Some(Punycode));
    }

    #[test]
    fn unrelated_domains_do_not_resemble() {
        check("coupang.com", "coupang.com", None);
        check("mall.com", "mall.com", None);
        check("haechi.com", "haechi.com", None);
        check("naver.com", "naver.com", None);
    }

    #[test]
    fn profiles_are_checked() {
        let brands = ["해치몰".to_owned()];
        let refuse = |domain: &str| Company::new(&[domain.to_owned()], &brands).is_err();
        assert!(refuse("co.kr"));
        assert!(refuse("portal.haechi-mall.co.kr"));
        assert!(refuse(""));
        assert!(refuse("bad domain!.com"));
        assert!(!refuse("HAECHI-MALL.CO.KR"));
        assert!(Company::new(&[], &brands).is_err());
        assert!(Company::new(&["a-b.com".to_owned()], &[" - ".to_owned()]).is_err());
    }
}

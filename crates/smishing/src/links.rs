//! Finding links and bare domains in a text, and saying whose they are.
//!
//! Three shapes are found: `http(s)://…`, `www.…`, and bare domains (`haechi-mall-refund.com`),
//! plus bare IPv4 addresses. Hosts are read by the `url` crate as a browser reads them (so
//! `https://haechi-mall.co.kr@evil.top/` goes to `evil.top`, and `http://3232235777/` to an IP
//! address), and registrable domains come from the public suffix list (`psl`), so that
//! `foo.co.kr`'s registrable domain is `foo.co.kr` and not `co.kr`.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use url::{Host, Url};

/// One link or bare domain found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The link as found (after the text was normalised and lower-cased).
    pub text: String,
    /// Its host: a domain in ASCII (punycode for international names) or an IP address.
    pub host: String,
    /// The registrable domain of the host (`haechi-mall.co.kr` for
    /// `portal.haechi-mall.co.kr`), if it has one: an IP address has none.
    pub registrable_domain: Option<String>,
    /// Whether the link is the company's.
    pub owner: LinkOwner,
}

/// Whose a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkOwner {
    /// One of the company's domains or their subdomains.
    Company,
    /// Anyone else's.
    Other,
}

/// URL shorteners seen in Korean smishing, and the global ones. A link through one hides its
/// destination, which the company never needs to do.
pub(crate) const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.kr",
    "abit.ly",
    "han.gy",
    "han.gl",
    "me2.kr",
    "me2.do",
    "url.kr",
    "vo.la",
    "t.ly",
    "tinyurl.com",
    "goo.gl",
    "buly.kr",
    "c11.kr",
    "lrl.kr",
    "zrr.kr",
    "yun.kr",
    "ko.gl",
    "t.co",
    "is.gd",
    "v.gd",
    "ow.ly",
    "cutt.ly",
    "rebrand.ly",
    "shorturl.at",
    "rb.gy",
    "gg.gg",
    "s.id",
    "naver.me",
    "muz.so",
    "tny.im",
    "shorturl.me",
    "bit.do",
    "tiny.cc",
    "qrco.de",
];

/// `http(s)://` (and the defanged `hxxp(s)://`) up to a space or a character that cannot be in
/// a pasted link.
static WITH_SCHEME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?:https?|hxxps?)://([^\s<>"'`]+)"#).ok());

/// `www.` links, whose suffix need not be in the list: `www.` says it is a link.
static WITH_WWW: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#"www\.[^\s<>"'`]+"#).ok());

/// Bare domains: labels of Latin, Cyrillic, Greek letters and digits (the scripts homoglyphs
/// come from), ending in a letters-only or punycode suffix, and an optional path. Hangul is
/// left out: a Korean sentence glued to a dot (`안내.감사합니다`) is not a domain.
static BARE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let label = r"[0-9a-z\p{Latin}\p{Cyrillic}\p{Greek}](?:[0-9a-z\p{Latin}\p{Cyrillic}\p{Greek}-]{0,61}[0-9a-z\p{Latin}\p{Cyrillic}\p{Greek}])?";
    Regex::new(&format!(
        r#"(?:{label}\.)+(?:[a-z]{{2,24}}|xn--[0-9a-z-]{{2,59}})(?:[/?#:][^\s<>"'`]*)?"#
    ))
    .ok()
});

/// Bare IPv4 addresses, with an optional port and path.
static BARE_IP: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]{1,5})?(?:/[^\s<>"'`]*)?"#).ok()
});

/// Every link in the prepared text, in order of appearance, each host once.
pub(crate) fn find(text: &str) -> Vec<Link> {
    let mut found: Vec<(usize, Link)> = Vec::new();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let overlaps = |taken: &[(usize, usize)], start: usize, end: usize| {
        taken.iter().any(|&(s, e)| start < e && s < end)
    };
    if let Some(pattern) = WITH_SCHEME.as_ref() {
        for capture in pattern.captures_iter(text) {
            let (Some(whole), Some(rest)) = (capture.get(0), capture.get(1)) else {
                continue;
            };
            let candidate = trim_link(cut_glued_hangul(rest.as_str()));
            taken.push((whole.start(), rest.start() + candidate.len()));
            if let Some(link) = parse(candidate, SuffixRule::AnySuffix) {
                found.push((whole.start(), link));
            }
        }
    }
    for (pattern, rule) in [
        (&WITH_WWW, SuffixRule::AnySuffix),
        (&BARE_IP, SuffixRule::AnySuffix),
        (&BARE, SuffixRule::KnownSuffix),
    ] {
        let Some(pattern) = pattern.as_ref() else {
            continue;
        };
        for found_match in pattern.find_iter(text) {
            let (start, end) = (found_match.start(), found_match.end());
            if overlaps(&taken, start, end) || !stands_alone(text, start, end) {
                continue;
            }
            let candidate = trim_link(found_match.as_str());
            taken.push((start, start + candidate.len()));
            if let Some(link) = parse(candidate, rule) {
                found.push((start, link));
            }
        }
    }
    found.sort_by_key(|(start, _)| *start);
    let mut seen = HashSet::new();
    found
        .into_iter()
        .map(|(_, link)| link)
        .filter(|link| seen.insert(link.host.clone()))
        .collect()
}

/// Whether a bare domain must end in a suffix the public suffix list knows. Bare text like
/// `report.pdf` or `v2.final` is not a link; after `www.` or `://` anything is.
#[derive(Clone, Copy)]
enum SuffixRule {
    AnySuffix,
    KnownSuffix,
}

fn parse(candidate: &str, rule: SuffixRule) -> Option<Link> {
    let authority_end = candidate.find(['/', '?', '#']).unwrap_or(candidate.len());
    if candidate[..authority_end].is_empty() {
        return None;
    }
    let url = Url::parse(&format!("http://{candidate}")).ok()?;
    let (host, registrable_domain) = match url.host()? {
        Host::Ipv4(address) => (address.to_string(), None),
        Host::Ipv6(address) => (address.to_string(), None),
        Host::Domain(domain) => {
            let domain = domain.trim_end_matches('.');
            let registrable = match psl::domain(domain.as_bytes()) {
                Some(registrable) if registrable.suffix().is_known() => registrable.as_bytes(),
                Some(_) if matches!(rule, SuffixRule::KnownSuffix) => return None,
                Some(registrable) => registrable.as_bytes(),
                // A name that is all suffix (`co.kr`) or has one label (`intranet`) is a link
                // all the same after `://`; it is its own registrable domain.
                None if matches!(rule, SuffixRule::AnySuffix) => domain.as_bytes(),
                None => return None,
            };
            let registrable = std::str::from_utf8(registrable).ok()?;
            (domain.to_owned(), Some(registrable.to_owned()))
        }
    };
    Some(Link {
        text: candidate.to_owned(),
        host,
        registrable_domain,
        owner: LinkOwner::Other,
    })
}

/// A bare match must not be the tail or head of something larger: an e-mail address
/// (`help@haechi-mall.co.kr`), a longer word, or a number.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued = |c: char| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_');
    !before.is_some_and(glued) && !after.is_some_and(|c| glued(c) && c != '.')
}

/// In `https://portal.haechi-mall.co.kr에서`, the Korean particle is glued to the link: cut
/// the host's last label at its first Hangul letter, and drop whatever followed.
fn cut_glued_hangul(candidate: &str) -> &str {
    let authority_end = candidate.find(['/', '?', '#']).unwrap_or(candidate.len());
    let authority = &candidate[..authority_end];
    let last_label_start = authority.rfind('.').map_or(0, |dot| dot + 1);
    match authority[last_label_start..].find(is_hangul) {
        Some(offset) if offset > 0 => &candidate[..last_label_start + offset],
        _ => match candidate[authority_end..].find(is_hangul) {
            // A path may be Korean, but a Hangul run right after a path of ASCII is prose.
            Some(offset) => &candidate[..authority_end + offset],
            None => candidate,
        },
    }
}

fn is_hangul(character: char) -> bool {
    matches!(character, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

/// Punctuation that ends a sentence or closes a bracket is not part of the link.
fn trim_link(candidate: &str) -> &str {
    candidate.trim_end_matches(|c: char| {
        matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '>' | '\'' | '"' | '…' | '~'
        ) || !c.is_ascii() && !c.is_alphanumeric()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> Vec<String> {
        find(text).into_iter().map(|link| link.host).collect()
    }

    #[test]
    fn finds_every_shape_of_link() {
        let check = |text: &str, expected: &[&str]| assert_eq!(hosts(text), expected, "{text}");
        check(
            "상세: https://portal.haechi-mall.co.kr",
            &["portal.haechi-mall.co.kr"],
        );
        check(
            "https://portal.haechi-mall.co.kr에서 확인",
            &["portal.haechi-mall.co.kr"],
        );
        check("www.haechi-mall-cs.com 접속", &["www.haechi-mall-cs.com"]);
        check("신청: haechimall-refund.com", &["haechimall-refund.com"]);
        check("확인 han.gy/abc1", &["han.gy"]);
        check("http://112.175.29.14/hj", &["112.175.29.14"]);
        check("접속 112.175.29.14/hj", &["112.175.29.14"]);
        check("https://haechi-mall.co.kr@claim.top/x", &["claim.top"]);
        check("xn--haechimll-6yh.co.kr", &["xn--haechimll-6yh.co.kr"]);
        check("hаechi-mall.co.kr", &["xn--hechi-mall-zqi.co.kr"]);
        check("http://해치몰.com 보상", &["xn--352bl37a89e.com"]);
    }

    #[test]
    fn ignores_what_is_not_a_link() {
        let check = |text: &str| assert!(hosts(text).is_empty(), "{text}");
        check("메일 help@haechi-mall.co.kr 로");
        check("v2.0 배포, 3.5kg 택배, 1.5배");
        check("report.pdf 파일");
        check("2025.11.08 오후 3.30");
        check("안내드립니다.감사합니다");
        check("https://");
        check("http://[::1");
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        let links = find("https://portal.haechi-mall.co.kr https://a.b.example.com");
        let registrable: Vec<_> = links.iter().map(|l| l.registrable_domain.clone()).collect();
        assert_eq!(
            registrable,
            [
                Some("haechi-mall.co.kr".to_owned()),
                Some("example.com".to_owned())
            ]
        );
    }
}

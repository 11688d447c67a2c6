//! The one link a notice may carry: the portal's origin. Smishing lives on links, so a
//! genuine notice teaches customers one rule — the company's texts link to its portal and
//! nowhere else — and a template that breaks it is refused.

use std::sync::LazyLock;

use regex::Regex;

/// Anything a phone or a mail program would turn into a link: a scheme, `www.`, or a bare
/// host with a dot and a top-level label of letters (`example.co.kr`, `bit.ly`).
static LINKISH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:[a-z][a-z0-9+.\-]*://[^\s<>()]+|\bwww\.[^\s<>()]+|\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,}\b(?:[/:][^\s<>()]*)?)",
    )
    .ok()
});

/// Checks that every link in `text` is `portal_origin` or a path under it; the message
/// names the first that is not.
pub(crate) fn check_links(text: &str, portal_origin: &str) -> Result<(), String> {
    let Some(pattern) = LINKISH.as_ref() else {
        return Err("the link pattern failed to build".into());
    };
    let host = portal_origin
        .strip_prefix("https://")
        .unwrap_or(portal_origin)
        .to_ascii_lowercase();
    for found in pattern.find_iter(text) {
        let link = found.as_str().trim_end_matches(['.', ',', '"', '\'']);
        let lowered = link.to_ascii_lowercase();
        let allowed = lowered == portal_origin.to_ascii_lowercase()
            || lowered.starts_with(&format!("{}/", portal_origin.to_ascii_lowercase()))
            // The host alone, as the origin is printed without its scheme in a short text.
            || lowered == host
            || lowered.starts_with(&format!("{host}/"));
        if !allowed {
            return Err(format!(
                "links to {link:?}: a notice may link only to the portal ({portal_origin})"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: &str = "https://portal.haechi-mall.co.kr";

    #[test]
    fn only_the_portal_is_allowed() {
        for fine in [
            "자세한 내용: https://portal.haechi-mall.co.kr",
            "자세한 내용: https://portal.haechi-mall.co.kr/portal/me.",
            "portal.haechi-mall.co.kr 에서 확인",
            "<a href=\"https://portal.haechi-mall.co.kr\">여기</a>",
            "문의: 1588-1234, 확인코드 HC-0000-0000",
        ] {
            assert_eq!(check_links(fine, PORTAL), Ok(()), "{fine}");
        }
        for refused in [
            "https://haechi-mall.co.kr.refund.top",
            "http://portal.haechi-mall.co.kr",
            "www.haechi-mall.co.kr",
            "bit.ly/abc",
            "문의 help@haechi-mall.co.kr",
            "https://portal.haechi-mall.co.kr.evil.com/x",
            "<img src=\"https://cdn.example.com/logo.png\">",
        ] {
            assert!(check_links(refused, PORTAL).is_err(), "{refused}");
        }
    }
}

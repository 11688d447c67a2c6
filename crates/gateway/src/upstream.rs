//! The request a proxy asks about, as each proxy describes it:
//!
//! | proxy | method | host | path |
//! |---|---|---|---|
//! | nginx `auth_request` | `X-Original-Method` | `X-Original-Host`, else `Host` | `X-Original-URI` |
//! | Traefik `ForwardAuth` | `X-Forwarded-Method` | `X-Forwarded-Host` | `X-Forwarded-Uri` |
//! | Envoy HTTP `ext_authz` | the check's own method | `Host` (the original authority) | the check's path after `/v1/gateway/check` |
//!
//! nginx's headers are the ones the documented configuration sets (`docs/gateway.md`); they
//! come first, so a client cannot steer the decision with `X-Forwarded-*` headers nginx passes
//! through. The path is taken apart before any route sees it: the query goes, percent-encoded
//! unreserved characters are decoded (as the upstream will read them), and a path that could
//! mean two things — a `.` or `..` segment, an empty segment, an encoded `/` or `\`, a
//! control character — is refused, never normalised differently from the upstream.

use crate::Error;

/// Which proxy's convention described the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// nginx `auth_request` (`X-Original-*`).
    Nginx,
    /// Traefik `ForwardAuth` (`X-Forwarded-*`).
    Traefik,
    /// Envoy HTTP `ext_authz` (the path prefix, the method).
    Envoy,
}

impl Convention {
    /// `nginx`, `traefik` or `envoy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Convention::Nginx => "nginx",
            Convention::Traefik => "traefik",
            Convention::Envoy => "envoy",
        }
    }
}

/// The upstream request a check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The host asked for (lowercase).
    pub host: String,
    /// The method (uppercase).
    pub method: String,
    /// The path, without its query, unreserved characters decoded.
    pub path: String,
    /// Whose convention said so.
    pub convention: Convention,
}

/// The longest path taken.
const MAX_PATH: usize = 8192;

impl Upstream {
    /// The request described by `header` (a lookup by lowercase name), the check's own
    /// `method`, and — for Envoy — `suffix`, the check's path after `/v1/gateway/check`.
    pub fn describe<'a>(
        header: impl Fn(&str) -> Option<&'a str>,
        method: &str,
        suffix: Option<&str>,
    ) -> Result<Upstream, Error> {
        let missing = |name: &str, convention: &str| {
            Error::Upstream(format!("{convention}: the {name} header is missing"))
        };
        let (convention, method, host, uri) = if let Some(uri) = header("x-original-uri") {
            let method =
                header("x-original-method").ok_or_else(|| missing("X-Original-Method", "nginx"))?;
            let host = header("x-original-host")
                .or_else(|| header("host"))
                .ok_or_else(|| missing("Host", "nginx"))?;
            (Convention::Nginx, method, host, uri)
        } else if let Some(uri) = header("x-forwarded-uri") {
            let method = header("x-forwarded-method")
                .ok_or_else(|| missing("X-Forwarded-Method", "traefik"))?;
            let host =
                header("x-forwarded-host").ok_or_else(|| missing("X-Forwarded-Host", "traefik"))?;
            (Convention::Traefik, method, host, uri)
        } else if let Some(suffix) = suffix.filter(|suffix| !suffix.is_empty()) {
            let host = header("host").ok_or_else(|| missing("Host", "envoy"))?;
            (Convention::Envoy, method, host, suffix)
        } else {
            return Err(Error::Upstream(
                "no upstream request named: send X-Original-URI (nginx), X-Forwarded-Uri \
                 (Traefik), or the path after /v1/gateway/check (Envoy)"
                    .into(),
            ));
        };
        Ok(Upstream {
            host: host_of(host)?,
            method: method_of(method)?,
            path: path_of(uri)?,
            convention,
        })
    }
}

fn method_of(method: &str) -> Result<String, Error> {
    let method = method.trim();
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::Upstream(format!(
            "method {:?} is not an HTTP method",
            method.chars().take(20).collect::<String>()
        )));
    }
    Ok(method.to_ascii_uppercase())
}

fn host_of(host: &str) -> Result<String, Error> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid {
        return Err(Error::Upstream("the host is not a host name".into()));
    }
    Ok(host)
}

/// The path of `uri`, taken apart as the module says.
fn path_of(uri: &str) -> Result<String, Error> {
    let ambiguous = |why: &str| Error::Upstream(format!("the path is refused: {why}"));
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    if path.len() > MAX_PATH {
        return Err(ambiguous("too long"));
    }
    if !path.starts_with('/') {
        return Err(ambiguous("it is not absolute"));
    }
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| ambiguous("a bad percent-encoding"))?;
            match hex {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    decoded.push(char::from(hex));
                }
                b'/' | b'\\' => return Err(ambiguous("an encoded slash")),
                0..=0x1f | 0x7f => return Err(ambiguous("an encoded control character")),
                other => decoded.push_str(&format!("%{other:02X}")),
            }
            index += 3;
            continue;
        }
        if byte == b'\\' || byte.is_ascii_control() || !byte.is_ascii() {
            return Err(ambiguous(
                "a backslash, control character or raw non-ASCII byte",
            ));
        }
        decoded.push(char::from(byte));
        index += 1;
    }
    // Past the first `/`, every segment must be a name: no `.`, `..` or empty one (`//`),
    // except the empty one a trailing `/` leaves.
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    for (position, segment) in segments.iter().enumerate() {
        let last = position + 1 == segments.len();
        if *segment == "." || *segment == ".." || (segment.is_empty() && !last) {
            return Err(ambiguous("a '.', '..' or empty segment"));
        }
    }
    Ok(decoded)
}

//! The request a proxy asks about, in the convention of the proxy the policy names
//! (`[gateway] proxy`), and only that one:
//!
//! | proxy | method | host | path |
//! |---|---|---|---|
//! | `nginx` (`auth_request`) | `X-Original-Method` | `Host` | `X-Original-URI` |
//! | `traefik` (`ForwardAuth`) | `X-Forwarded-Method` | `X-Forwarded-Host` | `X-Forwarded-Uri` |
//! | `envoy` (HTTP `ext_authz`) | the check's own method | `Host` (the original authority) | the check's raw path after `/v1/gateway/check` |
//!
//! Reading one convention only means a header of another cannot steer the decision (a client
//! sending `X-Forwarded-Uri` through nginx, or `X-Original-URI` through Traefik). A header the
//! convention needs that is missing, repeated, or not plain text is refused, never passed
//! over. The path is taken apart before any route sees it: the query goes, percent-encoded
//! unreserved characters are decoded (as the upstream will read them), and a path that could
//! mean two things — a `.` or `..` segment, an empty segment, an encoded `/` or `\`, a `;`
//! parameter, a control character — is refused, never normalised differently from the upstream.

use crate::Error;

/// Which proxy's convention describes the requests (`[gateway] proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convention {
    /// nginx `auth_request` (`X-Original-*`): the default.
    #[default]
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

    /// The convention a policy names.
    pub fn parse(name: &str) -> Option<Self> {
        [Convention::Nginx, Convention::Traefik, Convention::Envoy]
            .into_iter()
            .find(|convention| convention.as_str() == name)
    }
}

/// A request header as the check reads it: absent, or its one value as plain text. A header
/// that is repeated or not plain text is an error, not an absence (else a client could hide
/// the proxy's header and have another read in its place).
pub type HeaderRead<'a> = Result<Option<&'a str>, ()>;

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
    /// The request `convention` describes with `header` (a lookup by lowercase name), the
    /// check's own `method`, and — for Envoy — `raw_suffix`, the check's path after
    /// `/v1/gateway/check` as it came (not percent-decoded).
    pub fn describe<'a>(
        convention: Convention,
        header: impl Fn(&str) -> HeaderRead<'a>,
        method: &str,
        raw_suffix: Option<&str>,
    ) -> Result<Upstream, Error> {
        let read = |name: &str| -> Result<&'a str, Error> {
            match header(name) {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(Error::Upstream(format!(
                    "{}: the {name} header is missing",
                    convention.as_str()
                ))),
                Err(()) => Err(Error::Upstream(format!(
                    "{}: the {name} header is repeated or not plain text",
                    convention.as_str()
                ))),
            }
        };
        let (method, host, uri) = match convention {
            Convention::Nginx => (
                read("x-original-method")?,
                read("host")?,
                read("x-original-uri")?,
            ),
            Convention::Traefik => (
                read("x-forwarded-method")?,
                read("x-forwarded-host")?,
                read("x-forwarded-uri")?,
            ),
            Convention::Envoy => {
                let suffix = raw_suffix
                    .filter(|suffix| !suffix.is_empty())
                    .ok_or_else(|| {
                        Error::Upstream(
                            "envoy: no path after /v1/gateway/check (set path_prefix)".into(),
                        )
                    })?;
                (method, read("host")?, suffix)
            }
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
                b'/' | b'\\' | b';' => return Err(ambiguous("an encoded slash or ';'")),
                0..=0x1f | 0x7f => return Err(ambiguous("an encoded control character")),
                other => decoded.push_str(&format!("%{other:02X}")),
            }
            index += 3;
            continue;
        }
        if byte == b'\\' || byte == b';' || byte.is_ascii_control() || !byte.is_ascii() {
            return Err(ambiguous(
                "a backslash, ';' parameter, control character or raw non-ASCII byte",
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

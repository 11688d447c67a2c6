//! The portal's static files, compiled into the binary and served from memory under names
//! that carry a digest of their content: a name never changes meaning, so browsers and any CDN
//! may keep them forever (`immutable`), and a new release is new names.

use sha2::{Digest, Sha256};

/// One static file.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Where it is served: `/portal/assets/NAME.DIGEST.EXT` (or the console's directory).
    pub path: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// Its strong `ETag` (quoted).
    pub etag: String,
}

/// The stylesheet.
const CSS: &[u8] = include_bytes!("../assets/portal.css");
/// The anonymous check: the page's script and, bundled with it at build time by
/// `scripts/build-portal-js` (esbuild), @cloudflare/voprf-ts and its noble provider.
const CHECK_JS: &[u8] = include_bytes!("../assets/check.js");

/// The stylesheet and the check's script, in that order.
pub(crate) fn bundled() -> [Asset; 2] {
    [
        Asset::hashed(
            "/portal/assets",
            "portal",
            "css",
            "text/css; charset=utf-8",
            CSS,
        ),
        Asset::hashed(
            "/portal/assets",
            "check",
            "js",
            "text/javascript; charset=utf-8",
            CHECK_JS,
        ),
    ]
}

impl Asset {
    /// `body` served under `DIR/STEM.DIGEST.EXTENSION` (`dir` without its trailing slash):
    /// the responder console's assets are named the same way.
    pub fn hashed(
        dir: &str,
        stem: &str,
        extension: &str,
        content_type: &'static str,
        body: &'static [u8],
    ) -> Asset {
        let digest = hex::encode(&Sha256::digest(body)[..8]);
        Asset {
            path: format!("{dir}/{stem}.{digest}.{extension}"),
            content_type,
            body,
            etag: format!("\"{digest}\""),
        }
    }
}

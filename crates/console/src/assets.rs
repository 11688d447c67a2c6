//! The console's static files, compiled in and named by a digest of their content (as the
//! portal's are), so they are cached for good and a release is new names.

use haechi_portal::Asset;

const CSS: &[u8] = include_bytes!("../assets/console.css");
/// Live alerts (an `EventSource` on `/console/alerts/stream`) and the confirmations of the
/// acts that cannot be undone. No framework, nothing bundled.
const JS: &[u8] = include_bytes!("../assets/console.js");

/// The tab's icon (a browser asks for one; without it, `/favicon.ico` is a 404 on every page).
const ICON: &[u8] = include_bytes!("../assets/icon.svg");

/// The stylesheet, the script and the icon, in that order.
pub(crate) fn bundled() -> [Asset; 3] {
    [
        Asset::hashed(
            "/console/assets",
            "console",
            "css",
            "text/css; charset=utf-8",
            CSS,
        ),
        Asset::hashed(
            "/console/assets",
            "console",
            "js",
            "text/javascript; charset=utf-8",
            JS,
        ),
        Asset::hashed("/console/assets", "icon", "svg", "image/svg+xml", ICON),
    ]
}

//! Where leaked material appears, and how new items are found and fetched there: a drop
//! directory that analysts and crawlers save files into, or an HTTP(S) feed that lists items
//! (JSON lines, or a directory-style index such as nginx's autoindex).
//!
//! Every read is bounded: an item larger than the limit is not read past it, a listing is
//! capped, and every request has a timeout — an endless stream or a hanging server costs one
//! item its timeout, never the other sources their turn.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use haechi_leak::watch_ledger::FeedValidators;

/// The most a feed's listing may be.
const MAX_LISTING_BYTES: u64 = 16 * 1024 * 1024;
/// The most entries of one listing (a directory's files, a feed's addresses) looked at in a
/// poll: about 150 MB of names at most. Past it the rest of a directory is not seen (its
/// health says so) until finished files are moved away.
pub(crate) const MAX_LISTED: usize = 1_000_000;
/// The longest address a listing may name.
const MAX_ADDRESS_BYTES: usize = 2048;
/// The most addresses taken from one feed listing (the rest are looked at once the listing
/// has moved on): a 16 MiB listing of short links would otherwise be millions of addresses.
const MAX_FEED_LISTED: usize = 100_000;
/// The longest validator (`ETag`, `Last-Modified`) kept; a longer one is not sent back.
const MAX_VALIDATOR_BYTES: usize = 256;
/// The longest item name kept (in records, logs and the ledger).
const MAX_NAME_CHARS: usize = 200;
/// How long a file in a drop directory must stand unchanged before it is read: a crawler may
/// still be writing it.
const SETTLE: Duration = Duration::from_secs(1);

/// A source, as configured.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Its name in events, metrics and the ledger.
    pub name: String,
    /// Where it is.
    pub kind: SourceKind,
}

/// The kinds of source.
#[derive(Clone)]
pub enum SourceKind {
    /// A local directory. Haechi only reads it: finished and poisoned files alike stay where
    /// they are (it never moves or writes anything in a directory others write to).
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// An HTTP(S) feed listing items. Only items on the feed's own origin are fetched, and
    /// redirects are followed within it only: a listing cannot send Haechi to another host
    /// (an internal address, a cloud's metadata service).
    Feed {
        /// The listing's address.
        url: url::Url,
        /// The `Authorization` header's value (from a secret file), sent to the feed's own
        /// origin only.
        authorization: Option<Zeroizing<String>>,
        /// Which authorities its certificate may come from.
        trust: haechi_outbound::Trust,
    },
}

impl std::fmt::Debug for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceKind::Directory { path } => {
                f.debug_struct("Directory").field("path", path).finish()
            }
            SourceKind::Feed { url, trust, .. } => f
                .debug_struct("Feed")
                .field("url", &url.as_str())
                .field("authorization", &"[redacted]")
                .field("trust", trust)
                .finish(),
        }
    }
}

/// An item a listing named, not yet fetched.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// What the ledger remembers it by (a file's name, size and time; a feed item's address).
    pub key: String,
    /// Its name in events.
    pub name: String,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    Url(url::Url),
}

/// A listing: every item it names (oldest first for a directory, in listed order for a feed,
/// at most [`MAX_LISTED`]), fetched before or not, and for a feed the validators to remember
/// once the new ones are all done.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub items: Vec<Listed>,
    /// Addresses refused: on another origin, or too long.
    pub refused: usize,
    /// More entries than [`MAX_LISTED`]: the rest were not looked at.
    pub cut: bool,
    pub validators: FeedValidators,
}

/// What fetching an item gave.
pub(crate) enum Fetched {
    Bytes(Vec<u8>),
    /// It is larger than the limit (and was not read past it).
    TooLarge,
    /// It could not be fetched, repeatedly (why).
    Failed(String),
}

/// Why a source could not be polled (it is backed off, and its health says so).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Http(String),
}

impl SourceKind {
    /// The items the source lists now (a feed asked with `validators`: an unchanged listing
    /// is an empty one), within `timeout` (a feed's client has it as its own).
    pub(crate) async fn list(
        &self,
        validators: &FeedValidators,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Listing, SourceError> {
        match self {
            SourceKind::Directory { path } => {
                let path = path.clone();
                let listing = tokio::task::spawn_blocking(move || list_directory(&path));
                // A directory on a hanging mount fails its poll (and is backed off) instead
                // of holding its source's task.
                match tokio::time::timeout(timeout, listing).await {
                    Ok(listed) => {
                        listed.map_err(|error| SourceError::Io(std::io::Error::other(error)))?
                    }
                    Err(_) => Err(SourceError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "listing the directory took longer than fetch_timeout",
                    ))),
                }
            }
            SourceKind::Feed {
                url, authorization, ..
            } => list_feed(url, authorization.as_ref(), validators, client).await,
        }
    }

    /// The bytes of `item`, at most `limit`.
    pub(crate) async fn fetch(
        &self,
        item: &Listed,
        client: &reqwest::Client,
        limit: u64,
        timeout: Duration,
    ) -> Result<Fetched, SourceError> {
        match (&item.location, self) {
            (Location::File(path), _) => {
                let path = path.clone();
                let read = tokio::task::spawn_blocking(move || read_bounded(&path, limit));
                // A file on a hanging mount costs this item its timeout, not the watch.
                match tokio::time::timeout(timeout, read).await {
                    Ok(read) => {
                        read.map_err(|error| SourceError::Io(std::io::Error::other(error)))?
                    }
                    Err(_) => Err(SourceError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "reading the file took longer than fetch_timeout",
                    ))),
                }
            }
            (
                Location::Url(address),
                SourceKind::Feed {
                    url, authorization, ..
                },
            ) => {
                let mut request = client.get(address.clone()).timeout(timeout);
                if let Some(value) = authorization
                    && address.origin() == url.origin()
                {
                    request = request.header(reqwest::header::AUTHORIZATION, value.as_str());
                }
                let response = request.send().await.map_err(http)?;
                if !response.status().is_success() {
                    return Err(SourceError::Http(format!(
                        "{} answered {}",
                        without_query(address),
                        response.status()
                    )));
                }
                read_body(response, limit).await
            }
            (Location::Url(_), SourceKind::Directory { .. }) => {
                Err(SourceError::Http("a directory lists no addresses".into()))
            }
        }
    }
}

fn http(error: reqwest::Error) -> SourceError {
    // The error names the address and what failed, never a header (the authorization).
    SourceError::Http(error.without_url().to_string())
}

fn list_directory(path: &Path) -> Result<Listing, SourceError> {
    let now = SystemTime::now();
    let (mut found, mut cut) = (Vec::new(), false);
    for entry in std::fs::read_dir(path)? {
        if found.len() == MAX_LISTED {
            cut = true;
            break;
        }
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Regular files only: a link could point anywhere on this machine. A file gone since
        // the listing (renamed, deleted) is simply not there.
        let metadata = match entry.path().symlink_metadata() {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error.into()),
        };
        if !metadata.file_type().is_file() {
            continue;
        }
        let modified = metadata.modified()?;
        if now.duration_since(modified).unwrap_or_default() < SETTLE {
            continue;
        }
        let stamp = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        found.push((
            modified,
            Listed {
                key: format!("{name}|{}|{stamp}", metadata.len()),
                name: clean_name(&name),
                location: Location::File(entry.path()),
            },
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    Ok(Listing {
        items: found.into_iter().map(|(_, item)| item).collect(),
        refused: 0,
        cut,
        validators: FeedValidators::default(),
    })
}

async fn list_feed(
    url: &url::Url,
    authorization: Option<&Zeroizing<String>>,
    validators: &FeedValidators,
    client: &reqwest::Client,
) -> Result<Listing, SourceError> {
    let mut request = client.get(url.clone());
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value.as_str());
    }
    if let Some(etag) = &validators.etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    if let Some(since) = &validators.last_modified {
        request = request.header(reqwest::header::IF_MODIFIED_SINCE, since);
    }
    let response = request.send().await.map_err(http)?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Listing::default());
    }
    if !response.status().is_success() {
        return Err(SourceError::Http(format!(
            "the listing answered {}",
            response.status()
        )));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| value.len() <= MAX_VALIDATOR_BYTES)
            .map(str::to_string)
    };
    let validators = FeedValidators {
        etag: header(reqwest::header::ETAG),
        last_modified: header(reqwest::header::LAST_MODIFIED),
    };
    let Fetched::Bytes(body) = read_body(response, MAX_LISTING_BYTES).await? else {
        return Err(SourceError::Http(format!(
            "the listing is larger than {MAX_LISTING_BYTES} bytes"
        )));
    };
    let text = String::from_utf8_lossy(&body);
    let (mut items, mut keys, mut refused, mut cut) =
        (Vec::new(), std::collections::HashSet::new(), 0, false);
    for address in listed_addresses(&text, url) {
        if address.origin() != url.origin() || address.as_str().len() > MAX_ADDRESS_BYTES {
            refused += 1;
            continue;
        }
        let key = address.to_string();
        if !keys.insert(key.clone()) {
            continue;
        }
        if items.len() == MAX_LISTED {
            cut = true;
            break;
        }
        let name = address
            .path_segments()
            .and_then(|mut segments| segments.next_back().map(str::to_string))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| address.path().to_string());
        items.push(Listed {
            key,
            name: clean_name(&name),
            location: Location::Url(address),
        });
    }
    Ok(Listing {
        items,
        refused,
        cut,
        validators,
    })
}

/// `address` as errors and records show it: without its query or fragment, where a signed
/// address carries its token.
fn without_query(address: &url::Url) -> String {
    let mut shown = address.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The items a listing names (at most [`MAX_FEED_LISTED`]), resolved against the feed's
/// address; `http(s)` only. JSON lines (`{"url": …}` per line) when the listing starts with
/// `{`, else the links of an HTML index (`href="…"`), without parent, sibling-query or
/// sub-directory links.
pub(crate) fn listed_addresses(text: &str, base: &url::Url) -> Vec<url::Url> {
    let resolve = |link: &str| {
        base.join(link)
            .ok()
            .filter(|address| matches!(address.scheme(), "http" | "https"))
    };
    if text.trim_start().starts_with('{') {
        return text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|entry| entry.get("url")?.as_str().and_then(resolve))
            .take(MAX_FEED_LISTED)
            .collect();
    }
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("href=\"") {
        rest = &rest[start + 6..];
        let Some(end) = rest.find('"') else { break };
        let link = &rest[..end];
        rest = &rest[end..];
        let skipped = link.is_empty()
            || link.starts_with(['?', '#'])
            || link.starts_with("../")
            || link.ends_with('/');
        if !skipped && let Some(address) = resolve(link) {
            found.push(address);
            if found.len() == MAX_FEED_LISTED {
                break;
            }
        }
    }
    found
}

/// An item's name as records, logs and the ledger show it: at most 200 characters, control
/// and direction-changing characters replaced (a file name cannot forge a log line).
pub(crate) fn clean_name(name: &str) -> String {
    name.chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi { '?' } else { c }
        })
        .collect()
}

/// Reads a drop directory's file: opened without following a link (one swapped in since the
/// listing) and without blocking (a FIFO), and read only if the opened handle is a regular
/// file.
fn read_bounded(path: &Path, limit: u64) -> Result<Fetched, SourceError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(SourceError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Fetched::TooLarge);
    }
    Ok(Fetched::Bytes(bytes))
}

async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Fetched, SourceError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Ok(Fetched::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Ok(Fetched::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_names_items_by_json_lines_or_by_an_index_s_links() {
        let base = url::Url::parse("https://feed.example/drops/").unwrap();
        let lines = "{\"url\": \"a.csv\"}\n{\"url\": \"https://cdn.example/b.txt\"}\nnot json\n\
                     {\"url\": \"file:///etc/passwd\"}\n{\"id\": 3}\n";
        let found: Vec<String> = listed_addresses(lines, &base)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            found,
            [
                "https://feed.example/drops/a.csv",
                "https://cdn.example/b.txt"
            ]
        );
        let index = r#"<a href="../">../</a><a href="?C=M">sort</a><a href="old/">old/</a>
                       <a href="dump%201.csv">dump 1.csv</a><a href="javascript:x">x</a>"#;
        let found: Vec<String> = listed_addresses(index, &base)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(found, ["https://feed.example/drops/dump%201.csv"]);
    }

    #[test]
    fn a_file_over_the_limit_is_not_read_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 100]).unwrap();
        assert!(matches!(read_bounded(&path, 99), Ok(Fetched::TooLarge)));
        assert!(
            matches!(read_bounded(&path, 100), Ok(Fetched::Bytes(bytes)) if bytes.len() == 100)
        );
    }
}

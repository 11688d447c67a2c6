//! Leak watch as a service through the real binary: `haechi serve` with a drop directory and a
//! local HTTP feed as `[[leakwatch.source]]`s. A dump that appears is matched and raised as one
//! incident within a poll or two; the same item again raises nothing, also after a restart;
//! hostile items are quarantined with their reason; a feed that is down is backed off and
//! used once it is up, with conditional requests and its credential.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::leak::{CUSTOMERS, vault_with_customers};
use crate::util::{Instance, Server, contains, files_under};

/// A dump holding two of the vault's customers and one stranger.
pub(crate) fn dump() -> String {
    format!(
        "email,phone\n{},{}\n{},{}\nnobody@example.com,010-1111-2222\n",
        CUSTOMERS[0].1, CUSTOMERS[0].2, CUSTOMERS[1].1, CUSTOMERS[1].2
    )
}

/// Puts `bytes` into `dir` as `name` the way a crawler should: written aside, then renamed.
pub(crate) fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let staging = dir.join(format!(".{name}.partial"));
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(staging, dir.join(name)).unwrap();
}

/// The `leak.item_scanned` records so far.
fn scanned(server: &Server) -> Vec<Value> {
    server.events_of("leak.item_scanned")
}

pub(crate) fn configure(instance: &Instance, sources: &str) {
    std::fs::write(
        instance.dir.path().join("haechi.toml"),
        format!("[leakwatch]\ninterval = \"1s\"\nmax_item_mib = 1\nitems_per_poll = 10\n{sources}"),
    )
    .unwrap();
}

#[tokio::test]
async fn a_dropped_dump_is_one_incident_the_same_item_again_nothing_and_poison_is_quarantined() {
    let (instance, ids) = vault_with_customers();
    let admin = instance.create_admin("root");
    let drop = instance.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    configure(
        &instance,
        &format!(
            "[[leakwatch.source]]\nname = \"analysts\"\ndirectory = \"{}\"\n",
            drop.display()
        ),
    );
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;

    let started = Instant::now();
    drop_file(&drop, "shop-dump.csv", dump().as_bytes());
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "alert.raised"
                && event["detail"]["rule_id"] == "haechi.leak.confirmed_match"
        })
    });
    // Settling (1 s) and a poll interval (1 s), with room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(15));
    let item = events
        .iter()
        .find(|event| event["kind"] == "leak.item_scanned")
        .unwrap();
    assert_eq!(item["reason"], "matched", "{item:#}");
    assert_eq!(item["detail"]["customers"], "2");
    assert_eq!(item["detail"]["source"], "analysts");
    assert_eq!(item["detail"]["item"], "shop-dump.csv");
    assert_eq!(item["principal"], "admin:haechi-leakwatch");
    let matched: Vec<&str> = events
        .iter()
        .filter(|event| event["kind"] == "leak.matched")
        .map(|event| event["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(matched.len(), 2);
    assert!(matched.contains(&ids[0].as_str()) && matched.contains(&ids[1].as_str()));

    // One incident for the item, with its two customers.
    let deadline = Instant::now() + Duration::from_secs(15);
    let incident = loop {
        let (status, body) = server.get_with("/v1/admin/incidents", &admin_token).await;
        assert_eq!(status, 200, "{body}");
        let found = body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|incident| {
                incident["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|rule| rule == "haechi.leak.confirmed_match")
                })
            });
        if let Some(incident) = found.filter(|incident| incident["customers"] == 2) {
            break incident.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no incident for the item: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(incident["alert_count"], 1, "{incident:#}");

    // The console's rules page shows the source and what came of its items.
    let client = crate::console::browserless();
    let (cookie, _) = crate::console::sign_in(&server, &client, &admin).await;
    let page = client
        .get(server.url("/console/rules"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = page
        .split("data-source=\"analysts\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no leak source row: {page}"));
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("up") && row.contains("<td>1</td>"), "{row}");

    // The same dump again, under another name: nothing is raised.
    drop_file(&drop, "shop-dump-copy.csv", dump().as_bytes());
    // Poison: an archive (never unpacked), binary, UTF-16, and an item over the 1 MiB limit.
    drop_file(
        &drop,
        "dump.csv.gz",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03bomb",
    );
    drop_file(
        &drop,
        "blob.bin",
        &[0u8, 159, 146, 150, 0, 1, 2, 3, 0, 0, 7, 8].repeat(64),
    );
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(dump().encode_utf16().flat_map(u16::to_le_bytes));
    drop_file(&drop, "utf16.csv", &utf16);
    drop_file(&drop, "huge.csv", &vec![b'a'; 2 * 1024 * 1024]);
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| {
                event["kind"] == "leak.item_scanned" && event["reason"] == "quarantined"
            })
            .count()
            >= 4
    });
    let quarantined: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["kind"] == "leak.item_scanned" && event["reason"] == "quarantined")
        .map(|event| {
            (
                event["detail"]["item"].as_str().unwrap(),
                event["detail"]["quarantine"].as_str().unwrap(),
            )
        })
        .collect();
    for (item, words) in [
        ("dump.csv.gz", "compressed (gzip)"),
        ("blob.bin", "does not look like text"),
        ("utf16.csv", "UTF-16"),
        ("huge.csv", "larger than"),
    ] {
        let reason = quarantined
            .iter()
            .find(|(name, _)| *name == item)
            .unwrap_or_else(|| panic!("{item} not quarantined: {quarantined:?}"))
            .1;
        assert!(reason.contains(words), "{item}: {reason}");
        // Haechi only reads a drop directory: the file stays where it was.
        assert!(drop.join(item).exists(), "{item} left in place");
    }
    // The copy was read (it settled before the poisoned ones) and recognised by its digest:
    // no record and no second alert.
    assert_eq!(
        scanned(&server)
            .iter()
            .filter(|event| event["reason"] == "matched")
            .count(),
        1
    );
    let alerts = || {
        server
            .events_of("alert.raised")
            .into_iter()
            .filter(|event| event["detail"]["rule_id"] == "haechi.leak.confirmed_match")
            .count()
    };
    assert_eq!(alerts(), 1);
    // The four refused items ask an analyst to look, once for the source.
    let is_refusal = |event: &Value| {
        event["kind"] == "alert.raised"
            && event["detail"]["rule_id"] == "haechi.leak.item_quarantined"
    };
    let events = server.wait_for_events(|events| events.iter().any(is_refusal));
    let refusals = events.iter().filter(|event| is_refusal(event)).count();
    assert_eq!(refusals, 1, "{events:#?}");

    // Nothing of the dump is on disk: not in the data directory, not in the watch's ledger.
    for file in files_under(&instance.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for (_, email, _) in &CUSTOMERS[..2] {
            assert!(!contains(&bytes, email.as_bytes()), "{}", file.display());
        }
        assert!(
            !contains(&bytes, b"nobody@example.com"),
            "{}",
            file.display()
        );
    }

    // A restart resumes: nothing is scanned or raised again (the new process's records are
    // what it prints).
    server.terminate();
    let server = instance.serve();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(scanned(&server).is_empty(), "{:#?}", scanned(&server));
    let raised = server
        .events_of("alert.raised")
        .into_iter()
        .filter(|event| event["detail"]["rule_id"] == "haechi.leak.confirmed_match")
        .count();
    assert_eq!(raised, 0);
}

/// A feed of one item that needs `Bearer feed-secret`, down until `up` is set; counts its
/// listings answered 304.
async fn feed(
    listener: tokio::net::TcpListener,
    not_modified: Arc<AtomicUsize>,
    item_fetches: Arc<AtomicUsize>,
) {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    let listing = {
        let not_modified = not_modified.clone();
        move |headers: HeaderMap| async move {
            if headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                != Some("Bearer feed-secret")
            {
                return (StatusCode::UNAUTHORIZED, HeaderMap::new(), String::new());
            }
            let mut answer = HeaderMap::new();
            answer.insert(header::ETAG, "\"v1\"".parse().unwrap());
            if headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                == Some("\"v1\"")
            {
                not_modified.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::NOT_MODIFIED, answer, String::new());
            }
            let listing = "{\"url\": \"items/paste-1.csv\"}\n{\"url\": \"items/endless.txt\"}\n";
            (StatusCode::OK, answer, listing.to_string())
        }
    };
    let item = move |headers: HeaderMap| async move {
        item_fetches.fetch_add(1, Ordering::SeqCst);
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some("Bearer feed-secret")
        {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        (StatusCode::OK, dump())
    };
    // An item that never ends: read up to the 1 MiB limit, then quarantined.
    let endless = || async {
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        let stream =
            futures::StreamExt::map(futures::stream::repeat(chunk), Ok::<_, std::io::Error>);
        axum::body::Body::from_stream(stream)
    };
    let app = axum::Router::new()
        .route("/index.jsonl", get(listing))
        .route("/items/paste-1.csv", get(item))
        .route("/items/endless.txt", get(endless));
    axum::serve(listener, app).await.unwrap();
}

// Two workers: the feed runs on this runtime while the test waits synchronously for events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_is_down_is_backed_off_then_read_once_with_conditional_requests() {
    let (instance, _) = vault_with_customers();
    // A port that refuses connections until the feed starts on it.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let secret = instance.dir.path().join("feed-auth");
    std::fs::write(&secret, "Bearer feed-secret\n").unwrap();
    configure(
        &instance,
        &format!(
            "[[leakwatch.source]]\nname = \"partner\"\nurl = \"http://127.0.0.1:{port}/index.jsonl\"\n\
             authorization_file = \"{}\"\n",
            secret.display()
        ),
    );
    let server = instance.serve();
    // Down: the failure is logged, with no secret in it.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server
        .log()
        .iter()
        .any(|line| line.contains("a source failed"))
    {
        assert!(Instant::now() < deadline, "the failure was not logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server
            .log()
            .iter()
            .all(|line| !line.contains("feed-secret"))
    );
    assert!(scanned(&server).is_empty());

    // Up: within the backoff, the item is read once and matched.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let not_modified = Arc::new(AtomicUsize::new(0));
    let fetches = Arc::new(AtomicUsize::new(0));
    tokio::spawn(feed(listener, not_modified.clone(), fetches.clone()));
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "leak.item_scanned" && event["reason"] == "matched")
    });
    let item = events
        .iter()
        .find(|event| event["kind"] == "leak.item_scanned")
        .unwrap();
    assert_eq!(item["detail"]["source"], "partner");
    assert_eq!(item["detail"]["customers"], "2");
    // Later polls ask conditionally, and nothing is fetched twice.
    let deadline = Instant::now() + Duration::from_secs(15);
    while not_modified.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "no conditional listing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let records = scanned(&server);
    assert_eq!(records.len(), 2, "{records:#?}");
    let endless = records
        .iter()
        .find(|event| event["detail"]["item"] == "endless.txt")
        .unwrap();
    assert_eq!(endless["reason"], "quarantined");
    assert!(
        endless["detail"]["quarantine"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{endless:#}"
    );
}

#[tokio::test]
async fn past_a_source_s_daily_allowance_its_matches_share_one_incident() {
    let (instance, _) = vault_with_customers();
    let drop = instance.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    configure(
        &instance,
        &format!(
            "incidents_per_source_per_day = 1\n[[leakwatch.source]]\nname = \"hostile\"\n\
             directory = \"{}\"\n",
            drop.display()
        ),
    );
    let server = instance.serve();
    // Three dumps, two customers each: the first opens the day's one incident, the next two
    // grow the day's overflow alert instead of opening two more.
    for (n, pair) in CUSTOMERS.chunks(2).enumerate() {
        let text: String = std::iter::once("email,phone\n".to_string())
            .chain(
                pair.iter()
                    .map(|(_, email, phone)| format!("{email},{phone}\n")),
            )
            .collect();
        drop_file(&drop, &format!("dump-{n}.csv"), text.as_bytes());
        server.wait_for_events(|events| {
            events
                .iter()
                .filter(|event| event["kind"] == "leak.item_scanned")
                .count()
                > n
        });
    }
    let labels: Vec<String> = server
        .events_of("alert.raised")
        .into_iter()
        .filter(|event| event["detail"]["rule_id"] == "haechi.leak.confirmed_match")
        .map(|event| event["detail"]["group_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels[0].starts_with("hostile:dump-0.csv#"), "{labels:?}");
    assert!(
        labels[1].starts_with("hostile:over-the-daily-limit-"),
        "{labels:?}"
    );
    // Every matched customer is still recorded.
    assert_eq!(server.events_of("leak.matched").len(), 6);
}

/// A feed whose listing names one item that answers only after a minute.
async fn hanging_feed(listener: tokio::net::TcpListener) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/index.jsonl",
            get(|| async { "{\"url\": \"items/slow.csv\"}\n" }),
        )
        .route(
            "/items/slow.csv",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                dump()
            }),
        );
    axum::serve(listener, app).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_feed_does_not_hold_up_another_source() {
    let (instance, _) = vault_with_customers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(hanging_feed(listener));
    let drop = instance.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    configure(
        &instance,
        &format!(
            "fetch_timeout = \"30s\"\n\
             [[leakwatch.source]]\nname = \"slow-feed\"\nurl = \"http://{address}/index.jsonl\"\n\
             [[leakwatch.source]]\nname = \"analysts\"\ndirectory = \"{}\"\n",
            drop.display()
        ),
    );
    let server = instance.serve();
    // The feed's item is being waited for (its request has up to 30 s) when the dump lands.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    drop_file(&drop, "shop-dump.csv", dump().as_bytes());
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "leak.item_scanned" && event["detail"]["source"] == "analysts"
        })
    });
    // Settling (1 s) and a poll (1 s) with room to spare — far less than the feed's 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !events
            .iter()
            .any(|event| event["kind"] == "leak.item_scanned"
                && event["detail"]["source"] == "slow-feed"),
        "the feed's item is still being waited for"
    );
}

/// A feed whose listing carries an `ETag` (and answers 304 to it), naming one item that fails
/// on its first fetch.
async fn flaky_feed(listener: tokio::net::TcpListener, item_fetches: Arc<AtomicUsize>) {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    let listing = |headers: HeaderMap| async move {
        let mut answer = HeaderMap::new();
        answer.insert(header::ETAG, "\"v1\"".parse().unwrap());
        if headers.get(header::IF_NONE_MATCH).is_some() {
            return (StatusCode::NOT_MODIFIED, answer, String::new());
        }
        (
            StatusCode::OK,
            answer,
            "{\"url\": \"items/dump.csv\"}\n".to_string(),
        )
    };
    let item = move || async move {
        if item_fetches.fetch_add(1, Ordering::SeqCst) == 0 {
            return (StatusCode::SERVICE_UNAVAILABLE, String::new());
        }
        (StatusCode::OK, dump())
    };
    let app = axum::Router::new()
        .route("/index.jsonl", get(listing))
        .route("/items/dump.csv", get(item));
    axum::serve(listener, app).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_failed_once_is_fetched_again_though_the_listing_is_unchanged() {
    let (instance, _) = vault_with_customers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let item_fetches = Arc::new(AtomicUsize::new(0));
    tokio::spawn(flaky_feed(listener, item_fetches.clone()));
    configure(
        &instance,
        &format!(
            "[[leakwatch.source]]\nname = \"flaky\"\nurl = \"http://{address}/index.jsonl\"\n"
        ),
    );
    let server = instance.serve();
    // The first fetch fails; the listing's ETag is not kept until the item is done, so the
    // next poll lists it again and fetches it.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "leak.item_scanned")
    });
    let item = events
        .iter()
        .find(|event| event["kind"] == "leak.item_scanned")
        .unwrap();
    assert_eq!(item["reason"], "matched", "{item:#}");
    assert_eq!(item_fetches.load(Ordering::SeqCst), 2);
}

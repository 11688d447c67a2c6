//! Scope against ground truth and against an independent oracle: every record of the archive
//! read back through the audit crate's own reader and filtered naively.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly on the first surprise"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use haechi_audit::AuditRecord;
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, SystemClock, Timestamp};
use haechi_forensics::{
    Attack, DigestMode, Error, GenerateOptions, GroundTruth, IndicatorKind, MatchMode, NoProgress,
    Query, Scope, ScopeOptions, Sources, StolenKeyAttack, parse_time, scope,
};
use ipnet::IpNet;

struct Fixture {
    _dir: tempfile::TempDir,
    archive: PathBuf,
    truth: GroundTruth,
    records: Vec<AuditRecord>,
}

/// One small archive shared by the tests: 3,000 customers, 80,000 events over two days,
/// 200 victims, small files and row groups so pruning has something to prune.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let mut options = GenerateOptions::new(3_000, 80_000);
        options.days = 2;
        options.seed = 42;
        options.file_records = 9_000;
        options.export.row_group_rows = 2_048;
        options.attack = Attack::StolenKey(StolenKeyAttack {
            victims: 200,
            ..StolenKeyAttack::default()
        });
        let report = haechi_forensics::generate::generate(&archive, &options, &NoProgress).unwrap();
        assert_eq!(report.truth.events, 80_000);
        let records: Vec<AuditRecord> = haechi_audit::read_archive(&archive)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(records.len(), 80_000);
        Fixture {
            _dir: dir,
            archive,
            truth: report.truth,
            records,
        }
    })
}

/// The expected per-customer rows, computed the slow, obvious way.
fn oracle(records: &[AuditRecord], query: &Query) -> BTreeMap<String, (BTreeSet<String>, u64)> {
    let indicators = &query.indicators;
    let mut out: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for record in records {
        let event = &record.event;
        if !matches!(event.kind, EventKind::PiiRead | EventKind::PiiLookup)
            || !matches!(event.decision, Decision::Allow | Decision::Mask)
            || event.status != 200
        {
            continue;
        }
        let micros = event.time.as_micros();
        if query
            .window
            .from
            .is_some_and(|from| micros < from.as_micros())
            || query.window.to.is_some_and(|to| micros >= to.as_micros())
        {
            continue;
        }
        let mut per_kind = Vec::new();
        if !indicators.networks.is_empty() {
            per_kind.push(event.ip.is_some_and(|ip| {
                indicators
                    .networks
                    .iter()
                    .any(|net: &IpNet| net.contains(&ip))
            }));
        }
        let has = |set: &BTreeSet<String>, value: &Option<String>| {
            value.as_ref().is_some_and(|value| set.contains(value))
        };
        if !indicators.kids.is_empty() {
            per_kind.push(has(&indicators.kids, &event.kid));
        }
        if !indicators.jtis.is_empty() {
            per_kind.push(has(&indicators.jtis, &event.jti));
        }
        if !indicators.sids.is_empty() {
            per_kind.push(has(&indicators.sids, &event.sid));
        }
        if !indicators.principals.is_empty() {
            per_kind.push(indicators.principals.contains(&event.principal.to_string()));
        }
        if !indicators.user_agents.is_empty() {
            per_kind.push(has(&indicators.user_agents, &event.user_agent));
        }
        let matched = per_kind.is_empty()
            || match query.mode {
                MatchMode::Any => per_kind.iter().any(|hit| *hit),
                MatchMode::All => per_kind.iter().all(|hit| *hit),
            };
        if matched {
            let entry = out.entry(event.customer_id.clone().unwrap()).or_default();
            entry.0.extend(event.fields.iter().cloned());
            entry.1 += 1;
        }
    }
    out
}

fn run(query: &Query, sources: &Sources) -> Result<Scope, Error> {
    scope(
        query,
        sources,
        &ScopeOptions {
            digest: DigestMode::Consulted,
            tool: "haechi test".into(),
        },
        &NoProgress,
    )
}

fn archive_only() -> Sources {
    Sources {
        archives: vec![fixture().archive.clone()],
        live_log: None,
    }
}

fn rows(scope: &Scope) -> BTreeMap<String, (BTreeSet<String>, u64)> {
    scope
        .customers
        .iter()
        .map(|row| {
            (
                row.customer_id.clone(),
                (row.fields.iter().cloned().collect(), row.reads),
            )
        })
        .collect()
}

/// Runs `query` and checks it against the oracle exactly (precision = recall = 1, same fields
/// and read counts); returns the scope.
fn check(query: &Query) -> Scope {
    let found = run(query, &archive_only()).unwrap();
    let expected = oracle(&fixture().records, query);
    assert!(!expected.is_empty(), "a test query should select something");
    assert_eq!(rows(&found), expected, "{query:?}");
    let reads: u64 = expected.values().map(|(_, reads)| reads).sum();
    assert_eq!(found.summary.records, reads);
    assert_eq!(found.summary.customers, expected.len() as u64);
    found
}

fn query(indicators: &[(IndicatorKind, &str)]) -> Query {
    let mut query = Query::default();
    for (kind, value) in indicators {
        query.indicators.add(*kind, value).unwrap();
    }
    query
}

fn victims(truth: &GroundTruth) -> BTreeSet<String> {
    truth
        .attack
        .as_ref()
        .unwrap()
        .victims
        .iter()
        .map(|victim| victim.customer_id.clone())
        .collect()
}

fn customers(scope: &Scope) -> BTreeSet<String> {
    scope
        .customers
        .iter()
        .map(|row| row.customer_id.clone())
        .collect()
}

#[test]
fn stolen_key_indicators_find_exactly_the_victims() {
    let truth = &fixture().truth;
    let attack = truth.attack.as_ref().unwrap();
    let expected = victims(truth);

    let by_kid = check(&query(&[(IndicatorKind::Kid, &attack.kid)]));
    assert_eq!(customers(&by_kid), expected);
    assert_eq!(by_kid.summary.records, attack.reads);
    // Fields and times per victim match the ground truth.
    for (row, victim) in by_kid.customers.iter().zip(&attack.victims) {
        assert_eq!(row.customer_id, victim.customer_id);
        assert_eq!(row.fields, victim.fields);
        assert_eq!(
            (row.first.as_str(), row.last.as_str()),
            (victim.first.as_str(), victim.last.as_str())
        );
        assert_eq!(row.reads, victim.reads);
    }
    // Pruning did its job: most row groups were never read.
    assert!(
        by_kid.custody.row_groups_read * 2 < by_kid.custody.row_groups_total,
        "{} of {}",
        by_kid.custody.row_groups_read,
        by_kid.custody.row_groups_total
    );

    let ips: Vec<(IndicatorKind, &str)> = attack
        .ips
        .iter()
        .map(|ip| (IndicatorKind::Ip, ip.as_str()))
        .collect();
    let by_ips = check(&query(&ips));
    assert_eq!(customers(&by_ips), expected);

    let agents: Vec<(IndicatorKind, &str)> = attack
        .user_agents
        .iter()
        .map(|agent| (IndicatorKind::UserAgent, agent.as_str()))
        .collect();
    assert_eq!(customers(&check(&query(&agents))), expected);

    // One token, one session: exactly that victim.
    let victim = &attack.victims[17];
    let by_jti = check(&query(&[(IndicatorKind::Jti, &victim.jti)]));
    assert_eq!(
        customers(&by_jti),
        BTreeSet::from([victim.customer_id.clone()])
    );
    let by_sid = check(&query(&[(IndicatorKind::Sid, &victim.sid)]));
    assert_eq!(
        customers(&by_sid),
        BTreeSet::from([victim.customer_id.clone()])
    );

    // A file of token ids.
    let mut file_query = Query::default();
    let text: String = attack
        .victims
        .iter()
        .take(25)
        .map(|victim| format!("{}\n", victim.jti))
        .collect();
    file_query
        .indicators
        .add_file(
            IndicatorKind::Jti,
            &format!("# stolen\n{text}\n"),
            "jtis.txt",
        )
        .unwrap();
    let by_file = check(&file_query);
    assert_eq!(by_file.summary.customers, 25);
}

#[test]
fn every_indicator_kind_matches_the_oracle() {
    let fixture = fixture();
    let attack = fixture.truth.attack.as_ref().unwrap();
    // A network: the /16 around an attacker address and a customer network.
    let attacker: IpAddr = attack.ips[0].parse().unwrap();
    let network = IpNet::new(attacker, 16).unwrap().trunc().to_string();
    check(&query(&[(IndicatorKind::Ip, &network)]));
    let some_customer_ip = fixture
        .records
        .iter()
        .find(|record| {
            record.event.kind == EventKind::PiiRead
                && matches!(record.event.principal, Principal::Customer(_))
        })
        .and_then(|record| record.event.ip)
        .unwrap();
    let wide = IpNet::new(some_customer_ip, 8).unwrap().trunc().to_string();
    check(&query(&[(IndicatorKind::Ip, &wide)]));
    check(&query(&[(IndicatorKind::Ip, "10.20.0.0/16")]));
    // A key of normal traffic, a principal (a service and a customer), an agent.
    let normal_kid = fixture.records[5].event.kid.clone().unwrap();
    check(&query(&[(IndicatorKind::Kid, &normal_kid)]));
    check(&query(&[(IndicatorKind::Principal, "service:shipping")]));
    let victim = &attack.victims[3].customer_id;
    let principal = format!("customer:{victim}");
    let both = check(&query(&[(IndicatorKind::Principal, &principal)]));
    assert_eq!(customers(&both), BTreeSet::from([victim.clone()]));
    check(&query(&[(
        IndicatorKind::UserAgent,
        "Coupang/7.40.0 (Android 14; SM-S921N)",
    )]));
    // A service token (many reads).
    let service_jti = fixture
        .records
        .iter()
        .find(|record| {
            record.event.kind == EventKind::PiiRead
                && record.event.purpose.as_deref() == Some("shipping")
        })
        .and_then(|record| record.event.jti.clone())
        .unwrap();
    check(&query(&[(IndicatorKind::Jti, &service_jti)]));
}

#[test]
fn combinations_and_windows_match_the_oracle() {
    let attack = fixture().truth.attack.as_ref().unwrap();
    let ua = attack.user_agents[0].as_str();
    // Any: the union of what each kind points at.
    let mut any = query(&[
        (IndicatorKind::Kid, &attack.kid),
        (IndicatorKind::Principal, "service:billing"),
    ]);
    let union = check(&any);
    assert!(union.summary.customers > 200);
    // All: only the attacker's reads with one agent from five of its addresses.
    let mut all = query(&[
        (IndicatorKind::Kid, &attack.kid),
        (IndicatorKind::UserAgent, ua),
    ]);
    for ip in attack.ips.iter().take(5) {
        all.indicators.add(IndicatorKind::Ip, ip).unwrap();
    }
    all.mode = MatchMode::All;
    let narrow = check(&all);
    assert!(narrow.summary.customers < 200);
    // A window cuts both.
    let from = parse_time(&attack.first).unwrap();
    let window_from = Timestamp::from_micros(from.as_micros() + 20 * 1_000_000);
    any.window.from = Some(window_from);
    any.window.to = Some(Timestamp::from_micros(
        window_from.as_micros() + 30 * 1_000_000,
    ));
    check(&any);
    all.window = any.window;
    check(&all);
    // A window alone: every exposure in one hour.
    let mut hour = Query::default();
    hour.window.from = Some(parse_time("2025-06-01T12:00:00Z").unwrap());
    hour.window.to = Some(parse_time("2025-06-01T13:00:00Z").unwrap());
    let in_hour = check(&hour);
    assert!(in_hour.custody.row_groups_read < in_hour.custody.row_groups_total);
    // A window of the second day skips the first day's files without opening them.
    let mut day_two = query(&[(IndicatorKind::Principal, "service:shipping")]);
    day_two.window.from = Some(parse_time("2025-06-02").unwrap());
    let second = check(&day_two);
    assert!(!second.custody.files_skipped_by_day.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_custody_and_result() {
    let attack = fixture().truth.attack.as_ref().unwrap();
    let query = query(&[
        (IndicatorKind::Kid, &attack.kid),
        (IndicatorKind::Ip, "45.0.0.0/8"),
    ]);
    let first = run(&query, &archive_only()).unwrap();
    let second = run(&query, &archive_only()).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
    assert_eq!(first.custody.result_sha256.len(), 64);
    assert!(
        first
            .custody
            .files
            .iter()
            .all(|file| file.consulted_sha256.len() == 64)
    );
    assert!(first.custody.coverage.gaps.is_empty());
    assert_eq!(first.custody.coverage.ranges, vec![[1, 80_000]]);
    // Full digests are those of the files.
    let full = scope(
        &query,
        &archive_only(),
        &ScopeOptions {
            digest: DigestMode::Full,
            tool: "haechi test".into(),
        },
        &NoProgress,
    )
    .unwrap();
    let file = &full.custody.files[0];
    let bytes = std::fs::read(fixture().archive.join(&file.path)).unwrap();
    use sha2::Digest as _;
    assert_eq!(
        file.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
    );
    assert_eq!(full.customers, first.customers);
}

#[test]
fn the_generated_archive_verifies() {
    let archive = &fixture().archive;
    let pem = std::fs::read_to_string(archive.join("_audit_key.pem")).unwrap();
    let key = haechi_audit::parse_public_key(&pem).unwrap();
    let report =
        haechi_audit::verify(&haechi_audit::VerifySources::archive(archive), &key).unwrap();
    assert!(report.is_intact(), "{report:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn corrupt_and_foreign_files_are_refused() {
    let attack = fixture().truth.attack.as_ref().unwrap();
    let query = query(&[(IndicatorKind::Kid, &attack.kid)]);
    let temp = tempfile::tempdir().unwrap();

    // A truncated file.
    let truncated = temp.path().join("truncated");
    copy_dir(&fixture().archive, &truncated);
    let victim_file = haechi_forensics::archive::list_files_for_tests(&truncated).remove(0);
    let bytes = std::fs::read(&victim_file).unwrap();
    std::fs::write(&victim_file, &bytes[..bytes.len() / 2]).unwrap();
    let sources = Sources {
        archives: vec![truncated],
        live_log: None,
    };
    match run(&query, &sources) {
        Err(Error::BadArchiveFile { path, .. }) => assert_eq!(path, victim_file),
        other => panic!("expected a bad file, got {other:?}"),
    }

    // A Parquet file of another schema.
    let foreign = temp.path().join("foreign");
    std::fs::create_dir_all(foreign.join("day=2025-06-01")).unwrap();
    let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "seq",
        arrow_schema::DataType::UInt64,
        false,
    )]));
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow_array::UInt64Array::from(vec![1u64, 2, 3]))],
    )
    .unwrap();
    let file = std::fs::File::create(
        foreign.join("day=2025-06-01/part-000000000001-000000000003.parquet"),
    )
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let error = run(
        &query,
        &Sources {
            archives: vec![foreign],
            live_log: None,
        },
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("not a Haechi audit archive"),
        "{error}"
    );

    // Not Parquet at all.
    let garbage = temp.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(
        garbage.join("part-000000000001-000000000001.parquet"),
        b"hello",
    )
    .unwrap();
    let error = run(
        &query,
        &Sources {
            archives: vec![garbage],
            live_log: None,
        },
    )
    .unwrap_err();
    assert!(matches!(error, Error::BadArchiveFile { .. }), "{error}");
}

#[test]
fn bad_queries_are_refused_before_reading() {
    let empty = Query::default();
    assert!(matches!(
        run(&empty, &archive_only()),
        Err(Error::BadInput { .. })
    ));
    let mut backwards = query(&[(IndicatorKind::Kid, "k")]);
    backwards.window.from = Some(parse_time("2025-06-02").unwrap());
    backwards.window.to = Some(parse_time("2025-06-02").unwrap());
    assert!(matches!(
        run(&backwards, &archive_only()),
        Err(Error::BadInput { .. })
    ));
    let mut indicators = haechi_forensics::Indicators::default();
    assert!(indicators.add(IndicatorKind::Ip, "300.1.2.3").is_err());
    let missing = Sources {
        archives: vec![PathBuf::from("/nonexistent/archive")],
        live_log: None,
    };
    assert!(run(&query(&[(IndicatorKind::Kid, "k")]), &missing).is_err());
}

fn event(second: i64, kid: &str, customer: &str) -> SecurityEvent {
    SecurityEvent::new(
        Timestamp::from_secs(1_750_000_000 + second),
        EventKind::PiiRead,
        Principal::Customer(customer.into()),
    )
    .kid(kid)
    .customer(customer)
    .fields(["name"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_log_and_archive_meet_without_gaps_or_double_counting() {
    let temp = tempfile::tempdir().unwrap();
    let log_dir = temp.path().join("audit");
    let archive = temp.path().join("archive");
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let (log, _) = haechi_audit::AuditLog::open(
        haechi_audit::AuditLogConfig::new(&log_dir),
        key,
        Arc::new(SystemClock),
    )
    .unwrap();
    // 30 events, a third by the stolen key; seal and export them; 20 more stay live.
    for index in 0..50 {
        let kid = if index % 3 == 0 { "stolen" } else { "normal" };
        log.append(event(index, kid, &format!("c{index:03}")))
            .await
            .unwrap();
        if index == 29 {
            log.export(
                &archive,
                haechi_audit::ActiveSegment::Seal,
                haechi_audit::ExportOptions::default(),
            )
            .await
            .unwrap();
        }
    }
    let query = query(&[(IndicatorKind::Kid, "stolen")]);
    let expected: BTreeSet<String> = (0..50)
        .filter(|index| index % 3 == 0)
        .map(|index| format!("c{index:03}"))
        .collect();
    let both = Sources {
        archives: vec![archive.clone()],
        live_log: Some(log_dir.clone()),
    };
    let check_dir = log_dir.clone();
    let found = tokio::task::spawn_blocking(move || run(&query, &both))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customers(&found), expected);
    // Seqs 1–30 are in both the archive and the live log: found twice, counted once.
    assert_eq!(found.custody.duplicates, 10);
    assert!(found.custody.coverage.gaps.is_empty());
    assert_eq!(found.custody.live_log.as_ref().unwrap().last_seq, Some(50));

    // Retention deletes the archived segment: the two sources now meet at seq 30/31.
    let pruned = log.prune(31).await.unwrap();
    assert_eq!(pruned.deleted.len(), 1);
    let query = self::query(&[(IndicatorKind::Kid, "stolen")]);
    let sources = Sources {
        archives: vec![archive.clone()],
        live_log: Some(check_dir.clone()),
    };
    let (again, live_only) = tokio::task::spawn_blocking(move || {
        let again = run(&query, &sources).unwrap();
        let live_only = run(
            &query,
            &Sources {
                archives: Vec::new(),
                live_log: Some(check_dir),
            },
        )
        .unwrap();
        (again, live_only)
    })
    .await
    .unwrap();
    assert_eq!(customers(&again), expected);
    assert_eq!(again.custody.duplicates, 0);
    assert!(again.custody.coverage.gaps.is_empty());
    // Without the archive the hole is named, not hidden.
    assert_eq!(live_only.custody.coverage.gaps, vec![[1, 30]]);
    assert_eq!(live_only.summary.customers, 7);
    log.shutdown().await.unwrap();
}

/// A lookup that returned a customer disclosed their id and the identifier searched: scope
/// counts them as exposed (field `phone`), in the archive and in the live log alike; a lookup
/// that found nobody (deny, 404, no customer) exposes no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_found_by_a_lookup_are_exposed() {
    let temp = tempfile::tempdir().unwrap();
    let log_dir = temp.path().join("audit");
    let archive = temp.path().join("archive");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let (log, _) = haechi_audit::AuditLog::open(
        haechi_audit::AuditLogConfig::new(&log_dir),
        key,
        Arc::new(SystemClock),
    )
    .unwrap();
    let lookup = |second: i64| {
        SecurityEvent::new(
            Timestamp::from_secs(1_750_000_000 + second),
            EventKind::PiiLookup,
            Principal::Service("walker".into()),
        )
        .fields(["phone"])
        .purpose("support")
    };
    log.append(
        lookup(0)
            .customer("c-archived")
            .outcome(Decision::Mask, 200),
    )
    .await
    .unwrap();
    log.export(
        &archive,
        haechi_audit::ActiveSegment::Seal,
        haechi_audit::ExportOptions::default(),
    )
    .await
    .unwrap();
    for second in 1..5 {
        log.append(
            lookup(second)
                .outcome(Decision::Deny, 404)
                .reason("no_match"),
        )
        .await
        .unwrap();
    }
    log.append(lookup(5).customer("c-live").outcome(Decision::Allow, 200))
        .await
        .unwrap();
    let query = query(&[(IndicatorKind::Principal, "service:walker")]);
    let sources = Sources {
        archives: vec![archive],
        live_log: Some(log_dir),
    };
    let found = tokio::task::spawn_blocking(move || run(&query, &sources))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        customers(&found),
        BTreeSet::from(["c-archived".to_string(), "c-live".to_string()])
    );
    assert_eq!(found.summary.records, 2);
    assert_eq!(found.summary.records_without_customer, 0);
    assert_eq!(found.summary.fields["phone"].customers, 2);
    log.shutdown().await.unwrap();
}

#[test]
fn an_ipv4_client_seen_through_a_dual_stack_socket_is_found_by_its_ipv4_address() {
    let temp = tempfile::tempdir().unwrap();
    let mapped: IpAddr = "::ffff:198.51.100.23".parse().unwrap();
    let mut prev = haechi_audit::GENESIS_HASH;
    let mut records = Vec::new();
    for seq in 1..=20u64 {
        let ip: IpAddr = if seq == 7 {
            mapped
        } else {
            format!("203.0.113.{seq}").parse().unwrap()
        };
        let record = AuditRecord::chained(
            seq,
            event(seq as i64, "k", &format!("c{seq:03}")).ip(Some(ip)),
            prev,
        );
        prev = record.hash;
        records.push(record);
    }
    haechi_audit::write_archive_file(
        temp.path(),
        &records,
        &haechi_audit::ExportOptions::default(),
    )
    .unwrap();
    let found = run(
        &query(&[(IndicatorKind::Ip, "198.51.100.23")]),
        &Sources {
            archives: vec![temp.path().to_path_buf()],
            live_log: None,
        },
    )
    .unwrap();
    assert_eq!(customers(&found), BTreeSet::from(["c007".to_string()]));
}

//! The "migration round trip on a generated 100 k-customer embedded deployment", and
//! the measurement of it (rows/s). Ignored by default: generating and importing 100 k
//! customers takes minutes in a debug build. Run it with
//! `cargo test -p haechi --test migrate -- --ignored --nocapture`
//! (HAECHI_MIGRATE_SCALE=N changes the number of customers).

use std::time::Instant;

use haechi_bus::BusOptions;

use crate::compare::assert_moved;
use crate::deployment::deployment;
use crate::{audit_public_key, audit_records, migrate_with_bus, servers, summary_row};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes: 100 k customers generated, imported and moved"]
async fn a_100k_customer_deployment_round_trips_through_the_cluster() {
    let Some(servers) = servers().await else {
        return;
    };
    let customers: u64 = std::env::var("HAECHI_MIGRATE_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    let made = Instant::now();
    let instance = deployment(customers).await;
    let made = made.elapsed();
    let data = instance.data_dir();
    let records = audit_records(&data);
    let key = haechi_audit::parse_public_key(&audit_public_key(&instance)).unwrap();

    let moved = Instant::now();
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &["--batch-rows", "5000"]);
    let moved = moved.elapsed();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("verification: OK"), "{stdout}");
    let (source, inserted, _, target, _) = summary_row(&stdout, "customers");
    assert_eq!(
        (source, inserted, target),
        (customers, customers, customers)
    );
    eprintln!(
        "MEASURED {customers} customers ({records} audit records): deployment made in \
         {:.1} s; `haechi migrate` took {:.1} s in all\n{stdout}",
        made.as_secs_f64(),
        moved.as_secs_f64()
    );

    let counts = assert_moved(&data, &servers.database.url).await;
    assert_eq!(counts["customers"] as u64, customers);
    let bus = haechi_bus::Bus::connect(BusOptions::new(&servers.nats.url, &servers.nats.prefix, 1))
        .await
        .unwrap();
    let chain = haechi_bus::verify_node(&bus, "embedded", &key)
        .await
        .unwrap();
    assert!(chain.is_intact(), "{chain}");
    assert_eq!(chain.records, records);

    let again = Instant::now();
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &["--batch-rows", "5000"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(repeated a finished move)"), "{stdout}");
    eprintln!(
        "MEASURED the second (idempotent) run: {:.1} s\n{stdout}",
        again.elapsed().as_secs_f64()
    );
}

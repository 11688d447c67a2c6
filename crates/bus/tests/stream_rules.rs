//! What JetStream (nats-server 2.9) allows on the audit stream, measured against the real
//! server: the facts the design of `haechi audit prune --bus` rests on (docs/cluster-audit.md).

use std::time::Duration;

use haechi_bus::{Bus, BusOptions, Error, StreamRetention};

use crate::util::shared_bus;

async fn publish_some(bus: &Bus, count: u64) {
    let subject = format!("{}.audit.probe.records", bus.names().prefix());
    for n in 0..count {
        bus.jetstream()
            .publish(subject.clone(), format!("{n}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_denies_purges_can_never_be_purged_or_made_purgeable() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    publish_some(&bus, 5).await;
    let stream = bus.stream();
    let refused = |result: String, code: &str| assert!(result.contains(code), "{result}");
    refused(format!("{:?}", stream.purge().await), "10110"); // stream purge not permitted
    refused(format!("{:?}", stream.purge().sequence(3).await), "10110");
    refused(format!("{:?}", stream.delete_message(1).await), "10057"); // delete not permitted
    let mut config = stream.cached_info().config.clone();
    config.deny_purge = false;
    let lifted = bus.jetstream().update_stream(config).await;
    refused(format!("{lifted:?}"), "can not cancel deny purge");
    assert_eq!(stream.get_info().await.unwrap().state.messages, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purgeable_stream_is_accepted_only_where_archive_retention_is_configured() {
    let Some(nats) = haechi_testbed::nats() else {
        return;
    };
    let mut options = BusOptions::new(&nats.url, &nats.prefix, 1);
    options.retention = StreamRetention::Archive;
    let bus = Bus::connect(options.clone()).await.unwrap();
    assert!(!bus.stream().cached_info().config.deny_purge);
    assert!(bus.stream().cached_info().config.deny_delete);
    publish_some(&bus, 4).await;
    // Single messages stay undeletable; a filtered purge below a sequence works.
    let deleted = format!("{:?}", bus.stream().delete_message(1).await);
    assert!(deleted.contains("10057"), "{deleted}");
    let purged = bus
        .stream()
        .purge()
        .filter(format!("{}.audit.probe.records", nats.prefix))
        .sequence(3)
        .await
        .unwrap();
    assert_eq!(purged.purged, 2);

    // A node left at the default refuses to write into it.
    let error = Bus::connect(BusOptions::new(&nats.url, &nats.prefix, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::StreamMismatch { reason, .. } if reason.contains("bus.retention = archive")),
        "{error}"
    );
    Bus::connect(options).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_age_on_the_stream_is_refused_because_it_expires_records_unarchived() {
    let Some(nats) = haechi_testbed::nats() else {
        return;
    };
    let bus = Bus::connect(BusOptions::new(&nats.url, &nats.prefix, 1))
        .await
        .unwrap();
    // JetStream lets anyone add a max_age to a stream that denies purges …
    let mut config = bus.stream().cached_info().config.clone();
    config.max_age = Duration::from_secs(3600);
    let updated = bus.jetstream().update_stream(config).await.unwrap();
    assert_eq!(updated.config.max_age, Duration::from_secs(3600));
    // … so a node refuses such a stream rather than lose records by age.
    let error = Bus::connect(BusOptions::new(&nats.url, &nats.prefix, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::StreamMismatch { reason, .. } if reason.contains("max_age")),
        "{error}"
    );
}

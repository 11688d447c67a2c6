//! Every built-in rule, positive and negative, as one table.

use std::collections::BTreeSet;

use haechi_detect::{ActionKind, Alert, Disposition, KeyStateView, builtin_rules};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent};

use crate::util::*;

struct Case {
    rule: &'static str,
    name: &'static str,
    events: fn() -> Vec<SecurityEvent>,
    state: fn() -> TestState,
    /// Group keys of the alerts expected, in order.
    expect: &'static [&'static str],
}

fn no_state() -> TestState {
    TestState::default()
}

fn many_customers() -> TestState {
    TestState::with_customers(100_000)
}

/// `count` reads of distinct customers by `principal` from `address`, `gap` seconds apart.
fn distinct_reads(
    count: usize,
    principal: Principal,
    address: &str,
    gap: i64,
) -> Vec<SecurityEvent> {
    (0..count)
        .map(|index| {
            read(
                index as i64 * gap,
                principal.clone(),
                &format!("c{index}"),
                address,
            )
        })
        .collect()
}

/// A week of a service's normal traffic: reads every six hours for `purpose`, from `address`,
/// with `agent`.
fn learning_week(name: &str, purpose: &str, address: &str, agent: &str) -> Vec<SecurityEvent> {
    (0..28)
        .map(|index| {
            read(index * 6 * HOUR, service(name), "c1", address)
                .purpose(purpose)
                .user_agent(Some(agent))
        })
        .collect()
}

fn service_read_after_learning(purpose: &str, address: &str, agent: &str) -> SecurityEvent {
    read(8 * DAY, service("shipping"), "c2", address)
        .purpose(purpose)
        .user_agent(Some(agent))
}

fn with(mut events: Vec<SecurityEvent>, more: Vec<SecurityEvent>) -> Vec<SecurityEvent> {
    events.extend(more);
    events
}

fn cases() -> Vec<Case> {
    vec![
        // Forged token.
        Case {
            rule: "haechi.token.forged",
            name: "a forged token raises one alert per key",
            events: || {
                vec![
                    event(0, EventKind::TokenForged, customer("victim1"))
                        .kid("k1")
                        .ip(ip("203.0.113.9")),
                    event(1, EventKind::TokenForged, customer("victim2"))
                        .kid("k1")
                        .ip(ip("203.0.113.10")),
                ]
            },
            state: no_state,
            expect: &["k1"],
        },
        Case {
            rule: "haechi.token.forged",
            name: "an ordinary bad signature is not forgery",
            events: || vec![rejected(0, "bad_signature", "k1", "203.0.113.9")],
            state: no_state,
            expect: &[],
        },
        // Revoked and retired keys.
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "a revoked key's token the ledger never issued",
            events: || {
                vec![rejected(0, "revoked_key", "k0", "203.0.113.9").detail("ledger", "not_issued")]
            },
            state: no_state,
            expect: &["k0"],
        },
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "a token the ledger issued before the revocation",
            events: || {
                vec![
                    rejected(0, "revoked_key", "k0", "203.0.113.9")
                        .jti("t-issued")
                        .detail("ledger", "issued"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "an issued token long expired, its jti gone from memory",
            events: || {
                vec![
                    rejected(0, "revoked_key", "k0", "203.0.113.9")
                        .jti("t-old")
                        .detail("ledger", "issued"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "the ledger could not be asked",
            events: || {
                vec![rejected(0, "revoked_key", "k0", "203.0.113.9").detail("ledger", "unknown")]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "a revoked kid on a bad signature is no use of the key",
            events: || vec![rejected(0, "bad_signature", "k0", "203.0.113.9")],
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.revoked_key_use",
            name: "expired tokens are routine",
            events: || vec![rejected(0, "expired", "k0", "203.0.113.9")],
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.retired_key_use",
            name: "twenty retired-key tokens from one address in ten minutes",
            events: || {
                (0..20)
                    .map(|index| rejected(index * 20, "retired_key", "k0", "203.0.113.5"))
                    .collect()
            },
            state: no_state,
            expect: &["203.0.113.5"],
        },
        Case {
            rule: "haechi.token.retired_key_use",
            name: "nineteen are below the threshold",
            events: || {
                (0..19)
                    .map(|index| rejected(index * 20, "retired_key", "k0", "203.0.113.5"))
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.retired_key_use",
            name: "twenty spread over twenty minutes never fill the window",
            events: || {
                (0..20)
                    .map(|index| rejected(index * MINUTE, "retired_key", "k0", "203.0.113.5"))
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.token.accepted_with_dead_key",
            name: "a read allowed with a revoked key (state lookup)",
            events: || vec![read(0, customer("c1"), "c1", "203.0.113.1").kid("k-old")],
            state: || TestState::default().with_key("k-old", KeyStateView::Revoked),
            expect: &["k-old"],
        },
        Case {
            rule: "haechi.token.accepted_with_dead_key",
            name: "a gateway let a request through with a retired key",
            events: || {
                vec![
                    event(0, EventKind::GatewayAllowed, customer("c1"))
                        .kid("k-old")
                        .outcome(Decision::Allow, 200)
                        .detail("route", "orders"),
                ]
            },
            state: || TestState::default().with_key("k-old", KeyStateView::Retired),
            expect: &["k-old"],
        },
        Case {
            rule: "haechi.token.accepted_with_dead_key",
            name: "a read with the active key",
            events: || vec![read(0, customer("c1"), "c1", "203.0.113.1").kid("k1")],
            state: || TestState::default().with_key("k1", KeyStateView::Active),
            expect: &[],
        },
        // Refresh-token reuse.
        Case {
            rule: "haechi.auth.refresh_reused",
            name: "a reused refresh token",
            events: || {
                vec![
                    event(0, EventKind::RefreshReused, customer("c1"))
                        .sid("s1")
                        .ip(ip("203.0.113.1")),
                ]
            },
            state: no_state,
            expect: &["s1"],
        },
        Case {
            rule: "haechi.auth.refresh_reused",
            name: "a normal refresh",
            events: || vec![event(0, EventKind::Refresh, customer("c1")).sid("s1")],
            state: no_state,
            expect: &[],
        },
        // Credential stuffing.
        Case {
            rule: "haechi.auth.stuffing_accounts",
            name: "ten accounts failing from one address",
            events: || {
                (0..10)
                    .map(|index| login_failed(index * 30, "192.0.2.66", Some(&format!("c{index}"))))
                    .collect()
            },
            state: no_state,
            expect: &["192.0.2.66"],
        },
        Case {
            rule: "haechi.auth.stuffing_accounts",
            name: "nine accounts, many retries, and unknown accounts",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..30)
                    .map(|index| {
                        login_failed(index * 10, "192.0.2.66", Some(&format!("c{}", index % 9)))
                    })
                    .collect();
                events.extend((0..30).map(|index| login_failed(400 + index, "192.0.2.66", None)));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.auth.stuffing_volume",
            name: "fifty failures from one address",
            events: || {
                (0..50)
                    .map(|index| login_failed(index * 5, "192.0.2.66", None))
                    .collect()
            },
            state: no_state,
            expect: &["192.0.2.66"],
        },
        Case {
            rule: "haechi.auth.stuffing_volume",
            name: "forty-nine failures, and fifty spread over several addresses",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..49)
                    .map(|index| login_failed(index * 5, "192.0.2.66", None))
                    .collect();
                events.extend(
                    (0..50).map(|index| {
                        login_failed(index * 5, &format!("192.0.2.{}", index % 5), None)
                    }),
                );
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.auth.stuffing_success",
            name: "five failed-then-successful logins",
            events: || {
                (0..5)
                    .flat_map(|index| {
                        let account = format!("c{index}");
                        [
                            login_failed(index * 60, "192.0.2.66", Some(&account)),
                            login_ok(index * 60 + 5, &account, &format!("s{index}"), "192.0.2.66"),
                        ]
                    })
                    .collect()
            },
            state: no_state,
            expect: &["192.0.2.66"],
        },
        Case {
            rule: "haechi.auth.stuffing_success",
            name: "four pairs, and successes without failures",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..4)
                    .flat_map(|index| {
                        let account = format!("c{index}");
                        [
                            login_failed(index * 60, "192.0.2.66", Some(&account)),
                            login_ok(index * 60 + 5, &account, "s", "192.0.2.66"),
                        ]
                    })
                    .collect();
                events.extend((0..10).map(|index| login_ok(300 + index, "c9", "s9", "192.0.2.66")));
                events
            },
            state: no_state,
            expect: &[],
        },
        // One network or principal reading many customers.
        Case {
            rule: "haechi.read.network_customers_10m",
            name: "fifty customers from one address via forged per-victim tokens",
            events: || {
                (0..50)
                    .map(|index| {
                        let victim = format!("c{index}");
                        read(index * 2, customer(&victim), &victim, "203.0.113.77")
                    })
                    .collect()
            },
            state: no_state,
            expect: &["203.0.113.77"],
        },
        Case {
            rule: "haechi.read.network_customers_10m",
            name: "forty-nine customers, and a service reading a hundred",
            events: || {
                with(
                    distinct_reads(49, customer("x"), "203.0.113.77", 2),
                    distinct_reads(100, service("shipping"), "10.0.0.5", 1),
                )
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.read.network_customers_1d",
            name: "three hundred customers over twenty hours",
            events: || distinct_reads(300, customer("x"), "203.0.113.78", 4 * MINUTE),
            state: no_state,
            expect: &["203.0.113.78"],
        },
        Case {
            rule: "haechi.read.network_customers_1d",
            name: "two hundred ninety-nine",
            events: || distinct_reads(299, customer("x"), "203.0.113.78", 4 * MINUTE),
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.read.admin_customers_10m",
            name: "an admin reading a hundred customers",
            events: || distinct_reads(100, admin("kim"), "10.9.9.9", 3),
            state: no_state,
            expect: &["admin:kim"],
        },
        Case {
            rule: "haechi.read.admin_customers_10m",
            name: "ninety-nine, and a service reading many",
            events: || {
                with(
                    distinct_reads(99, admin("kim"), "10.9.9.9", 3),
                    distinct_reads(200, service("billing"), "10.9.9.8", 1),
                )
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.read.admin_customers_1d",
            name: "an admin reading a thousand customers in a day",
            events: || distinct_reads(1000, admin("kim"), "10.9.9.9", 80),
            state: no_state,
            expect: &["admin:kim"],
        },
        Case {
            rule: "haechi.read.admin_customers_1d",
            name: "a thousand over two days",
            events: || distinct_reads(1000, admin("kim"), "10.9.9.9", 180),
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.read.network_share_1d",
            name: "0.1 % of 100 000 customers from one address",
            events: || distinct_reads(100, customer("x"), "203.0.113.79", 10 * MINUTE),
            state: many_customers,
            expect: &["203.0.113.79"],
        },
        Case {
            rule: "haechi.read.network_share_1d",
            name: "the same reads against a base of a million",
            events: || distinct_reads(100, customer("x"), "203.0.113.79", 10 * MINUTE),
            state: || TestState::with_customers(1_000_000),
            expect: &[],
        },
        Case {
            rule: "haechi.read.network_share_1d",
            name: "no population known",
            events: || distinct_reads(100, customer("x"), "203.0.113.79", 10 * MINUTE),
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.read.principal_share_1d",
            name: "a service reading 1,000 customers (the floor above 0.1 % of 100,000)",
            events: || distinct_reads(1000, service("export"), "10.0.0.9", MINUTE),
            state: many_customers,
            expect: &["service:export"],
        },
        Case {
            rule: "haechi.read.principal_share_1d",
            name: "999 are under the floor",
            events: || distinct_reads(999, service("export"), "10.0.0.9", MINUTE),
            state: many_customers,
            expect: &[],
        },
        Case {
            rule: "haechi.read.principal_share_1d",
            name: "customers are not counted",
            events: || distinct_reads(100, customer("x"), "10.0.0.9", MINUTE),
            state: many_customers,
            expect: &[],
        },
        // Enumeration.
        Case {
            rule: "haechi.read.id_enumeration",
            name: "twenty not-found reads",
            events: || {
                (0..20)
                    .map(|index| {
                        refused_read(index, admin("eve"), &format!("c{index}"), 404, "not_found")
                    })
                    .collect()
            },
            state: no_state,
            expect: &["admin:eve"],
        },
        Case {
            rule: "haechi.read.id_enumeration",
            name: "nineteen, and twenty quota refusals",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..19)
                    .map(|index| {
                        refused_read(index, admin("eve"), &format!("c{index}"), 404, "not_found")
                    })
                    .collect();
                events.extend(
                    (0..20).map(|index| refused_read(30 + index, admin("eve"), "c1", 429, "quota")),
                );
                events
            },
            state: no_state,
            expect: &[],
        },
        // Cross-customer reads.
        Case {
            rule: "haechi.read.cross_customer",
            name: "a customer token asking for another customer",
            events: || {
                vec![
                    refused_read(0, customer("c1"), "c2", 403, "not_owner").sid("s1"),
                    refused_read(1, customer("c1"), "c3", 403, "not_owner").sid("s1"),
                ]
            },
            state: no_state,
            expect: &["customer:c1"],
        },
        Case {
            rule: "haechi.read.cross_customer",
            name: "not found, and a service refused by policy",
            events: || {
                vec![
                    refused_read(0, customer("c1"), "c1", 404, "not_found"),
                    refused_read(1, service("x"), "c2", 403, "not_owner"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        // Quota.
        Case {
            rule: "haechi.pii.quota_exceeded",
            name: "a quota refusal",
            events: || vec![event(0, EventKind::PiiQuotaExceeded, service("x"))],
            state: no_state,
            expect: &["service:x"],
        },
        Case {
            rule: "haechi.pii.quota_burst",
            name: "five quota refusals in ten minutes",
            events: || {
                (0..5)
                    .map(|index| event(index * 60, EventKind::PiiQuotaExceeded, service("x")))
                    .collect()
            },
            state: no_state,
            expect: &["service:x"],
        },
        Case {
            rule: "haechi.pii.quota_burst",
            name: "four",
            events: || {
                (0..4)
                    .map(|index| event(index * 60, EventKind::PiiQuotaExceeded, service("x")))
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        // Absence of a login.
        Case {
            rule: "haechi.session.read_without_login",
            name: "a read in a session nobody logged into",
            events: || {
                vec![
                    login_ok(0, "c1", "s-old", "203.0.113.1"),
                    login_ok(DAY + 10, "c2", "s-real", "203.0.113.2"),
                    own_read(DAY + 20, "c2", "s-real", "203.0.113.2"),
                    own_read(DAY + 30, "c3", "s-fake", "203.0.113.3"),
                    own_read(DAY + 40, "c3", "s-fake", "203.0.113.3"),
                ]
            },
            state: no_state,
            expect: &["s-fake"],
        },
        Case {
            rule: "haechi.session.read_without_login",
            name: "silent while warming up, and logins older than a day do not count",
            events: || {
                vec![
                    login_ok(0, "c1", "s1", "203.0.113.1"),
                    own_read(10, "c3", "s-fake", "203.0.113.3"),
                    own_read(DAY + 20, "c1", "s1", "203.0.113.1"),
                ]
            },
            state: no_state,
            // The read at DAY + 20 is 1 day 20 s after s1's login: outside the lookback.
            expect: &["s1"],
        },
        Case {
            rule: "haechi.session.read_without_login",
            name: "reads in sessions that logged in, refreshed or were issued a token",
            events: || {
                vec![
                    login_ok(0, "c1", "s1", "203.0.113.1"),
                    event(DAY - 10, EventKind::Refresh, customer("c1")).sid("s1"),
                    event(DAY, EventKind::TokenIssued, customer("c2")).sid("s2"),
                    own_read(DAY + 20, "c1", "s1", "203.0.113.1"),
                    own_read(DAY + 30, "c2", "s2", "203.0.113.2"),
                    read(DAY + 40, service("shipping"), "c3", "10.0.0.5").sid("s-svc"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        // Services against their baseline.
        Case {
            rule: "haechi.service.new_purpose",
            name: "a new purpose after the learning week",
            events: || {
                with(
                    learning_week("shipping", "delivery", "10.0.0.5", "svc/1"),
                    vec![
                        service_read_after_learning("delivery", "10.0.0.5", "svc/1"),
                        service_read_after_learning("marketing", "10.0.0.5", "svc/1"),
                    ],
                )
            },
            state: no_state,
            expect: &["service:shipping"],
        },
        Case {
            rule: "haechi.service.new_purpose",
            name: "purposes first used while learning do not alert",
            events: || {
                let mut events = learning_week("shipping", "delivery", "10.0.0.5", "svc/1");
                events.push(read(DAY, service("shipping"), "c1", "10.0.0.5").purpose("returns"));
                events.sort_by_key(|event| event.time);
                with(
                    events,
                    vec![service_read_after_learning("returns", "10.0.0.5", "svc/1")],
                )
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.volume",
            name: "triple the learned hourly volume",
            events: || {
                // Learning: 200 distinct customers in one hour on day 1; quiet otherwise.
                let mut events: Vec<SecurityEvent> = (0..200)
                    .map(|index| {
                        read(
                            DAY + index,
                            service("billing"),
                            &format!("c{index}"),
                            "10.0.0.6",
                        )
                    })
                    .collect();
                events.extend((0..600).map(|index| {
                    read(
                        8 * DAY + index,
                        service("billing"),
                        &format!("d{index}"),
                        "10.0.0.6",
                    )
                }));
                events
            },
            state: no_state,
            expect: &["service:billing"],
        },
        Case {
            rule: "haechi.service.volume",
            name: "below triple the baseline",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..200)
                    .map(|index| {
                        read(
                            DAY + index,
                            service("billing"),
                            &format!("c{index}"),
                            "10.0.0.6",
                        )
                    })
                    .collect();
                events.extend((0..599).map(|index| {
                    read(
                        8 * DAY + index,
                        service("billing"),
                        &format!("d{index}"),
                        "10.0.0.6",
                    )
                }));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.new_network",
            name: "a service from a new address",
            events: || {
                with(
                    learning_week("shipping", "delivery", "10.0.0.5", "svc/1"),
                    vec![service_read_after_learning(
                        "delivery",
                        "198.51.100.1",
                        "svc/1",
                    )],
                )
            },
            state: no_state,
            expect: &["service:shipping"],
        },
        Case {
            rule: "haechi.service.new_network",
            name: "a service from its usual address",
            events: || {
                with(
                    learning_week("shipping", "delivery", "10.0.0.5", "svc/1"),
                    vec![service_read_after_learning("delivery", "10.0.0.5", "svc/1")],
                )
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.new_user_agent",
            name: "a service with a new user agent",
            events: || {
                with(
                    learning_week("shipping", "delivery", "10.0.0.5", "svc/1"),
                    vec![service_read_after_learning(
                        "delivery", "10.0.0.5", "curl/8",
                    )],
                )
            },
            state: no_state,
            expect: &["service:shipping"],
        },
        Case {
            rule: "haechi.service.new_user_agent",
            name: "its usual user agent",
            events: || {
                with(
                    learning_week("shipping", "delivery", "10.0.0.5", "svc/1"),
                    vec![service_read_after_learning("delivery", "10.0.0.5", "svc/1")],
                )
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.many_networks",
            name: "a service from ten addresses in an hour",
            events: || {
                (0..10)
                    .map(|index| {
                        event(index * 300, EventKind::PiiRead, service("shop"))
                            .ip(ip(&format!("45.0.0.{index}")))
                    })
                    .collect()
            },
            state: no_state,
            expect: &["service:shop"],
        },
        Case {
            rule: "haechi.service.many_networks",
            name: "nine addresses, or ten over more than an hour",
            events: || {
                let mut events: Vec<_> = (0..9)
                    .map(|index| {
                        event(index * 60, EventKind::PiiRead, service("shop"))
                            .ip(ip(&format!("45.0.0.{index}")))
                    })
                    .collect();
                events.push(event(4000, EventKind::PiiRead, service("shop")).ip(ip("45.0.0.99")));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.new_velocity",
            name: "a service on its first day reads sixty customers in a minute",
            events: || distinct_reads(60, service("fresh"), "10.0.0.9", 1),
            state: no_state,
            expect: &["service:fresh"],
        },
        Case {
            rule: "haechi.service.new_velocity",
            name: "fifty-nine in a minute, or sixty over more than a minute",
            events: || {
                let mut events = distinct_reads(59, service("fresh"), "10.0.0.9", 1);
                events.push(read(61, service("fresh"), "c99", "10.0.0.9"));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.new_velocity",
            name: "a service reading for more than a day is past its probation",
            events: || {
                let mut events = vec![read(0, service("billing"), "c0", "10.0.0.6")];
                events.extend((0..100).map(|index| {
                    read(
                        DAY + index,
                        service("billing"),
                        &format!("d{index}"),
                        "10.0.0.6",
                    )
                }));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.service.new_velocity",
            name: "a service silent for more than 30 days is new again",
            events: || {
                let mut events = vec![read(0, service("billing"), "c0", "10.0.0.6")];
                events.extend((0..60).map(|index| {
                    read(
                        31 * DAY + index,
                        service("billing"),
                        &format!("d{index}"),
                        "10.0.0.6",
                    )
                }));
                events
            },
            state: no_state,
            expect: &["service:billing"],
        },
        // Administrators and the audit trail.
        Case {
            rule: "haechi.admin.bulk_audit_read",
            name: "ten audit reads in an hour",
            events: || {
                (0..10)
                    .map(|index| event(index * 300, EventKind::AdminAuditRead, admin("kim")))
                    .collect()
            },
            state: no_state,
            expect: &["admin:kim"],
        },
        Case {
            rule: "haechi.admin.bulk_audit_read",
            name: "nine",
            events: || {
                (0..9)
                    .map(|index| event(index * 300, EventKind::AdminAuditRead, admin("kim")))
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.admin.audit_read_new_network",
            name: "an audit read from a new address after learning",
            events: || {
                let mut events: Vec<SecurityEvent> = (0..8)
                    .map(|day| {
                        event(day * DAY, EventKind::AdminAuditRead, admin("kim")).ip(ip("10.1.1.1"))
                    })
                    .collect();
                events.push(
                    event(8 * DAY + 1, EventKind::AdminAuditRead, admin("kim")).ip(ip("10.1.1.1")),
                );
                events.push(
                    event(8 * DAY + 2, EventKind::AdminAuditRead, admin("kim"))
                        .ip(ip("203.0.113.1")),
                );
                events
            },
            state: no_state,
            expect: &["admin:kim"],
        },
        Case {
            rule: "haechi.admin.audit_read_new_network",
            name: "new addresses while learning",
            events: || {
                (0..6)
                    .map(|day| {
                        event(day * DAY, EventKind::AdminAuditRead, admin("kim"))
                            .ip(ip(&format!("10.1.1.{day}")))
                    })
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        // Lookup walks (the vault's ten-minute statistics ride on every pii.lookup).
        Case {
            rule: "haechi.pii.lookup_miss_ratio",
            name: "fifty lookups, all misses",
            events: || vec![lookup_event(0, "walker", 50, 100)],
            state: no_state,
            expect: &["service:walker"],
        },
        Case {
            rule: "haechi.pii.lookup_miss_ratio",
            name: "many lookups that mostly find someone, or few misses",
            events: || {
                vec![
                    lookup_event(0, "checkout", 400, 20),
                    lookup_event(1, "signup", 49, 100),
                ]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.pii.lookup_volume",
            name: "two thousand lookups in ten minutes",
            events: || {
                (0..2000)
                    .map(|i| lookup_event(i / 4, "resolver", 1, 0))
                    .collect()
            },
            state: no_state,
            expect: &["service:resolver"],
        },
        Case {
            rule: "haechi.pii.lookup_volume",
            name: "two thousand lookups over an hour",
            events: || {
                (0..2000)
                    .map(|i| lookup_event(i * 2, "resolver", 1, 0))
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        // Audit health: the log's own watch (disk headroom, witness), one alert per crossing.
        Case {
            rule: "haechi.audit.disk_low",
            name: "the audit volume fell below its headroom",
            events: || {
                vec![
                    event(0, EventKind::AuditDiskLow, Principal::Anonymous)
                        .detail("free_percent", "3.1"),
                ]
            },
            state: no_state,
            expect: &["audit.disk_low"],
        },
        Case {
            rule: "haechi.audit.disk_low",
            name: "a failing witness is not a full disk",
            events: || {
                vec![event(
                    0,
                    EventKind::AuditWitnessFailing,
                    Principal::Anonymous,
                )]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.audit.witness_failing",
            name: "the witness stopped taking checkpoints",
            events: || {
                vec![
                    event(0, EventKind::AuditWitnessFailing, Principal::Anonymous)
                        .detail("witness", "http://witness.internal/checkpoints"),
                ]
            },
            state: no_state,
            expect: &["audit.witness_failing"],
        },
        Case {
            rule: "haechi.audit.witness_failing",
            name: "a low disk is not a failing witness",
            events: || vec![event(0, EventKind::AuditDiskLow, Principal::Anonymous)],
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.custody.token_unavailable",
            name: "the token holding the signing keys stopped answering",
            events: || {
                vec![
                    event(0, EventKind::CustodyUnavailable, Principal::Anonymous)
                        .detail("token", "haechi")
                        .detail("error", "no token labelled \"haechi\""),
                ]
            },
            state: no_state,
            expect: &["custody.unavailable"],
        },
        Case {
            rule: "haechi.custody.token_unavailable",
            name: "the token coming back is not an outage",
            events: || vec![event(0, EventKind::CustodyRestored, Principal::Anonymous)],
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.leak.confirmed_match",
            name: "two customers confirmed in one item: one alert for the item",
            events: || {
                ["c1", "c2"]
                    .into_iter()
                    .enumerate()
                    .map(|(n, id)| {
                        event(
                            n as i64,
                            EventKind::LeakMatched,
                            Principal::Admin("haechi-leakwatch".into()),
                        )
                        .customer(id)
                        .detail("source", "drop:dump.csv#0123456789abcdef")
                    })
                    .collect()
            },
            state: no_state,
            expect: &["drop:dump.csv#0123456789abcdef"],
        },
        Case {
            rule: "haechi.leak.confirmed_match",
            name: "a pass over a dump that matched nobody is no alert",
            events: || {
                vec![
                    event(
                        0,
                        EventKind::LeakPassCompleted,
                        Principal::Admin("haechi-leakwatch".into()),
                    )
                    .detail("source", "drop:dump.csv#0123456789abcdef")
                    .detail("customers", "0"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.leak.item_quarantined",
            name: "a source's refused items: one alert for the source",
            events: || {
                ["a.gz", "b.bin"]
                    .into_iter()
                    .enumerate()
                    .map(|(n, item)| {
                        event(
                            n as i64,
                            EventKind::LeakItemScanned,
                            Principal::Admin("haechi-leakwatch".into()),
                        )
                        .reason("quarantined")
                        .detail("source", "feed")
                        .detail("item", item)
                        .detail("quarantine", "compressed (gzip)")
                    })
                    .collect()
            },
            state: no_state,
            expect: &["feed"],
        },
        Case {
            rule: "haechi.leak.item_quarantined",
            name: "items read through, matched or clean, are no alert",
            events: || {
                ["matched", "clean"]
                    .into_iter()
                    .enumerate()
                    .map(|(n, outcome)| {
                        event(
                            n as i64,
                            EventKind::LeakItemScanned,
                            Principal::Admin("haechi-leakwatch".into()),
                        )
                        .reason(outcome)
                        .detail("source", "feed")
                    })
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.gateway.route_probing",
            name: "a customer's token walks twenty internal routes",
            events: || {
                (0..20)
                    .map(|n| {
                        event(n, EventKind::GatewayDenied, customer("c1"))
                            .reason("no_route")
                            .detail("route", "-")
                    })
                    .collect()
            },
            state: no_state,
            expect: &["customer:c1"],
        },
        Case {
            rule: "haechi.gateway.route_probing",
            name: "nineteen refusals, and allowed requests, are not probing",
            events: || {
                (0..40)
                    .map(|n| {
                        let kind = if n % 2 == 0 && n < 38 {
                            EventKind::GatewayDenied
                        } else {
                            EventKind::GatewayAllowed
                        };
                        event(n, kind, customer("c1")).detail("route", "orders")
                    })
                    .collect()
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.audit.review_overdue",
            name: "October's review not acknowledged in time",
            events: || {
                vec![
                    event(
                        0,
                        EventKind::AccessReviewOverdue,
                        Principal::Admin("review-job".into()),
                    )
                    .detail("month", "2026-10")
                    .detail("digest", "3f1c"),
                ]
            },
            state: no_state,
            expect: &["2026-10"],
        },
        Case {
            rule: "haechi.audit.review_overdue",
            name: "a prepared review is not yet overdue",
            events: || {
                vec![
                    event(
                        0,
                        EventKind::AccessReviewPrepared,
                        Principal::Admin("review-job".into()),
                    )
                    .detail("month", "2026-10")
                    .detail("digest", "3f1c"),
                ]
            },
            state: no_state,
            expect: &[],
        },
        // The anonymous exposure check: a source walking through guesses past its budget.
        Case {
            rule: "haechi.exposure.check_enumeration",
            name: "one source refused ten times in ten minutes",
            events: || exposure_refusals("198.51.100.7", "source_budget", 10, 50),
            state: no_state,
            expect: &["198.51.100.7"],
        },
        Case {
            rule: "haechi.exposure.check_enumeration",
            name: "nine refusals, or ten spread over an hour, are a person retrying",
            events: || {
                let mut events = exposure_refusals("198.51.100.7", "source_budget", 9, 50);
                events.extend(exposure_refusals("198.51.100.8", "source_budget", 10, 400));
                events
            },
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.exposure.check_global_budget",
            name: "the global budget spent raises one alert however many sources",
            events: || {
                let mut events = exposure_refusals("198.51.100.7", "global_budget", 3, 1);
                events.extend(exposure_refusals("198.51.100.9", "global_budget", 3, 1));
                events
            },
            state: no_state,
            expect: &["exposure.check_refused"],
        },
        Case {
            rule: "haechi.exposure.check_global_budget",
            name: "a source's own budget is not the global one",
            events: || exposure_refusals("198.51.100.7", "source_budget", 3, 1),
            state: no_state,
            expect: &[],
        },
        Case {
            rule: "haechi.request.refusal_flood",
            name: "overflow summaries, second after second, raise one alert",
            events: || (0..5).map(|n| refusals_summary(n, "overflow")).collect(),
            state: no_state,
            expect: &["request.refusals_summarized"],
        },
        Case {
            rule: "haechi.request.refusal_flood",
            name: "one source's own summary is no flood of sources",
            events: || vec![refusals_summary(0, "address")],
            state: no_state,
            expect: &[],
        },
    ]
}

/// The refusal gate's summary of one second: of the overflow entry (`source`), or of one
/// address (any other value: such a summary carries the address, not `detail.source`).
fn refusals_summary(seconds: i64, source: &str) -> SecurityEvent {
    let summary = event(seconds, EventKind::RefusalsSummarized, Principal::Anonymous)
        .outcome(Decision::Deny, 401)
        .reason("over_refusal_budget")
        .detail("suppressed", "9900")
        .detail("reasons", "malformed:9900");
    if source == "overflow" {
        summary.detail("source", "overflow")
    } else {
        summary.ip(ip("198.51.100.7"))
    }
}

/// `count` refused exposure checks from `address` for `reason`, `every` seconds apart.
fn exposure_refusals(address: &str, reason: &str, count: i64, every: i64) -> Vec<SecurityEvent> {
    (0..count)
        .map(|n| {
            event(
                n * every,
                EventKind::ExposureCheckRefused,
                Principal::Anonymous,
            )
            .ip(ip(address))
            .outcome(Decision::Deny, 429)
            .reason(reason)
        })
        .collect()
}

/// A `pii.lookup` by service `name` carrying the vault's ten-minute statistics.
fn lookup_event(seconds: i64, name: &str, window_lookups: u32, miss_pct: u32) -> SecurityEvent {
    event(seconds, EventKind::PiiLookup, service(name))
        .fields(["phone"])
        .purpose("support")
        .detail("window_lookups", window_lookups.to_string())
        .detail("window_miss_pct", miss_pct.to_string())
}

#[test]
fn every_builtin_rule_behaves_as_its_table_says() {
    let mut failures = Vec::new();
    for case in cases() {
        let alerts = run(vec![builtin(case.rule)], (case.events)(), &(case.state)());
        let keys: Vec<&str> = alerts
            .iter()
            .map(|alert| alert.group_key.as_str())
            .collect();
        if keys != case.expect {
            failures.push(format!(
                "{} / {}: expected {:?}, got {:?}",
                case.rule, case.name, case.expect, keys
            ));
        }
        for alert in &alerts {
            assert_eq!(alert.rule_id, case.rule);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_builtin_rule_has_a_positive_and_a_negative_case() {
    let cases = cases();
    for rule in builtin_rules().rules {
        let positive = cases
            .iter()
            .any(|case| case.rule == rule.id() && !case.expect.is_empty());
        let negative = cases
            .iter()
            .any(|case| case.rule == rule.id() && case.expect.is_empty());
        assert!(
            positive && (negative || rule.id() == "haechi.pii.quota_exceeded"),
            "{} lacks a positive or negative case",
            rule.id()
        );
    }
}

#[test]
fn builtin_pack_loads_and_is_documented() {
    let report = builtin_rules();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.rules.len() >= 20);
    let ids: BTreeSet<&str> = report.rules.iter().map(|rule| rule.id()).collect();
    assert_eq!(ids.len(), report.rules.len());
    for rule in &report.rules {
        assert!(rule.description().len() > 40, "{}", rule.id());
        assert!(rule.false_positives().len() > 20, "{}", rule.id());
        assert!(rule.source().0.starts_with("builtin:"));
    }
}

fn actions(alert: &Alert) -> Vec<(ActionKind, Disposition)> {
    alert
        .actions
        .iter()
        .map(|action| (action.kind.clone(), action.disposition))
        .collect()
}

#[test]
fn forged_tokens_block_each_source_and_revoke_the_key_once() {
    let events = vec![
        event(0, EventKind::TokenForged, customer("v1"))
            .kid("k1")
            .ip(ip("203.0.113.9")),
        event(1, EventKind::TokenForged, customer("v2"))
            .kid("k1")
            .ip(ip("203.0.113.9")),
        event(2, EventKind::TokenForged, customer("v3"))
            .kid("k1")
            .ip(ip("2001:db8::7")),
    ];
    let alerts = run(
        vec![builtin("haechi.token.forged")],
        events,
        &TestState::default(),
    );
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.count, 3);
    assert_eq!(alert.evidence_seqs, vec![1, 2, 3]);
    assert_eq!(alert.context.get("kid").map(String::as_str), Some("k1"));
    let day = std::time::Duration::from_secs(7 * 86_400);
    assert_eq!(
        actions(alert),
        vec![
            (
                ActionKind::BlockNetwork {
                    network: "203.0.113.9/32".parse().unwrap(),
                    ttl: day
                },
                Disposition::Enforce
            ),
            (
                ActionKind::RevokeKey { kid: "k1".into() },
                Disposition::Enforce
            ),
            (
                ActionKind::BlockNetwork {
                    network: "2001:db8::/64".parse().unwrap(),
                    ttl: day
                },
                Disposition::Enforce
            ),
        ]
    );
}

#[test]
fn alerts_with_actions_round_trip_through_json() {
    let events = vec![
        event(0, EventKind::TokenForged, customer("v1"))
            .kid("k1")
            .ip(ip("203.0.113.9")),
    ];
    let alerts = run(
        vec![builtin("haechi.token.forged")],
        events,
        &TestState::default(),
    );
    let json = serde_json::to_string(&alerts[0]).unwrap();
    assert!(
        json.contains(r#""action":"block_network","network":"203.0.113.9/32","ttl":604800"#),
        "{json}"
    );
    assert!(json.contains(r#""disposition":"enforce""#), "{json}");
    let back: Alert = serde_json::from_str(&json).unwrap();
    assert_eq!(back, alerts[0]);
}

#[test]
fn actions_already_in_force_are_not_repeated() {
    let mut state = TestState::default().with_key("k1", KeyStateView::Revoked);
    state.blocked.push("203.0.113.0/24".parse().unwrap());
    let events = vec![
        event(0, EventKind::TokenForged, customer("v1"))
            .kid("k1")
            .ip(ip("203.0.113.9")),
    ];
    let alerts = run(vec![builtin("haechi.token.forged")], events, &state);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].actions.is_empty());
}

#[test]
fn a_scraping_run_is_one_growing_alert() {
    let events: Vec<SecurityEvent> = (0..5_000)
        .map(|index| {
            let victim = format!("c{index}");
            read(index / 3, customer(&victim), &victim, "203.0.113.77").kid("k1")
        })
        .collect();
    let alerts = run(
        vec![builtin("haechi.read.network_customers_10m")],
        events,
        &TestState::default(),
    );
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.evidence_seqs.len(), 100);
    assert_eq!(alert.evidence_seqs[..3], [1, 2, 3]);
    // 50 evidence events when it was raised, then one per further read.
    assert_eq!(alert.count, 5_000);
    // The window at the last read (t = 1666 s) holds seconds 1066..=1666: reads 3198..=4999.
    assert_eq!(alert.window_count, 1_802);
    assert_eq!(alert.actions.len(), 1);
    assert_eq!(alert.actions[0].disposition, Disposition::Enforce);
}

#[test]
fn dry_run_and_allowlist_and_cap_are_respected() {
    let rule = rule(
        "id: t.block
title: t
description: block every reader
false_positives: all of them
severity: high
detection:
  read: {kind: pii.read}
  condition: read
group-by: [ip]
response:
  dry_run: false
  actions:
    - block_network: {prefix_len: 24, ttl: 1h}
    - suspend_principal
  allowlist:
    cidrs: [10.0.0.0/8]
    principals: [service:trusted]
  max_actions: 3
",
    );
    let events = vec![
        read(0, customer("a"), "a", "10.1.1.1"),
        read(1, service("trusted"), "a", "203.0.113.1"),
        read(2, customer("b"), "b", "198.51.100.1"),
        read(3, customer("c"), "c", "198.51.100.2"),
        read(4, customer("d"), "d", "192.0.2.1"),
    ];
    let alerts = run(vec![rule], events, &TestState::default());
    let dispositions: Vec<Vec<Disposition>> = alerts
        .iter()
        .map(|alert| {
            alert
                .actions
                .iter()
                .map(|action| action.disposition)
                .collect()
        })
        .collect();
    assert_eq!(
        dispositions,
        vec![
            vec![Disposition::Allowlisted, Disposition::Allowlisted],
            vec![Disposition::Allowlisted, Disposition::Allowlisted],
            // 198.51.100.1: block and suspend (2 of 3).
            vec![Disposition::Enforce, Disposition::Enforce],
            // 198.51.100.2: same /24 block is a new target per alert; the cap stops at 3.
            vec![Disposition::Enforce, Disposition::CapReached],
            vec![Disposition::CapReached],
        ]
    );
    let dry = rule_with_dry_run();
    let alerts = run(
        vec![dry],
        vec![read(0, customer("a"), "a", "192.0.2.1")],
        &TestState::default(),
    );
    assert_eq!(alerts[0].actions[0].disposition, Disposition::DryRun);
}

fn rule_with_dry_run() -> haechi_detect::Rule {
    rule(
        "id: t.dry
title: t
description: d
false_positives: f
severity: low
detection:
  read: {kind: pii.read}
  condition: read
response:
  dry_run: true
  actions: [revoke_session, suspend_principal]
",
    )
}

#[test]
fn refused_reads_do_not_count_as_exposure() {
    let events: Vec<SecurityEvent> = (0..60)
        .map(|index| {
            let victim = format!("c{index}");
            read(index, customer(&victim), &victim, "203.0.113.77").outcome(Decision::Deny, 403)
        })
        .collect();
    let alerts = run(
        vec![builtin("haechi.read.network_customers_10m")],
        events,
        &TestState::default(),
    );
    assert!(alerts.is_empty());
}

#[test]
fn the_new_service_budget_is_configurable_and_can_be_turned_off() {
    use haechi_detect::{NEW_SERVICE_VELOCITY_RULE, PackSettings, builtin_rules_with};
    let rule = |settings: PackSettings| {
        builtin_rules_with(&settings)
            .rules
            .into_iter()
            .find(|rule| rule.id() == NEW_SERVICE_VELOCITY_RULE)
    };
    let five = rule(PackSettings {
        new_service_customers_per_minute: 5,
    })
    .expect("the rule is in the pack");
    let alerts = run(
        vec![five],
        distinct_reads(5, service("fresh"), "10.0.0.9", 1),
        &no_state(),
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].window_count, 5);
    let default = rule(PackSettings::default()).expect("the rule is in the pack");
    assert!(
        run(
            vec![default],
            distinct_reads(5, service("fresh"), "10.0.0.9", 1),
            &no_state()
        )
        .is_empty()
    );
    assert!(
        rule(PackSettings {
            new_service_customers_per_minute: 0,
        })
        .is_none()
    );
}

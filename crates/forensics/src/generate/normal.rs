//! Normal traffic: each hour's events, spread over the day with a diurnal rhythm on Korean
//! time.

use std::net::IpAddr;

use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::world::{
    MICROS_PER_HOUR, MICROS_PER_SECOND, World, mix3, random_hex, request_id, service_address,
};

pub(super) const SERVICES: [(&str, &str, &[&str], Decision, u32); 4] = [
    (
        "shipping",
        "shipping",
        &["addresses", "name", "phone"],
        Decision::Allow,
        40,
    ),
    (
        "support",
        "support",
        &["email", "name", "phone"],
        Decision::Mask,
        25,
    ),
    ("marketing", "marketing", &["email"], Decision::Mask, 20),
    (
        "billing",
        "billing",
        &["email", "name"],
        Decision::Allow,
        15,
    ),
];
const SERVICE_INSTANCES: u64 = 3;

/// Relative traffic per hour of the day, Korean time (UTC+9).
const KST_HOUR_WEIGHTS: [f64; 24] = [
    4.0, 2.5, 1.6, 1.1, 0.9, 1.0, 1.8, 3.5, 5.5, 6.5, 7.0, 7.5, 8.5, 8.0, 7.0, 6.8, 7.0, 7.8, 8.8,
    9.8, 10.5, 11.0, 9.5, 6.5,
];

/// The kinds of normal action but the last, each with the share of actions up to and
/// including it (cumulative), in the order an action's draw is compared with them; a draw
/// past them all is a [`refresh`].
const ACTIONS: [(f64, Action); 7] = [
    (0.25, customer_session),
    (0.80, service_read),
    (0.84, support_lookup),
    (0.86, denied_read),
    (0.90, failed_login),
    (0.93, customer_write),
    (0.95, rejected_token),
];

/// One kind of normal action: appends its events.
type Action = fn(Act<'_, '_>);

/// One action being generated: the hour, the customer, when, the hour's random stream, and
/// where its events go.
struct Act<'a, 'w> {
    hour: &'a Hour<'w>,
    actor: &'a Actor,
    at: i64,
    rng: &'a mut ChaCha8Rng,
    out: &'a mut Vec<SecurityEvent>,
}

/// What every action of an hour shares.
struct Hour<'w> {
    world: &'w World,
    /// The signing key of the day.
    kid: String,
    /// The last µs of the hour: follow-up events are clamped to it.
    last: i64,
    /// The population (at least 1).
    customers: u64,
}

impl Hour<'_> {
    /// `time`, or the hour's last µs if it is later.
    fn clamp(&self, time: i64) -> i64 {
        time.min(self.last)
    }
}

/// The customer an action is about (or whose address and agent it uses).
struct Actor {
    customer_id: String,
    ip: IpAddr,
    agent: &'static str,
}

impl Actor {
    fn principal(&self) -> Principal {
        Principal::Customer(self.customer_id.clone())
    }
}

/// Normal traffic of one hour: exactly `quota` events, sorted by time.
pub(super) fn normal_hour(world: &World, hour: i64, quota: u64, out: &mut Vec<SecurityEvent>) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix3(world.seed, 0x40_u64, hour as u64));
    let start = world.start_micros + hour * MICROS_PER_HOUR;
    let last = start + MICROS_PER_HOUR - 1;
    let day = (start - world.start_micros).div_euclid(24 * MICROS_PER_HOUR);
    let day_index = start.div_euclid(24 * MICROS_PER_HOUR);
    let kid = world.kid_of_day(day_index);
    let quota = usize::try_from(quota).unwrap_or(usize::MAX);
    let begin = out.len();

    // Service tokens: one per instance per 15-minute slot.
    for (service_index, (name, ..)) in SERVICES.iter().enumerate() {
        for instance in 0..SERVICE_INSTANCES {
            for quarter in 0..4 {
                if out.len() - begin >= quota {
                    break;
                }
                let slot = hour * 4 + quarter;
                out.push(
                    SecurityEvent::new(
                        Timestamp::from_micros(
                            start + quarter * 15 * 60 * MICROS_PER_SECOND + 1_000 * instance as i64,
                        ),
                        EventKind::TokenIssued,
                        Principal::Service((*name).to_string()),
                    )
                    .jti(world.service_token(service_index, instance, slot))
                    .kid(kid.clone())
                    .ip(Some(service_address(service_index, instance)))
                    .user_agent(Some(&format!("{name}-svc/4.2 haechi-client")))
                    .request_id(Some(&request_id(&mut rng))),
                );
            }
        }
    }

    let facts = Hour {
        world,
        kid,
        last,
        customers: world.customers.max(1),
    };
    let customers = facts.customers;
    while out.len() - begin < quota {
        let at = start + rng.gen_range(0..MICROS_PER_HOUR);
        let action: f64 = rng.r#gen();
        // Popular customers act more: a skewed pick over the population.
        let skewed = {
            let u: f64 = rng.r#gen();
            ((u * u) * customers as f64) as u64 % customers
        };
        let actor = Actor {
            customer_id: world.customer_id(skewed),
            ip: world.customer_address(skewed, day),
            agent: world.customer_agent(skewed),
        };
        let act = ACTIONS
            .iter()
            .find(|(upto, _)| action < *upto)
            .map_or(refresh as Action, |(_, act)| *act);
        act(Act {
            hour: &facts,
            actor: &actor,
            at,
            rng: &mut rng,
            out,
        });
    }
    out.truncate(begin + quota);
}

/// A customer session: log in, get a token, read their own data (one to four reads).
fn customer_session(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    let sid = random_hex(rng);
    let jti = random_hex(rng);
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::LoginOk,
            actor.principal(),
        )
        .sid(sid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .customer(actor.customer_id.clone())
        .request_id(Some(&request_id(rng))),
    );
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(hour.clamp(at + 4_000)),
            EventKind::TokenIssued,
            actor.principal(),
        )
        .sid(sid.clone())
        .jti(jti.clone())
        .kid(hour.kid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .customer(actor.customer_id.clone())
        .request_id(Some(&request_id(rng))),
    );
    let mut time = at;
    for _ in 0..rng.gen_range(1..=4) {
        time = hour.clamp(time + rng.gen_range(300_000..40 * MICROS_PER_SECOND));
        let fields: &[&str] = match rng.gen_range(0..3) {
            0 => &["addresses"],
            1 => &["email", "name", "phone"],
            _ => &["birth_date", "customs_code", "email", "name", "phone"],
        };
        out.push(
            SecurityEvent::new(
                Timestamp::from_micros(time),
                EventKind::PiiRead,
                actor.principal(),
            )
            .sid(sid.clone())
            .jti(jti.clone())
            .kid(hour.kid.clone())
            .ip(Some(actor.ip))
            .user_agent(Some(actor.agent))
            .customer(actor.customer_id.clone())
            .fields(fields.iter().copied())
            .request_id(Some(&request_id(rng))),
        );
    }
}

/// A service read with a purpose, for a random customer.
fn service_read(act: Act<'_, '_>) {
    let Act {
        hour,
        actor: _,
        at,
        rng,
        out,
    } = act;
    let pick = rng.gen_range(0..100);
    let mut cumulative = 0;
    let mut service_index = 0;
    for (index, service) in SERVICES.iter().enumerate() {
        cumulative += service.4;
        if pick < cumulative {
            service_index = index;
            break;
        }
    }
    let (name, purpose, fields, decision, _) = SERVICES[service_index];
    let instance = rng.gen_range(0..SERVICE_INSTANCES);
    let slot = (at - hour.world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
    let target = hour.world.customer_id(rng.gen_range(0..hour.customers));
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::PiiRead,
            Principal::Service(name.to_string()),
        )
        .jti(hour.world.service_token(service_index, instance, slot))
        .kid(hour.kid.clone())
        .ip(Some(service_address(service_index, instance)))
        .user_agent(Some(&format!("{name}-svc/4.2 haechi-client")))
        .customer(target)
        .fields(fields.iter().copied())
        .purpose(purpose)
        .outcome(decision, 200)
        .request_id(Some(&request_id(rng))),
    );
}

/// A support lookup by phone.
fn support_lookup(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    let slot = (at - hour.world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::PiiLookup,
            Principal::Service("support".into()),
        )
        .jti(hour.world.service_token(1, 0, slot))
        .kid(hour.kid.clone())
        .ip(Some(service_address(1, 0)))
        .customer(actor.customer_id.clone())
        .fields(["phone"])
        .purpose("support")
        .request_id(Some(&request_id(rng))),
    );
}

/// Marketing asks for addresses it is not granted.
fn denied_read(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    let slot = (at - hour.world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::PiiRead,
            Principal::Service("marketing".into()),
        )
        .jti(hour.world.service_token(2, 1, slot))
        .kid(hour.kid.clone())
        .ip(Some(service_address(2, 1)))
        .customer(actor.customer_id.clone())
        .fields(["addresses"])
        .purpose("marketing")
        .outcome(Decision::Deny, 403)
        .reason("policy")
        .request_id(Some(&request_id(rng))),
    );
}

/// A failed login from the customer's address.
fn failed_login(act: Act<'_, '_>) {
    let Act {
        hour: _,
        actor,
        at,
        rng,
        out,
    } = act;
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::LoginFailed,
            Principal::Anonymous,
        )
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .outcome(Decision::Deny, 401)
        .reason("bad_password")
        .request_id(Some(&request_id(rng))),
    );
}

/// A customer changes their addresses or phone.
fn customer_write(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::PiiWrite,
            actor.principal(),
        )
        .sid(random_hex(rng))
        .jti(random_hex(rng))
        .kid(hour.kid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .customer(actor.customer_id.clone())
        .fields([if rng.gen_bool(0.7) {
            "addresses"
        } else {
            "phone"
        }])
        .request_id(Some(&request_id(rng))),
    );
}

/// An expired token, rejected.
fn rejected_token(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::TokenRejected,
            Principal::Anonymous,
        )
        .kid(hour.kid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .outcome(Decision::Deny, 401)
        .reason("expired")
        .request_id(Some(&request_id(rng))),
    );
}

/// A customer session refreshed, with a new token.
fn refresh(act: Act<'_, '_>) {
    let Act {
        hour,
        actor,
        at,
        rng,
        out,
    } = act;
    let sid = random_hex(rng);
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(at),
            EventKind::Refresh,
            actor.principal(),
        )
        .sid(sid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .customer(actor.customer_id.clone())
        .request_id(Some(&request_id(rng))),
    );
    out.push(
        SecurityEvent::new(
            Timestamp::from_micros(hour.clamp(at + 3_000)),
            EventKind::TokenIssued,
            actor.principal(),
        )
        .sid(sid)
        .jti(random_hex(rng))
        .kid(hour.kid.clone())
        .ip(Some(actor.ip))
        .user_agent(Some(actor.agent))
        .customer(actor.customer_id.clone())
        .request_id(Some(&request_id(rng))),
    );
}

/// Splits `total` events over the hours by the diurnal weights; the parts add up exactly.
pub(super) fn hourly_quotas(total: u64, hours: i64) -> Vec<u64> {
    let weights: Vec<f64> = (0..hours)
        .map(|hour| KST_HOUR_WEIGHTS[((hour + 9) % 24) as usize])
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut quotas = Vec::with_capacity(weights.len());
    let mut cumulative = 0.0;
    let mut assigned = 0u64;
    for weight in weights {
        cumulative += weight;
        let upto = ((cumulative / sum) * total as f64).round() as u64;
        let upto = upto.min(total);
        quotas.push(upto - assigned.min(upto));
        assigned = assigned.max(upto);
    }
    if let Some(last) = quotas.last_mut() {
        *last += total - assigned;
    }
    quotas
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn quotas_add_up_and_follow_the_day() {
        let quotas = hourly_quotas(1_000_003, 48);
        assert_eq!(quotas.iter().sum::<u64>(), 1_000_003);
        // 12:00 UTC is 21:00 KST (busy); 19:00 UTC is 04:00 KST (quiet).
        assert!(quotas[12] > 5 * quotas[19]);
    }
}

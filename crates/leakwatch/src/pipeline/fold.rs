//! Stage 4, folding: the vault's confirmations become matches per customer and the set of
//! exposed identifiers.

use std::collections::HashSet;

use haechi_leak::exposure::{Exposure, ExposureKind};
use haechi_leak::matching::{FieldAgreement, MatchReport, RowMatch};
use haechi_vault::Comparison;

use super::confirm::Confirmed;

/// What the confirmations add up to.
#[derive(Default)]
pub(super) struct Fold {
    pub(super) report: MatchReport,
    pub(super) exposures: HashSet<Exposure>,
    /// Rows with an e-mail or phone, matched or not.
    pub(super) rows: u64,
}

impl Fold {
    /// Adds a batch's confirmations.
    pub(super) fn absorb(&mut self, batch: Confirmed) {
        let Confirmed {
            probes,
            confirmations,
        } = batch;
        for confirmation in confirmations {
            let probe = &probes.probes[confirmation.probe];
            if let Some(email) = confirmation.matched_email.and_then(|i| probe.emails.get(i)) {
                self.exposures
                    .insert(Exposure::of_normalised(ExposureKind::Email, email));
            }
            if let Some(phone) = confirmation.matched_phone.and_then(|i| probe.phones.get(i)) {
                self.exposures
                    .insert(Exposure::of_normalised(ExposureKind::Phone, phone));
            }
            self.report.add(RowMatch {
                line: probes.lines[confirmation.probe],
                customer_id: confirmation.customer_id,
                email: agreement(confirmation.email),
                phone: agreement(confirmation.phone),
                name: agreement(confirmation.name),
            });
        }
        self.rows += probes.probes.len() as u64;
    }
}

fn agreement(comparison: Comparison) -> FieldAgreement {
    match comparison {
        Comparison::Absent => FieldAgreement::Absent,
        Comparison::Same => FieldAgreement::Agrees,
        Comparison::Different => FieldAgreement::Differs,
    }
}

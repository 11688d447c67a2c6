//! How a record leaves the vault: each field in plaintext or masked, entrance notes only to
//! their owner.

use haechi_korean::DetailAddress;
use serde_json::{Value, json};

use crate::{Address, CustomerRecord, PiiField};

impl CustomerRecord {
    /// One field for the response, rendered as `rendering` says; entrance notes leave in
    /// plaintext only when `entrance_notes` is [`EntranceNotes::Reveal`] and the rendering is
    /// plaintext (the customer reading their own record).
    pub(crate) fn field_view(
        &self,
        field: PiiField,
        rendering: Rendering,
        entrance_notes: EntranceNotes,
    ) -> Value {
        let masked = rendering == Rendering::Masked;
        match field {
            PiiField::Name => json!(if masked {
                self.name.masked()
            } else {
                self.name.as_str().to_string()
            }),
            PiiField::Email => json!(if masked {
                self.email.masked()
            } else {
                self.email.as_str().to_string()
            }),
            PiiField::Phone => json!(if masked {
                self.phone.masked()
            } else {
                self.phone.formatted()
            }),
            PiiField::BirthDate => match &self.birth_date {
                Some(date) => json!(if masked {
                    date.masked()
                } else {
                    date.formatted()
                }),
                None => Value::Null,
            },
            PiiField::CustomsCode => match &self.customs_code {
                Some(code) => json!(if masked {
                    code.masked()
                } else {
                    code.as_str().to_string()
                }),
                None => Value::Null,
            },
            PiiField::Addresses => Value::Array(
                self.addresses
                    .iter()
                    .map(|address| address.view(rendering, entrance_notes))
                    .collect(),
            ),
        }
    }
}

/// How a field leaves the vault: decided by the grant (a service's) or by whose record it is
/// (the customer's own, in plaintext).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rendering {
    /// Masked (`h***@example.com`, `010-****-5678`).
    Masked,
    /// As stored.
    Plaintext,
}

/// Whether an address's entrance note (a door code, say) may leave in plaintext. Only the
/// customer reading their own record sees it; to a service it is masked whatever the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntranceNotes {
    /// In plaintext, when the rendering is plaintext too.
    Reveal,
    /// Masked.
    Mask,
}

impl Address {
    /// The address for a response.
    pub(crate) fn view(&self, rendering: Rendering, entrance_notes: EntranceNotes) -> Value {
        let note = self
            .entrance_note
            .as_ref()
            .map(|note| match (rendering, entrance_notes) {
                (Rendering::Plaintext, EntranceNotes::Reveal) => note.as_str().to_string(),
                _ => note.masked(),
            });
        match rendering {
            Rendering::Masked => json!({
                "id": self.id,
                "recipient": self.recipient.masked(),
                "phone": self.phone.masked(),
                "road_address": self.road_address.masked(),
                "detail": self.detail.as_ref().map(DetailAddress::masked),
                "postal_code": format!("{}***", &self.postal_code.as_str()[..2]),
                "entrance_note": note,
            }),
            Rendering::Plaintext => json!({
                "id": self.id,
                "recipient": self.recipient.as_str(),
                "phone": self.phone.formatted(),
                "road_address": self.road_address.as_str(),
                "detail": self.detail.as_ref().map(DetailAddress::as_str),
                "postal_code": self.postal_code.as_str(),
                "entrance_note": note,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use haechi_korean::{EntranceNote, PersonName, PhoneNumber, PostalCode, RoadAddress};

    use super::{EntranceNotes, Rendering};
    use crate::Address;

    const NOTE: &str = "공동현관 1234";

    fn note(rendering: Rendering, entrance_notes: EntranceNotes) -> Option<String> {
        let address = Address {
            id: "a1".into(),
            recipient: PersonName::parse("홍길동").unwrap(),
            phone: PhoneNumber::parse("010-2345-6789").unwrap(),
            road_address: RoadAddress::parse("서울특별시 송파구 올림픽로 300").unwrap(),
            detail: None,
            postal_code: PostalCode::parse("05551").unwrap(),
            entrance_note: Some(EntranceNote::parse(NOTE).unwrap()),
        };
        let view = address.view(rendering, entrance_notes);
        Some(view.get("entrance_note")?.as_str()?.to_string())
    }

    #[test]
    fn entrance_notes_leave_in_plaintext_only_to_their_owner() {
        use EntranceNotes::{Mask, Reveal};
        use Rendering::{Masked, Plaintext};
        assert_eq!(note(Plaintext, Reveal).as_deref(), Some(NOTE));
        for (rendering, entrance_notes) in [(Plaintext, Mask), (Masked, Reveal), (Masked, Mask)] {
            let shown = note(rendering, entrance_notes);
            assert!(shown.is_some(), "{rendering:?} {entrance_notes:?}");
            assert_ne!(
                shown.as_deref(),
                Some(NOTE),
                "{rendering:?} {entrance_notes:?}"
            );
        }
    }
}

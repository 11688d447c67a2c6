//! Customer records: what the API accepts and how it is validated (how each field leaves
//! the vault is `view.rs`).

use haechi_korean::{
    BirthDate, CustomsCode, DetailAddress, Email, EntranceNote, PersonName, PhoneNumber,
    PostalCode, RoadAddress,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::FieldError;

/// Most addresses one customer's address book holds.
pub const MAX_ADDRESSES: usize = 20;

/// The personal fields of a customer record, as named in the API, the policy and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiField {
    /// `name`
    Name,
    /// `email`
    Email,
    /// `phone`
    Phone,
    /// `birth_date`
    BirthDate,
    /// `customs_code` (개인통관고유부호)
    CustomsCode,
    /// `addresses` (the shipping address book)
    Addresses,
}

impl PiiField {
    /// Every field.
    pub const ALL: [PiiField; 6] = [
        PiiField::Name,
        PiiField::Email,
        PiiField::Phone,
        PiiField::BirthDate,
        PiiField::CustomsCode,
        PiiField::Addresses,
    ];

    /// The field's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiField::Name => "name",
            PiiField::Email => "email",
            PiiField::Phone => "phone",
            PiiField::BirthDate => "birth_date",
            PiiField::CustomsCode => "customs_code",
            PiiField::Addresses => "addresses",
        }
    }

    /// Parses a field name.
    pub fn parse(text: &str) -> Option<Self> {
        PiiField::ALL
            .into_iter()
            .find(|field| field.as_str() == text)
    }
}

/// A new customer as the API receives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Full name.
    pub name: String,
    /// E-mail (also a login identifier).
    pub email: String,
    /// Mobile or landline phone (also a login identifier).
    pub phone: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// `P` + 12 digits.
    #[serde(default)]
    pub customs_code: Option<String>,
    /// Shipping addresses.
    #[serde(default)]
    pub addresses: Vec<AddressInput>,
    /// Optional initial password for the customer's login.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub password: Option<Zeroizing<String>>,
}

/// A shipping address as the API receives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Who receives the parcel.
    pub recipient: String,
    /// The recipient's phone.
    pub phone: String,
    /// 도로명주소.
    pub road_address: String,
    /// Unit (동/호); may be empty for a house.
    #[serde(default)]
    pub detail: Option<String>,
    /// 5-digit postal code.
    pub postal_code: String,
    /// Door code and delivery instructions: the most sensitive field.
    #[serde(default)]
    pub entrance_note: Option<String>,
}

/// A change a customer makes to their own record; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// New phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// New birth date.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// New customs code.
    #[serde(default)]
    pub customs_code: Option<String>,
    /// The whole new address book.
    #[serde(default)]
    pub addresses: Option<Vec<AddressInput>>,
}

/// A validated shipping address.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    /// Stable id within the address book.
    pub id: String,
    /// Recipient.
    pub recipient: PersonName,
    /// Recipient's phone.
    pub phone: PhoneNumber,
    /// Road address.
    pub road_address: RoadAddress,
    /// Unit.
    pub detail: Option<DetailAddress>,
    /// Postal code.
    pub postal_code: PostalCode,
    /// Entrance note.
    pub entrance_note: Option<EntranceNote>,
}

/// A validated customer record, in plaintext. It exists only in memory, between decryption
/// and the response (or between the request and encryption).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// Name.
    pub name: PersonName,
    /// E-mail.
    pub email: Email,
    /// Phone.
    pub phone: PhoneNumber,
    /// Birth date.
    pub birth_date: Option<BirthDate>,
    /// Customs code.
    pub customs_code: Option<CustomsCode>,
    /// Address book.
    pub addresses: Vec<Address>,
}

/// Collects field errors while validating.
#[derive(Default)]
pub(crate) struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    pub fn check<T>(&mut self, field: &str, result: Result<T, haechi_korean::Error>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(FieldError {
                    field: field.to_string(),
                    message: error.to_string(),
                });
                None
            }
        }
    }

    pub fn fail(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(self.errors),
        }
    }
}

fn optional_text(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.trim().is_empty())
}

pub(crate) fn validate_addresses(
    inputs: &[AddressInput],
    validation: &mut Validation,
    mut new_id: impl FnMut() -> String,
) -> Option<Vec<Address>> {
    if inputs.len() > MAX_ADDRESSES {
        validation.fail(
            "addresses",
            &format!("An address book holds at most {MAX_ADDRESSES} addresses."),
        );
        return None;
    }
    let mut addresses = Vec::with_capacity(inputs.len());
    let mut complete = true;
    for (index, input) in inputs.iter().enumerate() {
        let at = |name: &str| format!("addresses[{index}].{name}");
        let recipient = validation.check(&at("recipient"), PersonName::parse(&input.recipient));
        let phone = validation.check(&at("phone"), PhoneNumber::parse(&input.phone));
        let road_address =
            validation.check(&at("road_address"), RoadAddress::parse(&input.road_address));
        let detail = match optional_text(&input.detail) {
            Some(text) => validation
                .check(&at("detail"), DetailAddress::parse(text))
                .map(Some),
            None => Some(None),
        };
        let postal_code =
            validation.check(&at("postal_code"), PostalCode::parse(&input.postal_code));
        let entrance_note = match optional_text(&input.entrance_note) {
            Some(text) => validation
                .check(&at("entrance_note"), EntranceNote::parse(text))
                .map(Some),
            None => Some(None),
        };
        match (
            recipient,
            phone,
            road_address,
            detail,
            postal_code,
            entrance_note,
        ) {
            (
                Some(recipient),
                Some(phone),
                Some(road_address),
                Some(detail),
                Some(postal_code),
                Some(entrance_note),
            ) => addresses.push(Address {
                id: new_id(),
                recipient,
                phone,
                road_address,
                detail,
                postal_code,
                entrance_note,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(addresses)
}

impl CustomerInput {
    /// Validates every field, collecting every error (not just the first).
    pub(crate) fn validate(
        &self,
        today: time::Date,
        new_id: impl FnMut() -> String,
    ) -> Result<CustomerRecord, Vec<FieldError>> {
        let mut validation = Validation::default();
        let name = validation.check("name", PersonName::parse(&self.name));
        let email = validation.check("email", Email::parse(&self.email));
        let phone = validation.check("phone", PhoneNumber::parse(&self.phone));
        let birth_date = match optional_text(&self.birth_date) {
            Some(text) => validation
                .check("birth_date", BirthDate::parse(text, today))
                .map(Some),
            None => Some(None),
        };
        let customs_code = match optional_text(&self.customs_code) {
            Some(text) => validation
                .check("customs_code", CustomsCode::parse(text))
                .map(Some),
            None => Some(None),
        };
        let addresses = validate_addresses(&self.addresses, &mut validation, new_id);
        if let Some(password) = &self.password {
            let length = password.chars().count();
            if !(8..=256).contains(&length) {
                validation.fail("password", "A password is 8 to 256 characters.");
            }
        }
        let record = match (name, email, phone, birth_date, customs_code, addresses) {
            (
                Some(name),
                Some(email),
                Some(phone),
                Some(birth_date),
                Some(customs_code),
                Some(addresses),
            ) => Some(CustomerRecord {
                name,
                email,
                phone,
                birth_date,
                customs_code,
                addresses,
            }),
            _ => None,
        };
        validation.finish(record)
    }
}

impl CustomerPatch {
    /// Applies the patch to `record`, validating every given field; the record is unchanged
    /// unless every field is valid. Returns the fields that changed.
    pub(crate) fn apply(
        &self,
        record: &mut CustomerRecord,
        today: time::Date,
        new_id: impl FnMut() -> String,
    ) -> Result<Vec<PiiField>, Vec<FieldError>> {
        let mut validation = Validation::default();
        let mut next = record.clone();
        let mut changed = Vec::new();
        if let Some(name) = &self.name
            && let Some(value) = validation.check("name", PersonName::parse(name))
        {
            next.name = value;
            changed.push(PiiField::Name);
        }
        if let Some(email) = &self.email
            && let Some(value) = validation.check("email", Email::parse(email))
        {
            next.email = value;
            changed.push(PiiField::Email);
        }
        if let Some(phone) = &self.phone
            && let Some(value) = validation.check("phone", PhoneNumber::parse(phone))
        {
            next.phone = value;
            changed.push(PiiField::Phone);
        }
        if let Some(birth_date) = &self.birth_date
            && let Some(value) = validation.check("birth_date", BirthDate::parse(birth_date, today))
        {
            next.birth_date = Some(value);
            changed.push(PiiField::BirthDate);
        }
        if let Some(customs_code) = &self.customs_code
            && let Some(value) = validation.check("customs_code", CustomsCode::parse(customs_code))
        {
            next.customs_code = Some(value);
            changed.push(PiiField::CustomsCode);
        }
        if let Some(addresses) = &self.addresses
            && let Some(value) = validate_addresses(addresses, &mut validation, new_id)
        {
            next.addresses = value;
            changed.push(PiiField::Addresses);
        }
        if changed.is_empty() && validation.errors.is_empty() {
            validation.fail("body", "Give at least one field to change.");
        }
        let changed = validation.finish(Some(changed))?;
        *record = next;
        Ok(changed)
    }
}

impl CustomerRecord {
    /// The stored plaintext form of one field (what gets encrypted).
    pub(crate) fn field_plaintext(&self, field: PiiField) -> Option<Zeroizing<Vec<u8>>> {
        let text = match field {
            PiiField::Name => self.name.as_str().to_string(),
            PiiField::Email => self.email.as_str().to_string(),
            PiiField::Phone => self.phone.as_str().to_string(),
            PiiField::BirthDate => self.birth_date.as_ref()?.formatted(),
            PiiField::CustomsCode => self.customs_code.as_ref()?.as_str().to_string(),
            PiiField::Addresses => {
                let addresses: Vec<StoredAddress> =
                    self.addresses.iter().map(StoredAddress::from).collect();
                serde_json::to_string(&addresses).ok()?
            }
        };
        Some(Zeroizing::new(text.into_bytes()))
    }

    /// Rebuilds a record from decrypted fields. Stored values were validated on the way in,
    /// so a value that fails to parse means the store was altered.
    pub(crate) fn from_plaintext(
        fields: &[(PiiField, Zeroizing<Vec<u8>>)],
    ) -> Result<Self, String> {
        let text = |wanted: PiiField| -> Result<Option<&str>, String> {
            fields
                .iter()
                .find(|(field, _)| *field == wanted)
                .map(|(_, bytes)| {
                    std::str::from_utf8(bytes)
                        .map_err(|_| format!("{} is not UTF-8", wanted.as_str()))
                })
                .transpose()
        };
        let required = |wanted: PiiField| -> Result<&str, String> {
            text(wanted)?.ok_or_else(|| format!("{} is missing", wanted.as_str()))
        };
        let bad = |field: &str| format!("stored {field} does not parse");
        let name = PersonName::parse(required(PiiField::Name)?).map_err(|_| bad("name"))?;
        let email = Email::parse(required(PiiField::Email)?).map_err(|_| bad("email"))?;
        let phone = PhoneNumber::parse(required(PiiField::Phone)?).map_err(|_| bad("phone"))?;
        // Stored birth dates were validated against the clock when written; any later date
        // parses against the far future.
        let far_future = time::Date::from_calendar_date(9999, time::Month::December, 31)
            .map_err(|_| bad("birth_date"))?;
        let birth_date = text(PiiField::BirthDate)?
            .map(|value| BirthDate::parse(value, far_future))
            .transpose()
            .map_err(|_| bad("birth_date"))?;
        let customs_code = text(PiiField::CustomsCode)?
            .map(CustomsCode::parse)
            .transpose()
            .map_err(|_| bad("customs_code"))?;
        let addresses = match text(PiiField::Addresses)? {
            Some(json) => {
                let stored: Vec<StoredAddress> =
                    serde_json::from_str(json).map_err(|_| bad("addresses"))?;
                stored
                    .into_iter()
                    .map(StoredAddress::into_address)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad("addresses"))?
            }
            None => Vec::new(),
        };
        Ok(CustomerRecord {
            name,
            email,
            phone,
            birth_date,
            customs_code,
            addresses,
        })
    }
}

/// The plaintext form of an address inside the encrypted `addresses` field.
#[derive(Serialize, Deserialize)]
struct StoredAddress {
    id: String,
    recipient: String,
    phone: String,
    road_address: String,
    detail: Option<String>,
    postal_code: String,
    entrance_note: Option<String>,
}

impl From<&Address> for StoredAddress {
    fn from(address: &Address) -> Self {
        StoredAddress {
            id: address.id.clone(),
            recipient: address.recipient.as_str().to_string(),
            phone: address.phone.as_str().to_string(),
            road_address: address.road_address.as_str().to_string(),
            detail: address.detail.as_ref().map(|d| d.as_str().to_string()),
            postal_code: address.postal_code.as_str().to_string(),
            entrance_note: address
                .entrance_note
                .as_ref()
                .map(|n| n.as_str().to_string()),
        }
    }
}

impl StoredAddress {
    fn into_address(self) -> Result<Address, haechi_korean::Error> {
        Ok(Address {
            id: self.id,
            recipient: PersonName::parse(&self.recipient)?,
            phone: PhoneNumber::parse(&self.phone)?,
            road_address: RoadAddress::parse(&self.road_address)?,
            detail: self
                .detail
                .as_deref()
                .map(DetailAddress::parse)
                .transpose()?,
            postal_code: PostalCode::parse(&self.postal_code)?,
            entrance_note: self
                .entrance_note
                .as_deref()
                .map(EntranceNote::parse)
                .transpose()?,
        })
    }
}

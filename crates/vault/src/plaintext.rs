//! Personal data on its way out of the vault, wiped from memory when dropped.

use serde::{Serialize, Serializer};
use serde_json::Value;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A view of a customer's record (or part of it) as it leaves the vault: JSON whose every
/// string is overwritten with zeros when the view is dropped. It is serialised only where it
/// is handed to the response; its `Debug` shows nothing of it. Views of masked values are held
/// the same way: the type does not ask which fields a grant unmasked.
pub struct Plaintext(Value);

impl Plaintext {
    pub(crate) fn new(view: Value) -> Self {
        Plaintext(view)
    }

    /// The view, to inspect it in place (copying strings out of it escapes the wiping).
    pub fn as_json(&self) -> &Value {
        &self.0
    }
}

impl Serialize for Plaintext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plaintext(..)")
    }
}

impl Zeroize for Plaintext {
    fn zeroize(&mut self) {
        wipe(&mut self.0);
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Plaintext {}

/// Overwrites every string in `value` (object keys are field names, not data, and stay).
fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        Value::Number(_) => *value = Value::Null,
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zeroize::Zeroize;

    use super::Plaintext;

    #[test]
    fn serialises_as_the_view_it_holds() {
        let view = json!({ "email": "kim@example.com", "addresses": [{ "id": "a1" }] });
        let plaintext = Plaintext::new(view.clone());
        assert_eq!(serde_json::to_value(&plaintext).ok(), Some(view));
    }

    #[test]
    fn wiping_leaves_no_string_behind() {
        let mut plaintext = Plaintext::new(json!({
            "name": "홍길동",
            "addresses": [{ "road_address": "세종대로 110", "detail": null }],
        }));
        plaintext.zeroize();
        assert_eq!(
            plaintext.as_json(),
            &json!({ "name": "", "addresses": [{ "road_address": "", "detail": null }] })
        );
    }

    #[test]
    fn debug_shows_nothing_of_it() {
        let plaintext = Plaintext::new(json!({ "phone": "010-1234-5678" }));
        assert_eq!(format!("{plaintext:?}"), "Plaintext(..)");
    }
}

//! "Did this really come from us?": a pasted message judged by the codes it carries. Pure —
//! the caller finds the codes ([`NoticeCode::find_all`]), fetches the notices sealed with
//! them and passes them in; the smishing signals of the text are the caller's to add.

use crate::canonical;
use crate::code::{NoticeCode, NoticeKey};
use crate::model::Notice;

/// Most codes of one pasted text looked up: a text listing many codes is probing, not a
/// notice someone received.
pub const MAX_CODES_LOOKED_UP: usize = 3;

/// What a pasted message is, as far as the notice codes can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// A code in the text was made by the notice key for exactly this text (after formatting
    /// damage): the company sent it.
    Genuine(Box<Notice>),
    /// A code in the text is a notice's, but the text is not the one it was made for: someone
    /// changed the words, a number or a link.
    Altered,
    /// The text carries a code of the right shape that no notice has.
    UnknownCode,
    /// The text carries no notice code.
    NoCode,
}

impl Judgement {
    /// `genuine`, `altered`, `unknown_code` or `no_code`: what the record and the API say.
    pub fn as_str(&self) -> &'static str {
        match self {
            Judgement::Genuine(_) => "genuine",
            Judgement::Altered => "altered",
            Judgement::UnknownCode => "unknown_code",
            Judgement::NoCode => "no_code",
        }
    }
}

/// The codes of `text` worth looking up: each once, at most [`MAX_CODES_LOOKED_UP`].
pub fn codes_to_look_up(text: &str) -> Vec<NoticeCode> {
    let mut codes = Vec::new();
    for code in NoticeCode::find_all(text) {
        if !codes.contains(&code) {
            codes.push(code);
        }
        if codes.len() == MAX_CODES_LOOKED_UP {
            break;
        }
    }
    codes
}

/// Judges `text` against `candidates`, the sealed notices whose codes `text` carries.
pub fn judge(text: &str, key: &NoticeKey, candidates: &[Notice]) -> Judgement {
    let codes = codes_to_look_up(text);
    if codes.is_empty() {
        return Judgement::NoCode;
    }
    let digest = canonical::digest(text);
    let mut known = false;
    for notice in candidates {
        let Some(seal) = &notice.seal else { continue };
        if !codes.contains(&seal.code) {
            continue;
        }
        known = true;
        if key.matches(&seal.code, &notice.id, &seal.recipient_tag, &digest) {
            return Judgement::Genuine(Box::new(notice.clone()));
        }
    }
    if known {
        Judgement::Altered
    } else {
        Judgement::UnknownCode
    }
}

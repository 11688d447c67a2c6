// The identifiers the anonymous check accepts, normalised exactly as Haechi normalises them
// before hashing (crates/korean/src/normalize.rs: normalize_email, normalize_phone), so that
// the browser's hash is the hash of what the company stored. The shared vectors in
// vectors.json are checked against both implementations (tests/portal.rs and the portal
// crate's tests).

const EMAIL_MAX_LENGTH = 254;
const LOCAL_MAX_LENGTH = 64;
const LABEL_MAX_LENGTH = 63;
// Rust's str::trim and char::is_whitespace: the Unicode White_Space property (JavaScript's
// own trim() also strips U+FEFF and keeps U+0085).
const trim = (text) => text.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '');
const LOCAL_ALLOWED = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;

export class InvalidIdentifier extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidIdentifier';
  }
}

// An e-mail address: trimmed, NFC, ASCII only, lower-cased, local@domain.tld.
export function normalizeEmail(input) {
  const composed = trim(input).normalize('NFC');
  if (composed === '') throw new InvalidIdentifier('empty');
  if (!/^[\x00-\x7f]*$/.test(composed)) throw new InvalidIdentifier('not ASCII');
  const address = composed.toLowerCase();
  if (address.length > EMAIL_MAX_LENGTH) throw new InvalidIdentifier('too long');
  const at = address.indexOf('@');
  if (at < 0) throw new InvalidIdentifier('no @');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local === '' || local.length > LOCAL_MAX_LENGTH || !LOCAL_ALLOWED.test(local)
      || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw new InvalidIdentifier('local part');
  }
  checkDomain(domain);
  return address;
}

function checkDomain(domain) {
  const labels = domain.split('.');
  if (domain === '' || labels.length < 2) throw new InvalidIdentifier('domain');
  for (const label of labels) {
    if (label === '' || label.length > LABEL_MAX_LENGTH || !/^[a-z0-9-]+$/.test(label)
        || label.startsWith('-') || label.endsWith('-')) {
      throw new InvalidIdentifier('domain label');
    }
  }
  const tld = labels[labels.length - 1];
  if (tld.length < 2 || /^[0-9]+$/.test(tld)) throw new InvalidIdentifier('top-level domain');
}

// Full-width ASCII (as a Korean IME types it) to ASCII; the ideographic space to a space.
function foldFullWidth(c) {
  const code = c.codePointAt(0);
  if (code >= 0xff01 && code <= 0xff5e) return String.fromCodePoint(code - 0xfee0);
  if (code === 0x3000) return ' ';
  return c;
}

function isSeparator(c) {
  const code = c.codePointAt(0);
  return '-.()/'.includes(c) || (code >= 0x2010 && code <= 0x2015) || code === 0x2212
    || code === 0xfe58 || code === 0xfe63 || /^\p{White_Space}$/u.test(c);
}

// A Korean phone number: its digits, the international prefix folded to the leading 0.
export function normalizePhone(input) {
  let digits = '';
  let plus = false;
  for (const raw of trim(input)) {
    const c = foldFullWidth(raw);
    if (c >= '0' && c <= '9') digits += c;
    else if (c === '+' && digits === '' && !plus) plus = true;
    else if (isSeparator(c)) continue;
    else throw new InvalidIdentifier('character');
  }
  if (digits === '') throw new InvalidIdentifier('empty');
  let national = null;
  if (plus) {
    if (!digits.startsWith('82')) throw new InvalidIdentifier('country code');
    national = digits.slice(2);
  } else if (digits.startsWith('0082')) {
    national = digits.slice(4);
  } else if (digits.startsWith('82')) {
    national = digits.slice(2);
  }
  let normalized = digits;
  if (national !== null) {
    const rest = national.startsWith('0') ? national.slice(1) : national;
    normalized = rest.length === 8 && rest.startsWith('1') ? rest : `0${rest}`;
  }
  const shaped = (normalized.startsWith('0') && normalized.length >= 9 && normalized.length <= 12
      && normalized[1] !== '0')
    || (normalized.startsWith('1') && normalized.length === 8);
  if (!shaped) throw new InvalidIdentifier('shape');
  return normalized;
}

// An e-mail if it holds an @, else a phone number.
export function normalizeIdentifier(input) {
  return input.includes('@') ? normalizeEmail(input) : normalizePhone(input);
}

// The portal's anonymous exposure check (docs/exposure-check.md). The identifier is
// normalised and hashed here, blinded with the RFC 9497 OPRF (ristretto255-SHA512, by
// @cloudflare/voprf-ts), and only the blinded element and a 16-bit bucket of the hash are
// sent; the server's evaluation is unblinded here and compared with the bucket's tags. The
// identifier, its hash and the result never leave the page.
import { Oprf } from '@cloudflare/voprf-ts/facade';
import { CryptoNoble } from '@cloudflare/voprf-ts/crypto-noble';
import { InvalidIdentifier, normalizeIdentifier } from './normalize.js';

const api = Oprf.withConfig({ crypto: CryptoNoble });
const client = api
  .makeMode({ mode: api.Mode.OPRF, suite: api.Suite.RISTRETTO255_SHA512 })
  .makeClient();

const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// `exposed` or `clean`; throws InvalidIdentifier, or an Error whose message is `busy` or
// `failed`.
export async function check(identifier, fetcher = fetch) {
  const normalised = normalizeIdentifier(identifier);
  const hash = new Uint8Array(
    await crypto.subtle.digest('SHA-1', new TextEncoder().encode(normalised)),
  );
  const [finalize, request] = await client.blind([hash]);
  const response = await fetcher('/v1/exposure/check', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ bucket: hex(hash.subarray(0, 2)), blinded: base64url(request.blinded[0]) }),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (response.status === 429 || response.status === 503) throw new Error('busy');
  if (response.status !== 200) throw new Error('failed');
  const answer = await response.json();
  const evaluated = fromBase64url(answer.evaluated);
  const [output] = await client.finalize(finalize, { evaluated: [evaluated] });
  const tag = base64url(output.subarray(0, answer.tag_bytes));
  return answer.tags.includes(tag) ? 'exposed' : 'clean';
}

function attach() {
  const form = document.getElementById('check');
  if (!form || !globalThis.crypto?.subtle) return;
  const input = document.getElementById('check-identifier');
  const result = document.getElementById('check-result');
  const button = form.querySelector('button');
  form.hidden = false;
  document.getElementById('check-needs-js').hidden = true;
  const say = (kind, text) => {
    result.className = `result ${kind}`;
    result.textContent = text;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    say('', form.dataset.working);
    try {
      const outcome = await check(input.value);
      say(outcome, form.dataset[outcome]);
    } catch (error) {
      if (error instanceof InvalidIdentifier) say('', form.dataset.invalid);
      else if (error.message === 'busy') say('', form.dataset.busy);
      else say('', form.dataset.failed);
    } finally {
      button.disabled = false;
    }
  });
}

if (typeof document !== 'undefined') attach();

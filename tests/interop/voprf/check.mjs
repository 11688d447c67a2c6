// The anonymous exposure check as a browser does it, with the library the portal will bundle
// (@cloudflare/voprf-ts 1.0.0, facade API, noble provider: ristretto255-SHA512), against a
// running Haechi. Node's own SHA-1 hashes the normalised identifier. For each identifier it
// prints one JSON line: {identifier, exposed, body} — body is the exact request sent, so the
// caller can check it carries neither the identifier nor its hash.
//
// usage: node check.mjs BASE_URL IDENTIFIER...
import { createHash } from 'node:crypto';
import { Oprf } from '@cloudflare/voprf-ts/facade';
import { CryptoNoble } from '@cloudflare/voprf-ts/crypto-noble';

const [base, ...identifiers] = process.argv.slice(2);
const api = Oprf.withConfig({ crypto: CryptoNoble });
const client = api
  .makeMode({ mode: api.Mode.OPRF, suite: api.Suite.RISTRETTO255_SHA512 })
  .makeClient();
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

for (const identifier of identifiers) {
  const hash = createHash('sha1').update(identifier, 'utf8').digest();
  const [finalize, request] = await client.blind([new Uint8Array(hash)]);
  const body = JSON.stringify({
    bucket: hash.subarray(0, 2).toString('hex'),
    blinded: b64url(request.blinded[0]),
  });
  const response = await fetch(`${base}/v1/exposure/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  if (response.status !== 200) {
    throw new Error(`${identifier}: ${response.status} ${await response.text()}`);
  }
  const answer = await response.json();
  if (answer.suite !== 'ristretto255-SHA512') throw new Error(`suite ${answer.suite}`);
  const evaluated = Buffer.from(answer.evaluated, 'base64url');
  if (evaluated.length !== 32) throw new Error('evaluated element is not 32 bytes');
  const [output] = await client.finalize(finalize, { evaluated: [new Uint8Array(evaluated)] });
  const tag = b64url(output.subarray(0, answer.tag_bytes));
  console.log(JSON.stringify({ identifier, exposed: answer.tags.includes(tag), body }));
}

// The portal's own bundle (crates/portal/assets/check.js, the very bytes the binary serves)
// run by Node against a running Haechi: its `check` normalises the identifier as typed,
// hashes, blinds, asks and unblinds. Prints one JSON line per identifier: {identifier,
// outcome, body}, body being the exact request sent.
//
// usage: node portal_bundle.mjs BASE_URL IDENTIFIER...
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const bundle = resolve(import.meta.dirname, '../../../crates/portal/assets/check.js');
const { check } = await import(pathToFileURL(bundle).href);
const [base, ...identifiers] = process.argv.slice(2);

for (const identifier of identifiers) {
  let body = null;
  const fetcher = (path, options) => {
    body = options.body;
    return fetch(`${base}${path}`, options);
  };
  let outcome;
  try {
    outcome = await check(identifier, fetcher);
  } catch (error) {
    outcome = `error:${error.name}:${error.message}`;
  }
  console.log(JSON.stringify({ identifier, outcome, body }));
}

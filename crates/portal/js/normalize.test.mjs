// The browser's normaliser against the vectors the Rust normaliser is tested with
// (crates/portal/src/lib.rs tests): `node --test crates/portal/js/normalize.test.mjs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InvalidIdentifier, normalizeIdentifier } from './normalize.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8'));

test('every shared vector normalises as Haechi does', () => {
  for (const { input, normalized } of vectors) {
    if (normalized === null) {
      assert.throws(() => normalizeIdentifier(input), InvalidIdentifier, JSON.stringify(input));
    } else {
      assert.equal(normalizeIdentifier(input), normalized, JSON.stringify(input));
    }
  }
});

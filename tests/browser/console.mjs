// The responder console in Chromium (Debian's, driven by playwright-core) against the binary:
// sign in; a forged token sent while the alert list is open appears in it without a reload;
// one click from the stolen service credential's alert to "who was exposed" lists exactly the
// customers it read, and the export says the same; a block added from the console refuses
// the next request from that network, and lifted lets it through. No page loads anything from
// elsewhere or trips its Content Security Policy. Screenshots go to the `shots` directory.
//
// usage: node console.mjs '{"base": …, "shots": …, "client_id": …, …}' (see tests/console.rs)
import { chromium } from 'playwright-core';

const args = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
const shot = (page, name, options = {}) => page.screenshot({ path: `${args.shots}/${name}`, ...options });
// A request from another network than the browser's (the server trusts the harness's
// X-Forwarded-For).
const from = (address, path, token) => fetch(`${args.base}${path}`, {
  headers: { 'x-forwarded-for': address, ...(token ? { authorization: `Bearer ${token}` } : {}) },
});

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: args.base });
  const page = await context.newPage();
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  // A CSP violation is reported on the console as an error.
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(args.base)) failures.push(`loaded from elsewhere: ${request.url()}`);
  });

  // Sign in with the administrator's client.
  await page.goto('/console/');
  await page.fill('#client_id', args.client_id);
  await page.fill('#client_secret', args.client_secret);
  await page.click('form[action="/console/login"] button[type=submit]');
  await page.waitForSelector('#alerts');
  await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
  expect(await page.locator(`tr[data-id="${args.scope_alert}"]`).count() === 1, 'the service alert is listed');

  // A forged token from the forger's network while the list is open.
  await page.evaluate(() => { window.notReloaded = true; });
  const forged = await from(args.forger, '/v1/auth/session', args.forged);
  expect(forged.status === 401, `the forged token is refused (${forged.status})`);
  await page.waitForSelector('tr[data-id^="haechi.token.forged/"]', { timeout: 10_000 });
  expect(await page.evaluate(() => window.notReloaded === true), 'the alert appeared without a reload');
  const row = page.locator('tr[data-id^="haechi.token.forged/"]');
  expect((await row.locator('.severity').textContent()) === 'critical', 'shown as critical');
  await shot(page, 'console-alerts.png');

  // One click from the service credential's alert to its page, one more to who was exposed.
  await page.click(`tr[data-id="${args.scope_alert}"] a`);
  await page.waitForSelector('#run-scope');
  await shot(page, 'console-alert.png', { fullPage: true });
  await page.click('#run-scope');
  await page.waitForSelector('#exposed-count', { timeout: 30_000 });
  const listed = await page.$$eval('#customers tbody tr td:first-child', (cells) => cells.map((cell) => cell.textContent));
  const expected = [...args.exposed].sort();
  expect(JSON.stringify([...listed].sort()) === JSON.stringify(expected),
    `the scope lists exactly the customers read: ${listed} vs ${expected}`);
  expect((await page.textContent('#exposed-count')) === String(expected.length), 'the count agrees');
  expect(await page.locator('figure svg rect.bar').count() >= 1, 'the per-day figure is drawn');
  await shot(page, 'console-scope.png', { fullPage: true });
  const csv = await page.request.get(await page.getAttribute('#export-csv', 'href'));
  expect(csv.status() === 200, `the export answers (${csv.status()})`);
  const exported = (await csv.text()).trim().split('\n').slice(1).map((line) => line.split(',')[0]).sort();
  expect(JSON.stringify(exported) === JSON.stringify(expected), `the export lists the same: ${exported}`);

  // Block a network from the console: its next request is refused.
  await page.goto('/console/containment');
  await page.fill('#network', args.network);
  await page.fill('#block-reason', 'INC-7: scraping from this network');
  await page.click('#add-block button[type=submit]');
  await page.waitForSelector('.done');
  expect(await page.locator(`#block-list tr[data-network="${args.network}"]`).count() === 1, 'the block is listed');
  const blocked = await from(args.blocked_address, '/v1/auth/session', args.customer_token);
  const refusal = await blocked.json();
  expect(blocked.status === 403 && refusal.error === 'blocked', `the network is refused (${blocked.status} ${refusal.error})`);
  await shot(page, 'console-containment.png', { fullPage: true });

  // Lift it, saying why: the network is let through again.
  const blockRow = page.locator(`#block-list tr[data-network="${args.network}"]`);
  await blockRow.locator('input[name=reason]').fill("false alarm: the partner's office");
  await blockRow.locator('button').click();
  await page.waitForSelector('.done:has-text("Block lifted")');
  expect(await page.locator(`#block-list tr[data-network="${args.network}"]`).count() === 0, 'the block is gone');
  const through = await from(args.blocked_address, '/v1/auth/session', args.customer_token);
  expect(through.status === 200, `the network is let through (${through.status})`);

  // The keys (the forged token's key was revoked by detection) and the rules.
  await page.goto('/console/keys');
  expect(await page.locator('#keys .state.revoked').count() >= 1, 'the forger\'s key shows revoked');
  await shot(page, 'console-keys.png', { fullPage: true });
  await page.goto('/console/rules');
  expect(await page.locator('tr[data-rule="haechi.token.forged"] a').count() === 1, 'the rule links its last alert');
} catch (error) {
  const pages = browser.contexts().flatMap((context) => context.pages());
  for (const open of pages) {
    failures.push(`at ${open.url()}: ${(await open.textContent('main').catch(() => '')).slice(0, 600)}`);
  }
  failures.push(String(error));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('console: ok');

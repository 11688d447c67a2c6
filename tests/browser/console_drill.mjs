// The responder console after a drill (Chromium, driven by playwright-core): the coupang
// drill played its stolen-key attack against the server; the console lists the forged-token
// alert, its page shows the evidence (the forged reads, every one refused), and "who was
// exposed" says nobody — the drill's own verdict. Screenshot: console-after-drill.png.
//
// usage: node console_drill.mjs '{"base": …, "shots": …, "client_id": …, "client_secret": …}'
import { chromium } from 'playwright-core';

const args = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: args.base });
  const page = await context.newPage();
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
  });
  await page.goto('/console/');
  await page.fill('#client_id', args.client_id);
  await page.fill('#client_secret', args.client_secret);
  await page.click('form[action="/console/login"] button[type=submit]');
  await page.waitForSelector('#alerts');
  const forged = page.locator('tr[data-id^="haechi.token.forged/"]');
  expect(await forged.count() >= 1, 'the drill\'s forged-token alert is listed');
  await page.screenshot({ path: `${args.shots}/console-after-drill.png` });
  await forged.first().locator('a').click();
  await page.waitForSelector('#run-scope');
  const kinds = await page.$$eval('#evidence ~ div table tbody tr', (rows) => rows.map((row) => row.children[2]?.textContent));
  expect(kinds.length >= 1 && kinds.every((kind) => kind === 'token.forged'),
    `the evidence is the forged tokens, each refused as forged: ${kinds}`);
  await page.click('#run-scope');
  await page.waitForSelector('#exposed-count', { timeout: 30_000 });
  expect((await page.textContent('#exposed-count')) === '0', 'nobody was exposed');
} catch (error) {
  failures.push(String(error));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('console after a drill: ok');

// The exposure portal in Chromium (Debian's, driven by playwright-core): the anonymous check
// finds an exposed e-mail and not a clean one, with no request carrying either; signing in
// shows the exposed fields and the ones not exposed; over capacity the waiting page appears
// and the view comes back by itself. Screenshots go to SHOTS.
//
// usage: node portal.mjs BASE_URL SHOTS EXPOSED_EMAIL CLEAN_EMAIL LOGIN PASSWORD
import { chromium } from 'playwright-core';

const [base, shots, exposedEmail, cleanEmail, login, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ko-KR' });
  const page = await context.newPage();
  const sent = [];
  page.on('request', (request) => {
    if (request.method() === 'POST') sent.push(request.postData() ?? '');
  });
  const violations = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    if (message.type() === 'error') console.error(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  // On a wait that fails, say what the check said.
  const result = async () => `result: ${await page.textContent('#check-result')}`;

  // The anonymous check: the form appears once the script runs.
  await page.goto(`${base}/portal/`);
  await page.waitForSelector('#check:not([hidden])');
  expect(await page.isHidden('#check-needs-js'), 'the no-JavaScript note is hidden');
  await page.fill('#check-identifier', `  ${exposedEmail.toUpperCase()} `);
  await page.click('#check button');
  await page.waitForSelector('#check-result.exposed', { timeout: 15000 })
    .catch(async (error) => { throw new Error(`${error.message}\n${await result()}`); });
  await page.screenshot({ path: `${shots}/portal-check-exposed.png`, fullPage: true });
  await page.fill('#check-identifier', cleanEmail);
  await page.click('#check button');
  await page.waitForSelector('#check-result.clean', { timeout: 15000 })
    .catch(async (error) => { throw new Error(`${error.message}\n${await result()}`); });
  for (const body of sent) {
    for (const secret of [exposedEmail, cleanEmail, exposedEmail.toUpperCase()]) {
      expect(!body.includes(secret), `a request carried ${secret}: ${body}`);
    }
  }
  expect(sent.length === 2, `two checks sent, not ${sent.length}`);

  // Signing in, then the view: over capacity first (the lane admits one a second and the
  // sign-in took this second's turn), so the waiting page, which comes back by itself.
  await page.fill('#login-identifier', login);
  await page.fill('#login-password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('form[action^="/portal/login"] button')]);
  const waiting = await page.locator('meta[http-equiv="refresh"]').count();
  expect(waiting === 1, 'the first view after signing in is the waiting page');
  if (waiting === 1) {
    await page.screenshot({ path: `${shots}/portal-waiting.png`, fullPage: true });
  }
  await page.waitForSelector('#safe-title', { timeout: 20000 });
  const exposed = await page.locator('.exposed .fields li').evaluateAll(
    (items) => items.map((item) => item.dataset.field));
  const safe = await page.locator('.safe .fields li').evaluateAll(
    (items) => items.map((item) => item.dataset.field));
  expect(exposed.includes('name') && exposed.includes('phone'), `exposed: ${exposed}`);
  expect(safe.includes('customs_code') && !safe.includes('phone'), `not exposed: ${safe}`);
  await page.screenshot({ path: `${shots}/portal-me.png`, fullPage: true });

  // The statement page, and English.
  await page.goto(`${base}/portal/incident`);
  await page.screenshot({ path: `${shots}/portal-incident.png`, fullPage: true });
  await page.goto(`${base}/portal/?lang=en`);
  expect((await page.getAttribute('html', 'lang')) === 'en', 'English on ?lang=en');
  await page.screenshot({ path: `${shots}/portal-home-en.png`, fullPage: true });
  expect(violations.length === 0, `CSP violations: ${violations}`);

  // Without JavaScript the sign-in still works and the check says why it needs a script.
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
  const noScript = await plain.newPage();
  await noScript.goto(`${base}/portal/`);
  expect(await noScript.isVisible('#check-needs-js'), 'the no-JavaScript note is shown');
  expect(await noScript.isHidden('#check'), 'the check form stays hidden');
  await noScript.screenshot({ path: `${shots}/portal-home-no-js.png`, fullPage: true });

  // "Is this message from us?" without JavaScript: a smishing text pasted is answered not
  // ours, with reasons.
  await noScript.goto(`${base}/portal/verify`);
  await noScript.fill('#verify-text',
    '[Web발신]\n[해치몰] 개인정보 유출 피해보상금 신청 대상입니다.\n' +
    'https://haechimall-refund.top 에서 카드번호 입력 후 신청하세요. 문의 010-9876-5432');
  await noScript.click('form[action^="/portal/verify"] button[type=submit]');
  await noScript.waitForSelector('[data-verdict]');
  const verdict = await noScript.getAttribute('[data-verdict]', 'data-verdict');
  const reasons = await noScript.locator('.reasons li').count();
  expect(verdict === 'not_ours', `verdict: ${verdict}`);
  expect(reasons >= 2, `reasons: ${reasons}`);
  await noScript.screenshot({ path: `${shots}/portal-verify-not-ours.png`, fullPage: true });
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('ok');

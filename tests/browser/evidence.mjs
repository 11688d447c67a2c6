// The auditor's evidence report in Chromium (Debian's, driven by playwright-core): the page
// renders from the file alone (nothing loaded, no script), every control has its section with
// a status, evidence, and — when not met — its reason and findings in red; the figures are
// drawn; the print layout (A4) keeps them all. Screenshots go to SHOTS.
//
// usage: node evidence.mjs REPORT_HTML SHOTS
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [report, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'ko-KR' });
  const page = await context.newPage();
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  await page.goto(pathToFileURL(report).href);

  const sections = await page.$$eval('section.requirement', (nodes) => nodes.map((node) => ({
    id: node.id,
    status: node.querySelector('.status-line .badge')?.className ?? '',
    reason: node.querySelector('.reason')?.textContent?.trim() ?? '',
    reasonColour: node.querySelector('.reason') ? getComputedStyle(node.querySelector('.reason')).borderLeftColor : '',
    evidence: node.querySelectorAll('.evidence').length,
    findings: node.querySelectorAll('ul.findings li').length,
    visible: node.getBoundingClientRect().height > 0,
  })));
  const ids = ['2.5.1', '2.5.3', '2.5.4', '2.5.5', '2.5.6', '2.7.1', '2.7.2', '2.9.4', '2.9.5', '2.11.4', '2.11.5'];
  for (const id of ids) {
    const section = sections.find((found) => found.id === `req-${id}`);
    expect(section, `${id} has a section`);
    if (!section) continue;
    expect(section.visible, `${id} is visible`);
    expect(section.evidence > 0, `${id} shows evidence`);
    expect(section.reason.length > 20, `${id} says why`);
    if (/not-met|not_met/.test(section.status)) {
      expect(section.findings > 0, `${id} is not met with findings`);
      // Red: rgb(179, 38, 30) is #b3261e.
      expect(section.reasonColour === 'rgb(179, 38, 30)', `${id}'s reason is red (${section.reasonColour})`);
    }
  }
  const figures = await page.$$eval('figure svg', (nodes) => nodes.map((node) => node.getBoundingClientRect().width));
  expect(figures.length === 3 && figures.every((width) => width > 200), `three figures drawn (${figures})`);
  expect(await page.$$eval('script', (nodes) => nodes.length) === 0, 'no script');
  expect(requests.every((url) => url.startsWith('file:')), `nothing loaded from elsewhere: ${requests}`);
  await page.screenshot({ path: `${shots}/evidence-report.png`, fullPage: false });
  await page.locator('section.figures').screenshot({ path: `${shots}/evidence-figures.png` });

  // The print layout: A4 width, every section still there.
  await page.emulateMedia({ media: 'print' });
  await page.setViewportSize({ width: 794, height: 1123 });
  const printed = await page.$$eval('section.requirement', (nodes) => nodes.filter((node) => node.getBoundingClientRect().height > 0).length);
  expect(printed === ids.length, `print layout keeps every section (${printed})`);
  // A control in red, as an auditor's printout shows it.
  await page.$eval('#req-2\\.7\\.2', (node) => node.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: `${shots}/evidence-print.png`, fullPage: false });
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('evidence report: ok');

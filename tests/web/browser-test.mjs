// The dashboard in a real headless Chromium, offline, from file:// URLs:
// no console error, no dialog, no network request; the grid shows the right
// verdict per square; a filter changes what is shown; a cell page shows its
// failure class and logs; hostile content stays text. Screenshots are kept.
//   node browser-test.mjs CHROMIUM INDEX_HTML ARTIFACT_DIR
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

const [executablePath, indexPath, artifacts] = process.argv.slice(2);
const site = dirname(indexPath);
const RUN = '20261102-000000-bbbb';
const JUDGED = '20261103-000000-cccc';
const ABI = '20261104-000000-dddd';
const ABI_FWD = 'bookworm-to-trixie-pc-q35-7.2-k-bookworm-b2b2b2b2';
const ABI_BACK = 'trixie-to-bookworm-pc-q35-7.2-k-bookworm-c3c3c3c3';
const FWD = 'bookworm-to-trixie-pc-q35-7.2-k-bookworm-22222222';
const FX = 'bookworm-to-trixie-pc-i440fx-7.2-k-bookworm-33333333';
const problems = [];
let checks = 0;

function check(cond, what) {
  checks++;
  if (!cond) problems.push(what);
  console.log(`${cond ? 'ok' : 'not ok'} ${checks} - ${what}`);
}

const profile = mkdtempSync(join(tmpdir(), 'miglab-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
try {
  // offline: anything but file:// is refused and counted
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()} (${page.url()})`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.type()} ${d.message()}`); d.dismiss(); });
  const open = async (rel) => {
    const resp = await page.goto(pathToFileURL(join(site, rel)).href, { waitUntil: 'load' });
    check(resp === null || resp.ok(), `loads ${rel}`);
  };

  await open('index.html');
  check(await page.locator('table.runs tbody tr').count() === 4, 'index lists the four fixture runs');
  check(await page.locator('svg.trend rect.v-fail').count() >= 2, 'index has the trend chart');

  await open(`${RUN}/index.html`);
  check(await page.locator('#filters').isVisible(), 'the filter form is shown (the script ran under the CSP)');
  const squares = page.locator('table.matrix a.sq');
  check(await squares.count() === 6, 'six squares in the grid');
  const cls = async (id) => page.locator(`table.matrix a.sq[href="cells/${id}.html"]`).getAttribute('class');
  check(await cls(FWD) === 'sq v-fail abi', 'failing cell with an ABI change: red with the ABI mark');
  check(await cls(FX) === 'sq v-xfail', 'known issue: xfail');
  check(await page.locator('table.matrix a.sq.v-skip').count() === 1, 'one skip square');
  check(await page.locator('table.matrix a.sq.v-pass').count() === 2, 'two pass squares');
  check((await page.locator('#shown').textContent()) === '6 of 6 cells shown', 'all cells shown at first');
  await page.screenshot({ path: join(artifacts, 'run-page.png'), fullPage: true });

  await page.selectOption('select[name=v]', 'fail');
  check((await page.locator('#shown').textContent()) === '2 of 6 cells shown', 'verdict filter: 2 of 6 shown');
  check(await page.locator('table.matrix a.sq.off').count() === 4, 'verdict filter dims the other squares');
  check(await page.locator('#attention-table tbody tr:not(.off)').count() === 2, 'verdict filter hides attention rows');
  await page.selectOption('select[name=v]', 'abi');
  check((await page.locator('#shown').textContent()) === '1 of 6 cells shown', 'ABI filter: 1 shown');
  await page.selectOption('select[name=v]', '');
  await page.selectOption('select[name=m]', 'pc-i440fx-7.2');
  check((await page.locator('#shown').textContent()) === '1 of 6 cells shown', 'machine filter: 1 shown');
  await page.selectOption('select[name=m]', '');
  await page.selectOption('select[name=c]', 'subsection-unknown');
  check((await page.locator('#shown').textContent()) === '1 of 6 cells shown', 'class filter: 1 shown');
  await page.click('#filters button[type=reset]');
  await page.waitForFunction(() => document.getElementById('shown').textContent === '6 of 6 cells shown');

  // phone width: still readable (no horizontal page scroll)
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(pathToFileURL(join(site, RUN, 'index.html')).href);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `phone width: no horizontal page scroll (${overflow}px)`);
  await page.screenshot({ path: join(artifacts, 'run-page-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  await open(`${RUN}/cells/${FWD}.html`);
  check((await page.locator('#failure-class').textContent()) === 'subsection-unknown', 'cell page shows the failure class');
  check(await page.getByText('A subsection the destination does not know').isVisible(), 'cell page shows the class title');
  check(await page.locator('details.log[open] pre.log', { hasText: 'Machine type is deprecated' }).isVisible(),
    'cell page shows the destination stderr');
  check(await page.locator('#logs a[href$="qmp-src.log"]').count() === 1, 'cell page links the QMP transcript');
  check(await page.locator('details.finding.abi').count() === 1, 'cell page has the ABI finding');
  check((await page.locator('#repro').textContent()).startsWith('miglab cell --src debian:bookworm --dst debian:trixie'),
    'cell page has the command to reproduce');
  await page.screenshot({ path: join(artifacts, 'cell-page.png'), fullPage: true });

  // a judged run: a build failing its own control, the cell it explains
  await open(`${JUDGED}/index.html`);
  check(await page.locator('#unsound-builds').isVisible(), 'judged run: the unsound build is named');
  check((await page.locator('#unsound-builds').textContent()).includes('fails migrating to itself here: 2 of 3 attempts'),
    'judged run: with its rate');
  check(await cls(FWD) === 'sq v-source-unsound', 'judged run: the unsound cell is marked');
  check((await page.locator(`table.matrix a.sq[href="cells/${FWD}.html"] b`).textContent()) === 'U',
    'judged run: the mark is a symbol, not only a colour');
  await page.screenshot({ path: join(artifacts, 'judged-run-page.png'), fullPage: true });
  await open(`${JUDGED}/cells/${FWD}.html`);
  check(await page.locator('#attempts tbody tr').count() === 3, 'judged cell: its three attempts');
  check(await page.locator('#unsound').isVisible(), 'judged cell: the build defect is said');

  // a run judged with ABI severities: the machine-type entries first,
  // breaks marked in the grid, the filters for the ABI mark and the break
  await open(`${ABI}/index.html`);
  const rows = page.locator('#machine-abi-table tr.mt-row');
  check(await rows.count() === 3, 'ABI run: one row per machine-type entry');
  check((await rows.first().getAttribute('data-mt')) === 'break', 'ABI run: the break first');
  check(await page.locator('#machine-abi').evaluate((el) => {
    const att = document.getElementById('attention');
    return !!(el.compareDocumentPosition(att) & Node.DOCUMENT_POSITION_FOLLOWING);
  }), 'ABI run: the machine-type section before the attention list');
  check(await page.locator('#attention-table tbody tr').count() === 4, 'ABI run: four cells need attention');
  check(await cls(ABI_BACK) === 'sq v-pass abi mtb', 'ABI run: a pass with an ABI error in a breaking machine type');
  check((await page.locator(`table.matrix a.sq[href="cells/${ABI_FWD}.html"] i`).textContent()) === '\u2260',
    'ABI run: the break mark is a symbol, not only a colour');
  await page.locator('#machine-abi-table details.mt-diffs').first().evaluate((d) => { d.open = true; });
  check(await page.locator('#machine-abi-table details.mt-diffs').first().locator('p.more').isVisible(),
    'ABI run: the capped differences say how many more');
  await page.selectOption('select[name=v]', 'mtb');
  check((await page.locator('#shown').textContent()) === '2 of 7 cells shown', 'machine-type break filter: 2 of 7 shown');
  await page.selectOption('select[name=v]', 'abi');
  check((await page.locator('#shown').textContent()) === '1 of 7 cells shown', 'ABI error filter: 1 of 7 shown');
  await page.selectOption('select[name=v]', '');
  await page.screenshot({ path: join(artifacts, 'abi-run-page.png'), fullPage: true });
  await page.locator(`#attention-table a[href="#mt-debian_3abookworm..debian_3atrixie_40pc-q35-7.2"]`).click();
  check(await page.evaluate(() => location.hash) === '#mt-debian_3abookworm..debian_3atrixie_40pc-q35-7.2',
    'ABI run: the explanation links to the machine-type row');
  await open(`${ABI}/cells/${ABI_FWD}.html`);
  check((await page.locator('#machine-type .badge.mt-break').textContent()) === 'break', 'ABI cell: the machine-type verdict');
  await page.locator('#machine-type a').click();
  await page.waitForURL(/index\.html#mt-/);
  check(await page.locator('#machine-abi-table tr.mt-row:target').count() === 1, 'ABI cell: its link lands on the entry');
  await open(`${ABI}/cells/${ABI_BACK}.html`);
  check(await page.locator('details.finding.abi table.diffs .badge.sev-error').count() === 1,
    'ABI cell: a kind and severity badge per difference');
  await page.screenshot({ path: join(artifacts, 'abi-cell-page.png'), fullPage: true });

  // the hostile cell, reached from the grid
  await open(`${RUN}/index.html`);
  const href = await page.locator('table.matrix a.sq[data-c="unclassified"]').getAttribute('href');
  await open(`${RUN}/${href}`);
  await page.locator('details').evaluateAll((ds) => ds.forEach((d) => { d.open = true; }));
  await page.waitForTimeout(300);
  check((await page.locator('h1').textContent()).includes('<script>alert(1)</script>'), 'hostile id shown as text');
  check(await page.locator('script').count() === 1, 'only the dashboard script is on the page');
  check(await page.locator('img').count() === 0, 'no injected image element');
  check(await page.evaluate(() => document.querySelectorAll('textarea').length) === 0, 'no injected textarea');
  check((await page.locator('pre.log').allTextContents()).some((t) => t.includes('</textarea>')), 'hostile console shown as text');
  await page.screenshot({ path: join(artifacts, 'hostile-cell-page.png'), fullPage: true });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

for (const p of problems) console.log(`# problem: ${p}`);
for (const f of ['run-page.png', 'run-page-phone.png', 'cell-page.png', 'judged-run-page.png', 'abi-run-page.png',
  'abi-cell-page.png', 'hostile-cell-page.png'])
  console.log(`screenshot: ${join(artifacts, f)}`);
console.log(`1..${checks}`);
process.exit(problems.length ? 1 : 0);

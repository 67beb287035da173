// Browser test of the dashboard against a running server with demo data.
// Run by `cargo test` (tests/api/browser.rs), which starts the server and passes:
//   BASE_URL, API_KEY, CHROMIUM (executable), SCREENSHOT_DIR, DOWNLOAD_DIR.
// Every check compares what the page shows with what the API answers.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const { BASE_URL, API_KEY, CHROMIUM, SCREENSHOT_DIR } = process.env;
const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const count = new Intl.NumberFormat('en-US');
const KPIS = {
  members: 'count', membersWithConversions: 'count', conversions: 'count', clicks: 'count',
  totalSales: 'money', salesPerMember: 'money', commissionsEarned: 'money',
  averageCommissionPerMember: 'money', paymentsDue: 'money', membersWithPaymentsDue: 'count',
};

async function api(query, variables = {}) {
  const response = await fetch(`${BASE_URL}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

function shown(value, kind) {
  if (value === null) return '—';
  return kind === 'money' ? money.format(Number(value)) : count.format(value);
}

async function apiKpis(range) {
  const { kpis } = await api(`query($r: DateRangeInput) { kpis(dateRange: $r) { ${Object.keys(KPIS).join(' ')} } }`, { r: range });
  return Object.fromEntries(Object.entries(KPIS).map(([field, kind]) => [field, shown(kpis[field], kind)]));
}

async function pageKpis(page) {
  return page.$$eval('[data-kpi]', (widgets) => Object.fromEntries(widgets.map((w) => [w.dataset.kpi, w.querySelector('.value').textContent])));
}

async function offerRows(page) {
  return page.$$eval('tbody tr', (rows) => rows.map((r) => r.querySelector('td[data-column="NAME"]')?.textContent));
}

const step = (name) => console.log(`· ${name}`);

/** Waits until the app has shown the page of the current URL with its data loaded. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelector('#app')?.dataset.ready === location.hash);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (error) => { throw error; });

  step('signs in with the API key');
  await page.goto(`${BASE_URL}/`);
  await page.fill('#api-key', API_KEY);
  await page.click('button[type=submit]');
  await settled(page);

  step('the ten KPI widgets show what the API says (default: active offers, last 6 months)');
  const sixMonths = await apiKpis(null);
  assert.deepEqual(await pageKpis(page), sixMonths);

  step('changing the date range changes them');
  await page.selectOption('#date-preset', 'LAST_30_DAYS');
  await page.waitForURL(/preset=LAST_30_DAYS/);
  await settled(page);
  const thirtyDays = await apiKpis({ preset: 'LAST_30_DAYS' });
  assert.deepEqual(await pageKpis(page), thirtyDays);
  assert.notDeepEqual(thirtyDays, sixMonths, 'the demo has different figures for 30 days and 6 months');
  await page.selectOption('#date-preset', 'LAST_6_MONTHS');
  await page.waitForURL(/preset=LAST_6_MONTHS/);
  await settled(page);

  step('searching the offers table narrows it');
  const before = await offerRows(page);
  const term = before[0].split(' ')[0];
  const { offers } = await api('query($q: String) { offers(first: 100, search: $q) { totalCount } }', { q: term });
  await page.fill('#search', term);
  await page.waitForURL(new RegExp(`search=${encodeURIComponent(term)}`));
  await settled(page);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), offers.totalCount);
  const after = await offerRows(page);
  assert.ok(after.length < before.length, `${after.length} rows of ${before.length}`);
  assert.ok(after.every((name) => name.toLowerCase().includes(term.toLowerCase())));
  await page.fill('#search', '');
  await page.waitForURL((url) => !url.hash.includes('search='));
  await settled(page);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), before.length);

  step('the column picker asks only for what is shown and its choice survives a reload');
  await page.click('button:has-text("Columns")');
  await page.uncheck('#offers-columns input[value="CLICKS"]');
  await page.waitForFunction(() => !document.querySelector('th[data-column="CLICKS"]') && document.querySelector('tbody tr'));
  await page.reload();
  await settled(page);
  assert.equal(await page.$('th[data-column="CLICKS"]'), null, 'Clicks stays hidden after a reload');
  const headers = await page.$$eval('thead th', (ths) => ths.map((th) => th.dataset.column));
  const saved = (await api('{ tableColumns(table: OFFERS) }')).tableColumns;
  assert.deepEqual(headers, saved);

  step('the CSV download has the chosen columns');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Export CSV")')]);
  const csv = await readFile(await download.path(), 'utf8');
  const header = csv.split('\r\n')[0].split('\n')[0].split(',');
  assert.equal(header.length, saved.length);
  assert.ok(!header.includes('Clicks'), header.join(','));
  assert.ok(header.includes('Commissions Earned'), header.join(','));
  await page.screenshot({ path: `${SCREENSHOT_DIR}/home.png`, fullPage: true });

  step('an offer page lists its members');
  const firstOffer = await page.$eval('tbody tr td[data-column="NAME"] a', (a) => a.textContent);
  await page.click('tbody tr td[data-column="NAME"] a');
  await page.waitForURL(/#\/offers\//);
  await settled(page);
  assert.ok((await page.textContent('#offer-name')).startsWith(firstOffer));
  const offerId = decodeURIComponent(page.url().match(/#\/offers\/([^?]+)/)[1]);
  const { offer } = await api('query($id: ID!) { offer(id: $id) { memberships(first: 20) { totalCount } } }', { id: offerId });
  const memberRows = await page.$$eval('tbody tr', (rows) => rows.length);
  assert.equal(memberRows, Math.min(20, offer.memberships.totalCount));
  assert.ok(memberRows > 0);
  await page.screenshot({ path: `${SCREENSHOT_DIR}/offer.png`, fullPage: true });

  step('an offer action asks first, then shows what happened; a refused one says why');
  await page.click('button:has-text("Remove")');
  assert.match(await page.textContent('.error'), /Select members/);
  const membershipId = await page.$eval('tbody tr', (row) => row.dataset.id);
  const codeBefore = (await api('query($id: ID!) { membership(id: $id) { promoCode } }', { id: membershipId })).membership.promoCode;
  await page.check(`tbody tr[data-id="${membershipId}"] input[type=checkbox]`);
  await page.click('button:has-text("Refresh promo codes")');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("New codes")');
  const codeAfter = (await api('query($id: ID!) { membership(id: $id) { promoCode } }', { id: membershipId })).membership.promoCode;
  assert.ok(codeAfter && codeAfter !== codeBefore, `${codeBefore} → ${codeAfter}`);
  assert.match(await page.textContent('.notice'), new RegExp(codeAfter));

  step('Send Payment pays exactly the Payments Due shown, which then drops to zero');
  await page.goto(`${BASE_URL}/#/`);
  await settled(page);
  const due = (await pageKpis(page)).paymentsDue;
  assert.notEqual(due, '$0.00', 'the demo has payments due');
  await page.click('#send-payment');
  await page.waitForSelector('#payment-preview');
  const offered = await page.textContent('#payment-preview');
  assert.ok(offered.includes(`Pay ${due} to`), `the preview (${offered}) pays the ${due} shown`);
  await page.click('dialog button.primary');
  await page.waitForSelector('#payment-result');
  const paidText = await page.textContent('#payment-result');
  assert.ok(paidText.includes(`: ${due} to`), `the payment (${paidText}) is the ${due} shown`);
  await settled(page);
  await page.reload();
  await settled(page);
  assert.equal((await pageKpis(page)).paymentsDue, '$0.00');
  assert.equal((await apiKpis(null)).paymentsDue, '$0.00');

  step('works at phone width');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await settled(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
  await page.screenshot({ path: `${SCREENSHOT_DIR}/home-phone.png` });
  step('GraphiQL reads the schema without a key: its docs explorer lists the Query fields');
  const anonymous = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const graphiql = await anonymous.newPage();
  graphiql.on('pageerror', (error) => { throw error; });
  await graphiql.goto(`${BASE_URL}/graphiql`);
  await graphiql.click('button[aria-label="Show Documentation Explorer"]');
  await graphiql.click('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name:text-is("Query")');
  await graphiql.waitForSelector('.graphiql-doc-explorer-field-name:text-is("kpiSeries")');
  const fields = await graphiql.$$eval('.graphiql-doc-explorer-field-name', (names) => names.map((n) => n.textContent));
  for (const field of ['kpis', 'kpiSeries', 'offers', 'members', 'paymentPreview']) {
    assert.ok(fields.includes(field), `${field} is listed: ${fields.join(', ')}`);
  }
  await anonymous.close();
  console.log('browser tests passed');
} finally {
  await browser.close();
}

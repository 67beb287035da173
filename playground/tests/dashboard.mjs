// Browser test of the dashboard against a running server with demo data.
// Run by `cargo test` (tests/api/browser.rs), which starts the server and passes:
//   BASE_URL, API_KEY, CHROMIUM (executable), SCREENSHOT_DIR, DOWNLOAD_DIR, and
//   SHOP_TOKEN, a token the Shopify stand-in the server talks to accepts.
// Every check compares what the page shows with what the API answers.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const { BASE_URL, API_KEY, CHROMIUM, SCREENSHOT_DIR, SHOP_TOKEN } = process.env;
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

const AXE = await readFile(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/** Runs axe-core on the page as it is: no serious or critical violation. Loaded
 * through the DevTools protocol, which the dashboard's CSP rightly does not allow
 * a page to do. */
async function accessible(page, where) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(serious, [], `${where} has accessibility violations`);
  // What a page leaves out must not show up as the word JavaScript writes for it.
  const stray = await page.evaluate(() => document.querySelector('#app').innerText.match(/\b(null|undefined|NaN)\b/)?.[0]);
  assert.equal(stray, undefined, `${where} shows "${stray}"`);
}

/** Waits until the app has shown the page of the current URL with its data loaded. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelector('#app')?.dataset.ready === location.hash);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, locale: 'en-US' });
  const page = await context.newPage();
  page.on('pageerror', (error) => { throw error; });
  // Nothing the page asks for by itself is missing (a favicon, an asset).
  const missing = [];
  page.on('response', (response) => {
    if (response.status() === 404 && response.request().method() === 'GET' && !response.url().includes('/export/')) missing.push(response.url());
  });

  step('signs in with the API key');
  await page.goto(`${BASE_URL}/`);
  await page.fill('#api-key', API_KEY);
  await page.click('button[type=submit]');
  await settled(page);

  step('the ten KPI widgets show what the API says (default: active offers, last 6 months)');
  const sixMonths = await apiKpis(null);
  assert.deepEqual(await pageKpis(page), sixMonths);
  await page.waitForSelector('.chart svg .x-tick');
  await accessible(page, 'the home page');
  const { viewer: { brand: own } } = await api('{ viewer { brand { name } } }');
  assert.equal(await page.textContent('.top .brand'), `Sales Tracking · ${own.name}`, 'the brand is named');
  assert.equal(await page.getAttribute('#filters-button', 'aria-expanded'), 'false');
  await page.click('#filters-button');
  assert.equal(await page.getAttribute('#filters-button', 'aria-expanded'), 'true');
  await page.click('#filters-button');
  await page.goto(`${BASE_URL}/#/?preset=ALL_TIME`);
  await settled(page);
  assert.match(await page.textContent('#range-label'), /^All time, to \d{4}-\d{2}-\d{2}$/);
  await page.goto(`${BASE_URL}/#/`);
  await settled(page);

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

  step('searching the offers table narrows it, typed at human speed: no keystroke or focus lost');
  const before = await offerRows(page);
  const term = before[0].split(' ')[0];
  const { offers } = await api('query($q: String) { offers(first: 100, search: $q) { totalCount } }', { q: term });
  const half = Math.ceil(term.length / 2);
  await page.click('#search');
  await page.keyboard.type(term.slice(0, half), { delay: 80 });
  // A pause: the first half is searched while the rest is typed.
  await page.waitForTimeout(350);
  await page.keyboard.type(term.slice(half), { delay: 80 });
  await page.waitForURL(new RegExp(`search=${encodeURIComponent(term)}$|search=${encodeURIComponent(term)}&`));
  await settled(page);
  assert.deepEqual(await page.evaluate(() => [document.activeElement.id, document.activeElement.value]), ['search', term]);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), offers.totalCount);
  const after = await offerRows(page);
  assert.ok(after.length < before.length, `${after.length} rows of ${before.length}`);
  assert.ok(after.every((name) => name.toLowerCase().includes(term.toLowerCase())));
  await page.fill('#search', '');
  await page.waitForURL((url) => !url.hash.includes('search='));
  await settled(page);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), before.length);
  const sortButton = await page.getAttribute('th button[id^="sort-"]', 'id');
  const unsorted = page.url();
  await page.focus(`#${sortButton}`);
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.href !== unsorted);
  await settled(page);
  assert.equal(await page.evaluate(() => document.activeElement.id), sortButton, 'sorting from the keyboard keeps the focus on its column');

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
  const tableHeader = await page.$$eval('thead th[data-column]', (cells) => cells.map((th) => th.textContent.replace(/ [↑↓]$/, '')));
  assert.deepEqual(header, tableHeader, 'the file reads like the table');
  const [ordersFile] = await Promise.all([page.waitForEvent('download'), page.click('#export-orders')]);
  const orders = (await readFile(await ordersFile.path(), 'utf8')).split('\n');
  assert.match(orders[0], /^Order,Source,Placed,.*,Sold for,Sold in,.*,Sale,Commission,Currency/);
  assert.ok(orders.length > 2, "the demo's orders are in it");
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

  step("the offer page fits its type: links for a sales-link offer, codes and their actions for a promo-code one");
  const { offers: typed } = await api('{ offers(first: 50) { nodes { id type memberships(first: 1) { totalCount } } } }');
  const linkOffer = typed.nodes.find((o) => o.type === 'SALES_LINK' && o.memberships.totalCount > 1);
  const codeOffer = typed.nodes.find((o) => o.type === 'PROMO_CODE' && o.memberships.totalCount > 1);
  for (const [shownOffer, has, hasNot] of [[linkOffer, 'TRACKING_URL', 'PROMO_CODE'], [codeOffer, 'PROMO_CODE', 'TRACKING_URL']]) {
    await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(shownOffer.id)}?preset=LAST_6_MONTHS`);
    await settled(page);
    assert.ok(await page.$(`th[data-column="${has}"]`), `a ${shownOffer.type} offer shows ${has}`);
    assert.equal(await page.$(`th[data-column="${hasNot}"]`), null, `a ${shownOffer.type} offer leaves out ${hasNot}`);
    assert.ok(await page.$('th[data-column="STATUS"]'), 'Status is shown by default');
    assert.equal(Boolean(await page.$('button:has-text("Refresh promo codes")')), shownOffer.type === 'PROMO_CODE');
  }

  step('select-all selects every row; a removed member leaves the list and reads Removed when asked for');
  await page.check('#select-all');
  const boxes = await page.$$eval('tbody input[type=checkbox]', (inputs) => inputs.map((input) => input.checked));
  assert.ok(boxes.length > 1 && boxes.every(Boolean), 'every row is selected');
  await page.uncheck('#select-all');
  const removedId = await page.$eval('tbody tr:last-child', (row) => row.dataset.id);
  await page.check(`tbody tr[data-id="${removedId}"] input[type=checkbox]`);
  await page.click('button:has-text("Remove")');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("Removed")');
  await settled(page);
  assert.equal(await page.$(`tbody tr[data-id="${removedId}"]`), null, 'a removed member is out of the list');
  await page.check('#show-removed');
  await page.waitForURL(/removed=shown/);
  await settled(page);
  assert.equal(await page.textContent(`tbody tr[data-id="${removedId}"] td[data-column="STATUS"]`), 'Removed');
  await page.uncheck('#show-removed');
  await settled(page);

  step('a member name leads to the member and each of their offers');
  const memberName = await page.textContent('tbody tr td[data-column="NAME"] a');
  await page.click('tbody tr td[data-column="NAME"] a');
  await page.waitForURL(/#\/members\//);
  await settled(page);
  assert.equal(await page.textContent('#member-name'), memberName);
  assert.ok(await page.$(`tbody a[href*="${encodeURIComponent(codeOffer.id)}"]`), 'the offer it came from is listed');
  await accessible(page, 'a member page');

  step("a member's payout currency is edited on their page; one without a rate is refused in the dialog");
  await page.click('#edit-member');
  await page.fill('dialog input[name=payoutCurrency]', 'chf');
  await page.click('dialog button.primary');
  await page.waitForSelector('#dialog-error:not(:empty)');
  assert.match(await page.textContent('#dialog-error'), /no exchange rate from USD to CHF/);
  assert.equal(await page.inputValue('dialog input[name=payoutCurrency]'), 'chf', 'what was typed stays');
  await page.fill('dialog input[name=payoutCurrency]', '');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("is paid in USD from now on")');
  assert.equal(await page.textContent('#member-name'), memberName, 'the page shows the member again');
  await page.goBack();
  await settled(page);

  step('emails say when no mail server is configured, and the member table shows them waiting');
  const emailed = await page.$eval('tbody tr', (row) => row.dataset.id);
  await page.check(`tbody tr[data-id="${emailed}"] input[type=checkbox]`);
  await page.click('button:has-text("Email members")');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("No mail server is configured")');
  await page.waitForSelector(`tbody tr[data-id="${emailed}"] .badge:has-text("email waiting")`);
  await accessible(page, 'an offer page with an email waiting');

  step('the home page and an offer page follow an order live, within 2 seconds and without a reload');
  const liveCode = (await api('query($id: ID!) { offer(id: $id) { memberships(first: 1, filter: { active: true }) { nodes { promoCode } } } }', { id: codeOffer.id }))
    .offer.memberships.nodes[0].promoCode;
  const orderLive = async (n) => {
    const sent = Date.now();
    await api('mutation($i: RecordConversionInput!) { recordConversion(input: $i) { conversion { id } } }',
      { i: { externalOrderId: `live-${n}-${sent}`, saleAmount: '50.00', promoCode: liveCode } });
    return sent;
  };
  for (const path of ['#/', `#/offers/${encodeURIComponent(codeOffer.id)}?preset=LAST_6_MONTHS`]) {
    await page.goto(`${BASE_URL}/${path}`);
    await settled(page);
    await page.waitForSelector('#live-status:text-is("Live")');
    await page.evaluate(() => { window.sameDocument = true; });
    const before = await page.textContent('[data-kpi="conversions"] .value');
    const sent = await orderLive(path.length);
    await page.waitForFunction((old) => document.querySelector('[data-kpi="conversions"] .value')?.textContent !== old, before, { timeout: 2000 });
    assert.ok(Date.now() - sent < 2000, `shown ${Date.now() - sent} ms after the order`);
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'updated in place, not reloaded');
  }
  await settled(page);
  assert.deepEqual(await pageKpis(page), await (async () => {
    const { offer: live } = await api(`query($id: ID!) { offer(id: $id) { kpis(dateRange: { preset: LAST_6_MONTHS }, filter: { removed: false }) { ${Object.keys(KPIS).join(' ')} } } }`, { id: codeOffer.id });
    return Object.fromEntries(Object.entries(KPIS).map(([f, kind]) => [f, shown(live.kpis[f], kind)]));
  })());

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


  step('the chart has value and date ticks, and a tooltip for each point');
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}?preset=LAST_6_MONTHS`);
  await settled(page);
  await page.waitForSelector('.chart svg .y-tick');
  assert.ok((await page.$$('.chart svg .y-tick')).length >= 2, 'value ticks');
  assert.ok((await page.$$('.chart svg .x-tick')).length >= 2, 'date ticks');
  const series = (await api('query($id: ID!) { offer(id: $id) { kpiSeries(dateRange: { preset: LAST_6_MONTHS }, interval: WEEK) { start partial kpis { commissionsEarned } } } }', { id: offerId })).offer.kpiSeries;
  await page.focus('.chart svg');
  await page.keyboard.press('End');
  const lastTip = await page.textContent('.chart-tip');
  assert.ok(lastTip.startsWith(money.format(Number(series[series.length - 1].kpis.commissionsEarned))), `${lastTip} shows the last week's commissions`);
  await page.keyboard.press('Home');
  assert.ok((await page.textContent('.chart-tip')).startsWith(money.format(Number(series[0].kpis.commissionsEarned))));
  const box = await page.$eval('.chart svg', (svg) => svg.getBoundingClientRect().toJSON());
  await page.mouse.move(box.x + box.width - 14, box.y + 100);
  assert.equal(await page.textContent('.chart-tip'), lastTip, 'hovering the right edge shows the last point');
  assert.match(await page.textContent('.chart svg .x-tick'), /^week of /, 'a week reads as a week');
  assert.equal(await page.$$eval('.chart svg circle.partial', (marks) => marks.length), series.filter((p) => p.partial).length, 'partial weeks are marked');
  assert.equal(lastTip.endsWith('(partial)'), series[series.length - 1].partial);
  assert.equal(Boolean(await page.$('#chart-partial')), series.some((p) => p.partial));
  await accessible(page, 'the offer page');

  step('a range before anything happened says so, instead of a blank chart');
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}?start=2001-01-01&end=2001-03-31`);
  await settled(page);
  await page.waitForSelector('#chart-empty');
  assert.equal(await page.$('.chart svg'), null);
  await accessible(page, 'the offer page over an empty range');
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}?preset=LAST_6_MONTHS`);
  await settled(page);

  step("the offer summary follows the member table's filter");
  await page.click('button:has-text("Filter members")');
  await page.fill('#member-conversions-min', '1');
  await page.click('#member-filters button[type=submit]');
  await page.waitForURL(/conversionsMin=1/);
  await settled(page);
  // Removed members are out of the table (and so of its summary) unless asked for.
  const filtered = (await api(`query($id: ID!) { offer(id: $id) { kpis(dateRange: { preset: LAST_6_MONTHS }, filter: { conversions: { min: 1 }, removed: false }) { ${Object.keys(KPIS).join(' ')} }
    memberships(first: 1, dateRange: { preset: LAST_6_MONTHS }, filter: { conversions: { min: 1 }, removed: false }) { totalCount } } }`, { id: offerId })).offer;
  const summary = await pageKpis(page);
  assert.deepEqual(summary, Object.fromEntries(Object.entries(KPIS).map(([f, kind]) => [f, shown(filtered.kpis[f], kind)])));
  assert.equal(summary.members, count.format(filtered.memberships.totalCount), 'the summary counts the members listed');
  assert.ok(await page.$('#summary-filtered'));

  step('an offer is edited, paused, resumed, archived and activated from its page');
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}`);
  await settled(page);
  await page.click('#edit-offer');
  await page.fill('dialog input[name=name]', `${firstOffer} (edited)`);
  await page.fill('dialog input[name=holdPeriodDays]', '21');
  await page.click('dialog button.primary');
  await settled(page);
  await page.waitForSelector('.notice:has-text("Saved")');
  assert.ok((await page.textContent('#offer-name')).startsWith(`${firstOffer} (edited)`));
  const edited = (await api('query($id: ID!) { offer(id: $id) { name holdPeriodDays } }', { id: offerId })).offer;
  assert.deepEqual(edited, { name: `${firstOffer} (edited)`, holdPeriodDays: 21 });
  const status = async () => (await api('query($id: ID!) { offer(id: $id) { status } }', { id: offerId })).offer.status;
  await page.click('#pause-offer');
  await page.waitForSelector('#offer-status:text-is("Paused")');
  assert.equal(await status(), 'PAUSED');
  await page.click('#resume-offer');
  await page.waitForSelector('#offer-status:text-is("Active")');
  await page.click('#archive-offer');
  await page.click('dialog button.primary');
  await page.waitForSelector('#offer-status:text-is("Archived")');
  assert.equal(await status(), 'ARCHIVED');
  assert.equal(await page.$('#edit-offer + #archive-offer'), null);
  await page.click('#resume-offer');
  await page.waitForSelector('#offer-status:text-is("Active")');
  assert.equal(await status(), 'ACTIVE');

  step('reward rules are added, edited and switched from the offer page');
  await page.click('#add-rule');
  await page.selectOption('dialog select[name=trigger]', 'FIRST_CONVERSION');
  await page.selectOption('dialog select[name=kind]', 'FREE_PRODUCT');
  await page.fill('dialog input[name=description]', 'Trail socks');
  await page.fill('dialog input[name=subject]', 'Socks for you');
  await page.fill('dialog textarea[name=body]', 'Hi {{memberName}}, {{rewardDescription}} are on their way.');
  await page.click('dialog button.primary');
  await page.waitForSelector('#reward-rules tr:has-text("Trail socks")');
  const rules = async () => (await api('query($id: ID!) { offer(id: $id) { rewardRules { id description active email { subject } } } }', { id: offerId })).offer.rewardRules;
  const [rule] = (await rules()).filter((r) => r.description === 'Trail socks');
  assert.deepEqual(rule.email, { subject: 'Socks for you' });
  await page.click(`#reward-rules tr[data-rule="${rule.id}"] button:has-text("Edit")`);
  await page.fill('dialog input[name=description]', 'Trail socks, two pairs');
  await page.click('dialog button.primary');
  await page.waitForSelector('#reward-rules tr:has-text("two pairs")');
  await page.click(`#reward-rules tr[data-rule="${rule.id}"] button:has-text("Switch off")`);
  await page.waitForSelector(`#reward-rules tr[data-rule="${rule.id}"] td:text-is("Off")`);
  const [switched] = (await rules()).filter((r) => r.id === rule.id);
  assert.deepEqual([switched.description, switched.active], ['Trail socks, two pairs', false]);
  await page.screenshot({ path: `${SCREENSHOT_DIR}/offer-manage.png`, fullPage: true });

  step('members are created, and found on the server to add');
  await page.click('button:has-text("New member")');
  await page.fill('dialog input[name=name]', 'Zoe Browser');
  await page.fill('dialog input[name=email]', 'zoe.browser@example.com');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("Added Zoe Browser")');
  const { member: outsider } = (await api('mutation { createMember(input: { name: "Quinn Outsider", email: "quinn.outsider@example.com" }) { member { id } } }')).createMember;
  await page.click('button:has-text("Add members")');
  await page.fill('#member-search', 'quinn.outs');
  await page.waitForFunction(() => [...document.querySelectorAll('#member-results label')].length === 1
    && document.querySelector('#member-results label').textContent.includes('Quinn Outsider'));
  await page.check('#member-results input[type=checkbox]');
  assert.match(await page.textContent('#members-picked'), /Quinn Outsider/);
  await accessible(page, 'the Add members dialog');
  await page.click('dialog button.primary');
  await page.waitForSelector('.notice:has-text("Added 1 members")');
  assert.equal(await page.$$eval('#app .notice', (notices) => notices.length), 1, 'a new notice replaces the one before');
  await page.click('#app .notice .dismiss');
  assert.equal(await page.$('#app .notice'), null, 'a notice can be dismissed');
  const joined = (await api('query($id: ID!) { member(id: $id) { memberships { offer { id } } } }', { id: outsider.id })).member.memberships.map((m) => m.offer.id);
  assert.ok(joined.includes(offerId), 'the member found by search joined the offer');
  const zoe = (await api('{ members(first: 5, search: "zoe.browser") { nodes { memberships { offer { id } } } } }')).members.nodes[0];
  assert.ok(zoe.memberships.some((m) => m.offer.id === offerId), 'the new member joined the offer');

  step('an unattributed order is credited to a membership');
  await page.goto(`${BASE_URL}/#/orders`);
  await settled(page);
  const unattributed = (await api('{ unattributedOrders(first: 20) { nodes { id externalOrderId } } }')).unattributedOrders.nodes;
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), unattributed.length);
  assert.ok(unattributed.length > 0, 'the demo has unattributed orders');
  await accessible(page, 'the unattributed orders page');
  await page.screenshot({ path: `${SCREENSHOT_DIR}/orders.png`, fullPage: true });
  const order = unattributed[0];
  await page.click(`tbody tr[data-id="${order.id}"] button`);
  await page.waitForSelector('#assign-results input[type=radio]');
  await page.click('dialog button.primary');
  await page.waitForSelector(`.notice:has-text("Order ${order.externalOrderId} credited")`);
  const credited = (await api('query($id: ID!) { node(id: $id) { ... on Conversion { attribution membership { id } } } }', { id: order.id })).node;
  assert.equal(credited.attribution, 'MANUAL');
  assert.ok(credited.membership.id);
  await settled(page);
  assert.equal(await page.$(`tbody tr[data-id="${order.id}"]`), null, 'the order left the list');

  step('API keys are listed, created (secret shown once) and revoked on the settings page');
  await page.click('#nav-settings');
  await page.waitForURL(/#\/settings/);
  await settled(page);
  const keysBefore = (await api('{ apiKeys { id } }')).apiKeys.length;
  assert.equal(await page.$$eval('#api-keys tbody tr', (rows) => rows.length), keysBefore);
  await page.click('#create-key');
  await page.fill('dialog input[name=label]', 'Browser analyst');
  await page.selectOption('dialog select[name=role]', 'ANALYST');
  await page.click('dialog button.primary');
  const secret = await page.inputValue('#new-key-secret');
  assert.match(secret, /^stk_/);
  await page.click('dialog button.primary');
  await page.waitForSelector('#api-keys tr:has-text("Browser analyst")');
  await accessible(page, 'the API keys page');
  await page.screenshot({ path: `${SCREENSHOT_DIR}/settings.png`, fullPage: true });

  step('an analyst sees no admin actions and no key settings');
  const analystContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const analyst = await analystContext.newPage();
  analyst.on('pageerror', (error) => { throw error; });
  await analyst.goto(`${BASE_URL}/`);
  await analyst.fill('#api-key', secret);
  await analyst.click('button[type=submit]');
  await settled(analyst);
  assert.equal(await analyst.isHidden('#nav-settings'), true);
  assert.equal(await analyst.isHidden('#nav-webhooks'), true);
  assert.equal(await analyst.$('#send-payment'), null);
  await analyst.goto(`${BASE_URL}/#/settings`);
  await settled(analyst);
  assert.ok(await analyst.$('#admins-only'));
  await analyst.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}`);
  await settled(analyst);
  assert.equal(await analyst.$('#edit-offer'), null);
  assert.equal(await analyst.$('[aria-label="Member actions"]'), null);
  await analystContext.close();

  const created = (await api('{ apiKeys { id label revokedAt } }')).apiKeys.find((k) => k.label === 'Browser analyst');
  await page.click(`#api-keys tr[data-id="${created.id}"] button:has-text("Revoke")`);
  await page.click('dialog button.primary');
  await page.waitForSelector(`#api-keys tr[data-id="${created.id}"] td:has-text("Revoked")`);
  assert.ok((await api('{ apiKeys { id revokedAt } }')).apiKeys.find((k) => k.id === created.id).revokedAt);
  const refused = await fetch(`${BASE_URL}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` }, body: '{"query":"{ viewer { role } }"}' });
  assert.equal(refused.status, 401, 'the revoked key is refused at once');

  step('a webhook endpoint is added (secret shown once), receives signed events, and a delivery is replayed');
  const received = [];
  const receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      received.push({ id: request.headers['webhook-id'], timestamp: request.headers['webhook-timestamp'], signature: request.headers['webhook-signature'], body });
      response.writeHead(200).end();
    });
  });
  await new Promise((listening) => receiver.listen(0, '127.0.0.1', listening));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;
  await page.click('#nav-webhooks');
  await page.waitForURL(/#\/webhooks/);
  await settled(page);
  assert.ok(await page.$('#no-endpoints'));
  await page.click('#add-endpoint');
  await page.fill('dialog input[name=url]', hookUrl);
  await page.fill('dialog input[name=description]', 'CRM sync');
  await page.$$eval('dialog input[name=events]', (boxes) => boxes.forEach((box) => { box.checked = box.value === 'offer.updated'; }));
  await page.click('dialog button.primary');
  const hookSecret = await page.inputValue('#new-endpoint-secret');
  assert.match(hookSecret, /^whsec_/);
  await page.click('dialog button.primary');
  await page.waitForSelector(`section.endpoint h2:has-text("${hookUrl}")`);
  const [endpoint] = (await api('{ webhookEndpoints { id url events } }')).webhookEndpoints;
  assert.deepEqual(endpoint.events, ['offer.updated']);
  await api('mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 7 }) { offer { id } } }', { id: offerId });
  const until = async (what, done) => {
    for (let waited = 0; !(await done()); waited += 100) {
      assert.ok(waited < 20000, `never: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await until('the event arrives', () => received.length >= 1);
  const [first] = received;
  const expected = createHmac('sha256', Buffer.from(hookSecret.slice('whsec_'.length), 'base64'))
    .update(`${first.id}.${first.timestamp}.${first.body}`).digest('base64');
  assert.equal(first.signature, `v1,${expected}`, 'signed as Standard Webhooks verifies');
  assert.equal(JSON.parse(first.body).type, 'offer.updated');
  await until('the delivery shows as succeeded', async () => {
    await page.reload();
    await settled(page);
    return Boolean(await page.$('section.endpoint tr[data-status="SUCCEEDED"]'));
  });
  assert.equal(await page.textContent('section.endpoint tr[data-status="SUCCEEDED"] td:first-child code'), first.id);
  await accessible(page, 'the webhooks page');
  await page.screenshot({ path: `${SCREENSHOT_DIR}/webhooks.png`, fullPage: true });
  await page.click('section.endpoint tr[data-status="SUCCEEDED"] button.replay');
  await page.waitForSelector('.notice:has-text("again")');
  await until('the replay arrives', () => received.length >= 2);
  assert.equal(received[1].id, first.id, 'a replay sends the same event');
  await page.click('section.endpoint button.toggle');
  await page.waitForSelector('section.endpoint .badge:has-text("Disabled")');
  assert.equal((await api('{ webhookEndpoints { enabled } }')).webhookEndpoints[0].enabled, false);
  receiver.close();

  step('Shopify: a refused token is said in place; a good one connects the store and sets it up');
  await page.click('#nav-shopify');
  await page.waitForURL(/#\/shopify/);
  await settled(page);
  assert.ok(await page.$('#no-store'));
  const connectWith = async (token) => {
    await page.click('#connect-store');
    await page.fill('dialog input[name=shopDomain]', 'demo-store.myshopify.com');
    await page.fill('dialog input[name=accessToken]', token);
    await page.click('dialog button.primary');
  };
  await connectWith('shpat_not_a_real_token');
  await page.waitForSelector('.error:has-text("Shopify refused this access token")');
  assert.equal((await api('{ shopifyStore { status } }')).shopifyStore, null, 'nothing kept');
  await connectWith(SHOP_TOKEN);
  await page.waitForSelector('#shop-status .badge:has-text("Connected")');
  await until('the store is set up', async () => {
    await page.reload();
    await settled(page);
    return (await page.textContent('#last-synced')) !== '—';
  });
  assert.equal(await page.$('#last-error'), null);
  const { shopifyStore } = await api('{ shopifyStore { shopDomain status lastSyncedAt } }');
  assert.equal(shopifyStore.status, 'CONNECTED');
  assert.ok(shopifyStore.lastSyncedAt);

  step("Shopify: the store's order history is imported, its progress followed in place");
  await page.click('#import-orders');
  const monthAgo = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  await page.fill('dialog input[name=from]', monthAgo);
  await page.click('dialog button.primary');
  await page.waitForSelector('#shop-import[data-state="DONE"]', { timeout: 30_000 });
  assert.match(await page.textContent('#import-counts'), /^3 of 3 orders read: 3 recorded, 0 already here, 0 skipped\.$/);
  assert.equal(await page.getAttribute('#import-orders', 'disabled'), null, 'another import may start');
  const { shopifyImport } = await api('{ shopifyImport { state processed } }');
  assert.deepEqual(shopifyImport, { state: 'DONE', processed: 3 });
  await accessible(page, 'the Shopify page');
  await page.screenshot({ path: `${SCREENSHOT_DIR}/shopify.png`, fullPage: true });
  await page.click('#reconcile');
  await page.waitForSelector('.notice:has-text("Comparing")');

  step("Shopify: a shopper discount puts the offer's codes in the store, and the member table shows them in step");
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}`);
  await settled(page);
  await page.click('#shopper-discount-button');
  await page.selectOption('dialog select[name=type]', 'PERCENTAGE');
  await page.fill('dialog input[name=value]', '15');
  await page.check('dialog input[name=oncePerCustomer]');
  await page.click('dialog button.primary');
  await page.waitForSelector('#shopper-discount:has-text("15% off, once per customer")');
  const codeStates = async () => (await api('query($id: ID!) { offer(id: $id) { memberships(first: 20) { nodes { promoCode promoCodeSync { state } } } } }', { id: offerId }))
    .offer.memberships.nodes.filter((m) => m.promoCode).map((m) => m.promoCodeSync?.state);
  await until('every code is in step with the store', async () => (await codeStates()).every((state) => state === 'SYNCED'));
  await page.reload();
  await settled(page);
  assert.match(await page.textContent('tbody tr td[data-column="PROMO_CODE"]'), / · Synced$/);
  await accessible(page, 'the offer page with its shopper discount');

  step("money follows the brand's currency in the browser's locale");
  const german = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE' });
  const germanPage = await german.newPage();
  await germanPage.goto(`${BASE_URL}/`);
  await germanPage.fill('#api-key', API_KEY);
  await germanPage.click('button[type=submit]');
  await settled(germanPage);
  const { kpis: germanKpis, viewer: { brand } } = await api('{ viewer { brand { currency } } kpis { totalSales } }');
  const inGerman = new Intl.NumberFormat('de-DE', { style: 'currency', currency: brand.currency }).format(Number(germanKpis.totalSales));
  assert.equal(await germanPage.textContent('[data-kpi="totalSales"] .value'), inGerman);
  await german.close();

  step('bad input is caught in place as it is typed; the page keeps working');
  await page.goto(`${BASE_URL}/#/`);
  await settled(page);
  await page.click('#filters-button');
  await page.fill('#offer-clicks-min', 'abc');
  await page.waitForSelector('#clicksMin-error:has-text("whole number")');
  await page.fill('#offer-sales-min', '1,000');
  assert.equal(await page.textContent('#salesMin-error'), '', "the locale's thousands separator is understood");
  await page.click('#filters button[type=submit]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'offer-clicks-min', 'the wrong value has the focus');
  assert.ok(!page.url().includes('clicksMin'), 'nothing is applied while a value is wrong');
  await page.fill('#offer-clicks-min', '');
  await page.click('#filters button[type=submit]');
  await page.waitForURL(/salesMin=1000/);
  await settled(page);
  await accessible(page, 'the home page with a filter');
  await page.selectOption('#date-preset', 'CUSTOM');
  await page.fill('#range-start', '2026-03-10');
  await page.fill('#range-end', '2026-03-01');
  await page.click('#range-apply');
  await page.waitForSelector('#range-end-error:has-text("ends before it starts")');
  assert.ok(!page.url().includes('start='), 'a backwards range is not applied');
  assert.ok(await page.$('[data-kpi="conversions"]'), 'the page is still there');

  step('a refused Add Offer keeps the dialog open with what was typed, says why, and an empty offer says how to start');
  await page.goto(`${BASE_URL}/#/`);
  await settled(page);
  await page.click('button:has-text("Add Offer")');
  await page.click('dialog button.primary');
  await page.fill('dialog input[name=name]', 'Kept on refusal');
  await page.fill('dialog input[name=destination]', 'https://shop.example.com/kept');
  await page.fill('dialog input[name=percent]', '150');
  await page.click('dialog button.primary');
  await page.waitForSelector('#dialog-error:not(:empty)');
  assert.equal(await page.inputValue('dialog input[name=name]'), 'Kept on refusal');
  assert.equal(await page.$$eval('#dialog-error', (e) => e.length), 1, 'said once');
  await page.fill('dialog input[name=percent]', '15');
  await page.click('dialog button.primary');
  await page.waitForURL(/#\/offers\//);
  await settled(page);
  assert.match(await page.textContent('#table-empty'), /No members yet/);
  await page.goto(`${BASE_URL}/#/offers/${encodeURIComponent(offerId)}?start=2026-01-01&end=2026-02-01`);
  await settled(page);
  assert.match(await page.getAttribute('#all-offers', 'href'), /start=2026-01-01&end=2026-02-01/, '"All offers" keeps the range');

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
  // What paused, archived and expired offers still owe is said, with a way to pay it.
  const rest = (await api('{ paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount } }')).paymentPreview;
  assert.ok(rest.itemCount > 0, 'the demo owes on offers that are not active');
  assert.ok((await page.textContent('#still-due')).includes(money.format(Number(rest.totalAmount))));
  await page.click('#pay-all-offers');
  await page.waitForSelector('#payment-preview');
  await page.click('dialog button.primary');
  await page.waitForFunction(() => document.querySelectorAll('#payment-result').length === 1 && !document.querySelector('#still-due'));
  assert.equal((await api('{ paymentPreview(scope: ALL_OFFERS) { itemCount } }')).paymentPreview.itemCount, 0);
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
  await page.waitForFunction(() => document.querySelector('.chart svg')?.getAttribute('width') <= window.innerWidth);
  const labels = await page.$$eval('.chart svg .x-tick', (texts) => texts.map((t) => t.getBoundingClientRect().toJSON()));
  for (let i = 1; i < labels.length; i += 1) {
    assert.ok(labels[i].left >= labels[i - 1].right, `date labels ${i - 1} and ${i} do not overlap at phone width`);
  }
  await accessible(page, 'the home page at phone width');
  assert.deepEqual(missing, [], 'nothing the pages asked for was missing');
  await page.screenshot({ path: `${SCREENSHOT_DIR}/home-phone.png`, fullPage: true });
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

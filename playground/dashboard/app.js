// The Sales Tracking dashboard: a client of the public GraphQL API only.
// No framework and no build step: the server ships these files as they are.

// Shared with GraphiQL, so a key entered in either works in both.
const KEY_STORAGE = 'sales-tracking.api-key';
const PAGE_SIZE = 20;

const KPIS = [
  ['members', 'Members', 'count'],
  ['membersWithConversions', 'Members with Conversions', 'count'],
  ['conversions', 'Conversions', 'count'],
  ['clicks', 'Clicks', 'count'],
  ['totalSales', 'Total Sales', 'money'],
  ['salesPerMember', 'Sales per Member', 'money'],
  ['commissionsEarned', 'Commissions Earned', 'money'],
  ['averageCommissionPerMember', 'Avg. Commission per Member', 'money'],
  ['paymentsDue', 'Payments Due', 'money'],
  ['membersWithPaymentsDue', 'Members with Payments Due', 'count'],
];
const KPI_FIELDS = KPIS.map(([field]) => field).concat(['payouts', 'averageSale']).join(' ');

// Table columns: [TableColumn value, header, how to read a row, kind, sort field or null].
const KPI_COLUMNS = [
  ['MEMBERS', 'Members', (r) => r.kpis.members, 'count', 'MEMBERS'],
  ['MEMBERS_WITH_CONVERSIONS', 'Members with Conversions', (r) => r.kpis.membersWithConversions, 'count', 'MEMBERS_WITH_CONVERSIONS'],
  ['CONVERSIONS', 'Conversions', (r) => r.kpis.conversions, 'count', 'CONVERSIONS'],
  ['CLICKS', 'Clicks', (r) => r.kpis.clicks, 'count', 'CLICKS'],
  ['TOTAL_SALES', 'Total Sales', (r) => r.kpis.totalSales, 'money', 'TOTAL_SALES'],
  ['SALES_PER_MEMBER', 'Sales per Member', (r) => r.kpis.salesPerMember, 'money', 'SALES_PER_MEMBER'],
  ['COMMISSIONS_EARNED', 'Commissions Earned', (r) => r.kpis.commissionsEarned, 'money', 'COMMISSIONS_EARNED'],
  ['AVERAGE_COMMISSION_PER_MEMBER', 'Average Commission per Member', (r) => r.kpis.averageCommissionPerMember, 'money', 'AVERAGE_COMMISSION_PER_MEMBER'],
  ['PAYMENTS_DUE', 'Payments Due', (r) => r.kpis.paymentsDue, 'money', 'PAYMENTS_DUE'],
  ['MEMBERS_WITH_PAYMENTS_DUE', 'Members with Payments Due', (r) => r.kpis.membersWithPaymentsDue, 'count', 'MEMBERS_WITH_PAYMENTS_DUE'],
  ['PAYOUTS', 'Payouts', (r) => r.kpis.payouts, 'money', 'PAYOUTS'],
  ['AVERAGE_SALE', 'Average Sale', (r) => r.kpis.averageSale, 'money', 'AVERAGE_SALE'],
];
// Headers are the export's (Column::label), so a downloaded file reads like the table.
const OFFER_COLUMNS = [
  ['NAME', 'Offer', (r) => r.name, 'name', 'NAME'],
  ['TYPE', 'Type', (r) => label(r.type), 'text', null],
  ['STATUS', 'Status', (r) => label(r.status), 'text', null],
  ['CREATED_AT', 'Created', (r) => r.createdAt.slice(0, 10), 'text', 'CREATED_AT'],
  ...KPI_COLUMNS,
];
const MEMBERSHIP_COLUMNS = [
  ['NAME', 'Member', (r) => r.member.name, 'name', 'NAME'],
  ['STATUS', 'Status', (r) => (r.removedAt ? 'Removed' : r.active ? 'Active' : 'Inactive'), 'text', 'STATUS'],
  // With a connected store, where the code stands at the shop's checkout too.
  ['PROMO_CODE', 'Promo code', (r) => (r.promoCode ? `${r.promoCode}${r.promoCodeSync ? ` · ${label(r.promoCodeSync.state)}` : ''}` : ''), 'text', null],
  ['TRACKING_URL', 'Link', (r) => r.trackingUrl ?? '', 'text', null],
  ['CREATED_AT', 'Joined', (r) => r.joinedAt.slice(0, 10), 'text', 'CREATED_AT'],
  ...KPI_COLUMNS.filter(([column]) => column !== 'MEMBERS'),
];
const PRESETS = [
  ['LAST_7_DAYS', 'Last 7 days'], ['LAST_30_DAYS', 'Last 30 days'], ['LAST_3_MONTHS', 'Last 3 months'],
  ['LAST_6_MONTHS', 'Last 6 months'], ['LAST_12_MONTHS', 'Last 12 months'], ['MONTH_TO_DATE', 'Month to date'],
  ['QUARTER_TO_DATE', 'Quarter to date'], ['YEAR_TO_DATE', 'Year to date'], ['ALL_TIME', 'All time'],
];
const KPI_RANGES = [
  ['clicks', 'Clicks', 'count'], ['conversions', 'Conversions', 'count'], ['sales', 'Sales', 'money'],
  ['commissionsEarned', 'Commissions', 'money'], ['payouts', 'Payouts', 'money'], ['averageSale', 'Average sale', 'money'],
];

// Numbers in the browser's locale, money in the brand's currency (set once the
// viewer is known; `whoAmI`).
let money = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
let compactMoney = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', notation: 'compact' });
const count = new Intl.NumberFormat();
const compactCount = new Intl.NumberFormat(undefined, { notation: 'compact' });
const app = document.getElementById('app');
// The caller: { role, brand: { name, currency } }, read once per key.
let viewer = null;
// A message to show on the next render (e.g. the payment just made, after the refresh).
let flash = null;
// Renders of an older navigation are dropped when a newer one started.
let generation = 0;

// ---------- small helpers ----------

function label(value) {
  return value.toLowerCase().replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase());
}

function format(value, kind) {
  if (value === null || value === undefined) return '—';
  if (kind === 'money') return money.format(Number(value));
  if (kind === 'count') return count.format(value);
  return String(value);
}

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

function apiKey() {
  return localStorage.getItem(KEY_STORAGE);
}

class ApiError extends Error {}

async function whoAmI() {
  if (!viewer) {
    viewer = (await gql('{ viewer { role emailSending brand { name currency } } }')).viewer;
    const currency = viewer.brand.currency;
    money = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    document.querySelector('.top .brand').textContent = `Sales Tracking · ${viewer.brand.name}`;
    document.title = `${viewer.brand.name} · Sales Tracking`;
    compactMoney = new Intl.NumberFormat(undefined, { style: 'currency', currency, notation: 'compact' });
  }
  return viewer;
}

const isAdmin = () => viewer?.role === 'ADMIN';

function signOut() {
  localStorage.removeItem(KEY_STORAGE);
  viewer = null;
  liveStop();
  route();
}

async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey()}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    signOut();
    throw new ApiError('The API key was refused. Enter a valid key.');
  }
  if (body.errors?.length) {
    throw new ApiError([...new Set(body.errors.map((e) => e.message))].join('; '));
  }
  if (!response.ok) throw new ApiError(`The server answered ${response.status}.`);
  return body.data;
}

/** The date range alone, as a hash query: links between pages keep the range. */
function rangeQuery(state) {
  return new URLSearchParams(state.preset ? { preset: state.preset } : { start: state.start, end: state.end });
}

/** The dates a page covers; ALL_TIME reads as such, not from 2000-01-01. */
function rangeText(state, dateRange) {
  return state.preset === 'ALL_TIME' ? `All time, to ${dateRange.end}` : `${dateRange.start} – ${dateRange.end}`;
}

function errorBox(error) {
  return h('div', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error));
}

// ---------- live KPIs: one WebSocket (graphql-transport-ws) at /graphql ----------

const LIVE_QUERY = `subscription($f: OfferFilter, $o: ID, $r: DateRangeInput) {
  kpisChanged(filter: $f, offerId: $o, dateRange: $r) { ${KPI_FIELDS} } }`;
const live = { socket: null, ready: false, wanted: null, subscribed: null, nextId: 0, retry: 1000, claimed: false, status: 'off' };

/** Keeps the page's figures live: `variables` of `kpisChanged`, or null for none.
 *  `shown` are the KPIs the page shows (when they are the subscription's): a first
 *  push that differs means something landed while the page loaded. */
function watchKpis(variables, shown = null) {
  live.claimed = true;
  const key = variables && JSON.stringify(variables);
  if (live.wanted?.key === key) { live.wanted.shown = shown; return; }
  live.wanted = variables ? { key, variables, shown } : null;
  liveSync();
}

function liveSync() {
  if (!live.socket) { if (live.wanted) liveConnect(); return; }
  if (!live.ready) return;
  if (live.subscribed && live.subscribed.key !== live.wanted?.key) {
    live.socket.send(JSON.stringify({ id: live.subscribed.id, type: 'complete' }));
    live.subscribed = null;
    liveStatus('off');
  }
  if (live.wanted && !live.subscribed) {
    const id = String(++live.nextId);
    live.subscribed = { id, key: live.wanted.key, first: true };
    live.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: LIVE_QUERY, variables: live.wanted.variables } }));
  }
}

function liveConnect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, 'graphql-transport-ws');
  Object.assign(live, { socket, ready: false, subscribed: null });
  socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey()}` } })));
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(event.data);
    if (message.type === 'connection_ack') {
      live.ready = true;
      live.retry = 1000;
      liveSync();
    } else if (message.type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong' }));
    } else if (message.type === 'next' && message.id === live.subscribed?.id) {
      const first = live.subscribed.first;
      live.subscribed.first = false;
      const kpis = message.payload.data?.kpisChanged;
      liveStatus(kpis ? 'live' : 'error');
      if (!kpis) return;
      const shown = live.wanted?.shown;
      const unchanged = first && (!shown || Object.keys(kpis).every((field) => kpis[field] === shown[field]));
      if (!unchanged) refreshQuietly();
    } else if ((message.type === 'error' || message.type === 'complete') && message.id === live.subscribed?.id) {
      live.subscribed = null;
      liveStatus('off');
    }
  });
  socket.addEventListener('close', () => {
    if (live.socket !== socket) return;
    Object.assign(live, { socket: null, ready: false, subscribed: null });
    liveStatus(live.wanted ? 'reconnecting' : 'off');
    if (live.wanted) {
      setTimeout(liveSync, live.retry);
      live.retry = Math.min(live.retry * 2, 30000);
    }
  });
}

function liveStop() {
  live.wanted = null;
  const socket = live.socket;
  Object.assign(live, { socket: null, ready: false, subscribed: null });
  socket?.close();
}

const LIVE_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', error: 'Live figures unavailable', off: '' };

function liveStatus(status) {
  live.status = status;
  const badge = document.getElementById('live-status');
  if (badge) badge.textContent = LIVE_TEXT[status];
}

/** Shows whether the page's figures update by themselves. */
function liveBadge() {
  return h('span', { id: 'live-status', class: 'live', role: 'status' }, LIVE_TEXT[live.status]);
}

/** Reloads the page's data in place, unless the user is in a dialog or a form
 *  (the next change, or their own action, brings the figures then). */
function refreshQuietly() {
  const active = document.activeElement;
  const busy = document.querySelector('dialog[open]')
    || (active && app.contains(active) && ['INPUT', 'SELECT', 'TEXTAREA'].includes(active.tagName) && active.type !== 'search');
  if (busy) return;
  // What the page last said stays said, unless an action has just left a newer word
  // for the next page (a payment's result while its page reloads).
  flash = flash ?? document.querySelector('#messages > .notice, #messages > .error');
  route();
}

// ---------- input checked as it is typed (the server's scalar rules) ----------

// The user's locale writes 12,345.6 or 12.345,6 or 12 345,6: its separators are understood.
const SEPARATORS = Object.fromEntries(new Intl.NumberFormat().formatToParts(12345.6)
  .filter((part) => part.type === 'group' || part.type === 'decimal').map((part) => [part.type, part.value]));

/** `text` as the API's Money or Int (`kind` 'money' or 'count'), or { error } in plain words. */
function readNumber(text, kind) {
  let plain = text.trim().replace(/\s/g, '');
  if (!plain) return { value: null };
  if (SEPARATORS.group) plain = plain.split(SEPARATORS.group).join('');
  if (SEPARATORS.decimal && SEPARATORS.decimal !== '.') plain = plain.replace(SEPARATORS.decimal, '.');
  if (kind === 'count') {
    if (!/^\d+$/.test(plain)) return { error: `Enter a whole number, such as ${count.format(1000)}.` };
    if (plain.replace(/^0+/, '').length > 15) return { error: 'That number is too large.' };
    return { value: plain };
  }
  if (!/^-?\d+(\.\d+)?$/.test(plain)) return { error: `Enter an amount, such as ${new Intl.NumberFormat(undefined, { minimumFractionDigits: 2 }).format(1000.5)}.` };
  const [whole, fraction = ''] = plain.replace('-', '').split('.');
  if (fraction.replace(/0+$/, '').length > 2) return { error: 'Amounts have at most two decimals (cents).' };
  if (whole.replace(/^0+/, '').length > 12) return { error: 'That amount is too large.' };
  return { value: plain };
}

/** Shows `error` next to `input` (and tells assistive technology), or clears it. */
function markInput(input, error) {
  const id = `${input.name || input.id}-error`;
  let note = input.form?.querySelector(`[id="${id}"]`) ?? document.getElementById(id);
  if (!note) {
    note = h('small', { class: 'field-error', id, role: 'alert' });
    input.after(note);
  }
  note.textContent = error ?? '';
  input.setCustomValidity(error ?? '');
  if (error) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  input.setAttribute('aria-describedby', id);
}

/** A number input checked as the user types. */
function numberInput(attributes, kind) {
  const input = h('input', { ...attributes, inputmode: kind === 'count' ? 'numeric' : 'decimal', autocomplete: 'off' });
  input.addEventListener('input', () => markInput(input, readNumber(input.value, kind).error));
  return input;
}

/** The KPI range inputs of a filter form. */
function rangeInputs(state, idPrefix) {
  return h('fieldset', {}, h('legend', {}, 'KPI ranges'), KPI_RANGES.map(([fieldName, text, kind]) => h('div', { class: 'range' },
    h('label', { for: `${idPrefix}${fieldName}-min` }, text),
    numberInput({ id: `${idPrefix}${fieldName}-min`, name: `${fieldName}Min`, placeholder: 'min', 'aria-label': `${text} at least`, value: state.ranges[`${fieldName}Min`] ?? '' }, kind),
    numberInput({ id: `${idPrefix}${fieldName}-max`, name: `${fieldName}Max`, placeholder: 'max', 'aria-label': `${text} at most`, value: state.ranges[`${fieldName}Max`] ?? '' }, kind))));
}

/** The ranges a filter form holds, in the API's format; null (with each problem
 *  shown where it is) when one is not valid. */
function readRanges(form) {
  const ranges = {};
  let valid = true;
  for (const [fieldName, , kind] of KPI_RANGES) {
    const bounds = ['Min', 'Max'].map((bound) => {
      const input = form.elements[fieldName + bound];
      const { value, error } = readNumber(input.value, kind);
      markInput(input, error);
      if (error) valid = false;
      else if (value !== null) ranges[fieldName + bound] = value;
      return value === null || value === undefined ? null : Number(value);
    });
    if (bounds[0] !== null && bounds[1] !== null && bounds[0] > bounds[1]) {
      markInput(form.elements[`${fieldName}Max`], 'The most is below the least.');
      valid = false;
    }
  }
  if (!valid) form.querySelector('[aria-invalid=true]')?.focus();
  return valid ? ranges : null;
}

// ---------- shared view state (kept in the URL hash query) ----------

function readState() {
  const [, query = ''] = location.hash.split('?');
  const params = new URLSearchParams(query);
  return {
    preset: params.get('preset') ?? (params.get('start') ? null : 'LAST_6_MONTHS'),
    start: params.get('start'),
    end: params.get('end'),
    search: params.get('search') ?? '',
    sort: params.get('sort') ?? 'COMMISSIONS_EARNED',
    direction: params.get('direction') ?? 'DESC',
    statuses: params.get('statuses')?.split(',').filter(Boolean) ?? ['ACTIVE'],
    types: params.get('types')?.split(',').filter(Boolean) ?? [],
    projectIds: params.get('projectIds')?.split(',').filter(Boolean) ?? [],
    showRemoved: params.get('removed') === 'shown',
    ranges: Object.fromEntries(KPI_RANGES.flatMap(([field]) => ['Min', 'Max']
      .map((bound) => [field + bound, params.get(field + bound)])
      .filter(([, value]) => value !== null && value !== ''))),
  };
}

function writeState(path, state) {
  const params = new URLSearchParams();
  if (state.preset) params.set('preset', state.preset);
  else if (state.start && state.end) { params.set('start', state.start); params.set('end', state.end); }
  if (state.search) params.set('search', state.search);
  params.set('sort', state.sort);
  params.set('direction', state.direction);
  if (state.statuses) params.set('statuses', state.statuses.join(','));
  if (state.types?.length) params.set('types', state.types.join(','));
  if (state.projectIds?.length) params.set('projectIds', state.projectIds.join(','));
  if (state.showRemoved) params.set('removed', 'shown');
  for (const [key, value] of Object.entries(state.ranges ?? {})) params.set(key, value);
  location.hash = `${path}?${params}`;
}

function dateRange(state) {
  return state.preset ? { preset: state.preset } : { start: state.start, end: state.end };
}

function kpiRanges(state) {
  const ranges = {};
  for (const [field, , kind] of KPI_RANGES) {
    const min = state.ranges[`${field}Min`];
    const max = state.ranges[`${field}Max`];
    if (min === undefined && max === undefined) continue;
    const read = (v) => (v === undefined ? undefined : kind === 'count' ? Number.parseInt(v, 10) : v);
    ranges[field] = { min: read(min), max: read(max) };
  }
  return ranges;
}

function offerFilter(state) {
  const filter = { statuses: state.statuses, ...kpiRanges(state) };
  if (state.types.length) filter.types = state.types;
  if (state.projectIds.length) filter.projectIds = state.projectIds;
  return filter;
}

function seriesInterval(range) {
  if (range.preset === 'LAST_7_DAYS' || range.preset === 'LAST_30_DAYS' || range.preset === 'MONTH_TO_DATE') return 'DAY';
  if (range.preset === 'LAST_3_MONTHS' || range.preset === 'LAST_6_MONTHS' || range.preset === 'QUARTER_TO_DATE') return 'WEEK';
  if (range.start && range.end) {
    const days = (Date.parse(range.end) - Date.parse(range.start)) / 86_400_000;
    return days <= 45 ? 'DAY' : days <= 200 ? 'WEEK' : 'MONTH';
  }
  return 'MONTH';
}

// ---------- pieces ----------

function dateControl(state, onChange) {
  const select = h('select', { 'aria-label': 'Date range', id: 'date-preset' },
    PRESETS.map(([value, text]) => h('option', { value, selected: state.preset === value }, text)),
    h('option', { value: 'CUSTOM', selected: !state.preset }, 'Custom…'));
  const start = h('input', { type: 'date', id: 'range-start', 'aria-label': 'Start date', value: state.start ?? '', hidden: !!state.preset });
  const end = h('input', { type: 'date', id: 'range-end', 'aria-label': 'End date', value: state.end ?? '', hidden: !!state.preset });
  // Checked as the dates are picked; a range is applied only when it reads forwards.
  const check = () => {
    const error = !start.value || !end.value ? 'Pick both dates.'
      : end.value < start.value ? 'The range ends before it starts.' : null;
    markInput(end, error);
    return !error;
  };
  const apply = h('button', { type: 'button', id: 'range-apply', hidden: !!state.preset, onclick: () => {
    if (check()) onChange({ preset: null, start: start.value, end: end.value });
    else end.focus();
  } }, 'Apply');
  for (const input of [start, end]) input.addEventListener('change', () => { if (start.value && end.value) check(); });
  select.addEventListener('change', () => {
    if (select.value === 'CUSTOM') { start.hidden = end.hidden = apply.hidden = false; start.focus(); return; }
    onChange({ preset: select.value, start: null, end: null });
  });
  return h('div', { class: 'controls' }, select, start, end, apply);
}

function kpiWidgets(kpis) {
  return h('section', { class: 'kpis', 'aria-label': 'Key figures' },
    KPIS.map(([field, text, kind]) => h('div', { class: 'kpi', dataset: { kpi: field } },
      h('div', { class: 'label' }, text),
      h('div', { class: 'value' }, format(kpis[field], kind)))));
}

/** The KPI series as a line chart with value and date ticks, drawn at the width it is shown at. */
function chart(points, interval) {
  const metrics = [['commissionsEarned', 'Commissions', 'money'], ['totalSales', 'Sales', 'money'],
    ['conversions', 'Conversions', 'count'], ['clicks', 'Clicks', 'count']];
  const holder = h('div', { class: 'chart' });
  const select = h('select', { 'aria-label': 'Chart figure', id: 'chart-figure' }, metrics.map(([value, text]) => h('option', { value }, text)));
  const head = h('div', { class: 'card-head' }, h('h2', {}, 'Over time'), select);
  if (points.every((p) => metrics.every(([field]) => Number(p.kpis[field]) === 0))) {
    select.hidden = true;
    return h('section', { class: 'card' }, head, h('p', { class: 'empty', id: 'chart-empty' }, 'Nothing recorded in this range yet: no clicks, orders or commissions.'));
  }
  const bucket = { DAY: 'day', WEEK: 'week', MONTH: 'month' }[interval];
  const note = points.some((p) => p.partial)
    ? h('p', { class: 'muted chart-note', id: 'chart-partial' }, `○ A partial ${bucket}: the range covers only part of it.`) : null;
  let width = 0;
  const draw = () => {
    const [field, text, kind] = metrics.find(([value]) => value === select.value);
    const series = points.map((p) => ({ x: p.start, y: Number(p.kpis[field]), partial: p.partial }));
    holder.replaceChildren(...lineChart(series, { kind, interval, width: width || 640, name: text }));
  };
  // Drawn again whenever its width changes (a phone turned, a window resized).
  new ResizeObserver(([entry]) => {
    const seen = Math.floor(entry.contentRect.width);
    if (seen && seen !== width) { width = seen; draw(); }
  }).observe(holder);
  select.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card' }, head, holder, note);
}

/** Round steps (1, 2, 2.5, 5 × 10ⁿ; whole numbers for counts) from zero to at least `max`. */
function ticks(max, kind, wanted = 4) {
  const raw = Math.max(max, kind === 'count' ? wanted : 1) / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  if (kind === 'count') step = Math.max(1, Math.ceil(step));
  const values = [];
  for (let v = 0; v < max + step; v += step) values.push(v);
  if (values.length < 2) values.push(step);
  return values;
}

/** A bucket's label that cannot be misread: "Dec 2025", "week of Jun 8", "Jun 8". */
function dayLabel(day, interval, long = false) {
  const options = interval === 'MONTH' ? { month: long ? 'long' : 'short', year: 'numeric' }
    : { month: 'short', day: 'numeric', ...(long ? { year: 'numeric' } : {}) };
  const text = new Intl.DateTimeFormat(undefined, { ...options, timeZone: 'UTC' }).format(new Date(`${day}T00:00:00Z`));
  return interval === 'WEEK' ? `week of ${text}` : text;
}

function lineChart(points, { kind, interval, width, name }) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const add = (tag, attributes, text) => {
    const element = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
    if (text !== undefined) element.textContent = text;
    svg.append(element);
    return element;
  };
  const height = 220, top = 10, bottom = 26, right = 12;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  if (!points.length) {
    svg.setAttribute('aria-label', 'No data in this range');
    return [svg];
  }
  const axis = (v) => (kind === 'money' ? compactMoney : compactCount).format(v);
  const yValues = ticks(Math.max(...points.map((p) => p.y)), kind);
  const yTop = yValues[yValues.length - 1];
  const left = 14 + 7 * Math.max(...yValues.map((v) => axis(v).length));
  const plotWidth = width - left - right;
  const step = points.length > 1 ? plotWidth / (points.length - 1) : 0;
  const x = (i) => left + (points.length > 1 ? i * step : plotWidth / 2);
  const y = (v) => top + (1 - v / yTop) * (height - top - bottom);
  for (const value of yValues) {
    add('line', { x1: left, x2: width - right, y1: y(value), y2: y(value), class: 'grid' });
    add('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis y-tick' }, axis(value));
  }
  // As many date labels as fit, evenly spaced: about 80 px apart, 120 for the longer "week of …",
  // and further when two would touch. The first label runs right from its point and the last
  // left from its, so a pair of them needs both widths between their points, not two halves.
  const gap = interval === 'WEEK' ? 120 : 80;
  const anchorOf = (i, every) => (i === 0 ? 'start' : i + every >= points.length && points.length > 1 ? 'end' : 'middle');
  const labels = points.map((p) => dayLabel(p.x, interval));
  // About 6.5 px a character at the axis' font size (the widest dates measured 6.1).
  const reach = (i, every, side) => {
    const width = 6.5 * labels[i].length;
    const anchor = anchorOf(i, every);
    if (anchor === 'middle') return width / 2;
    return (anchor === 'start') === (side === 'right') ? width : 0;
  };
  const fits = (every) => {
    for (let i = every; i < points.length; i += every) {
      if (x(i) - x(i - every) < reach(i - every, every, 'right') + reach(i, every, 'left') + 8) return false;
    }
    return true;
  };
  let every = Math.max(1, Math.ceil(points.length / Math.max(2, Math.floor(plotWidth / gap))));
  while (every < points.length && !fits(every)) every += 1;
  for (let i = 0; i < points.length; i += every) {
    const anchor = anchorOf(i, every);
    add('line', { x1: x(i), x2: x(i), y1: height - bottom, y2: height - bottom + 4, class: 'tick' });
    add('text', { x: x(i), y: height - 8, 'text-anchor': anchor, class: 'axis x-tick' }, labels[i]);
  }
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
  add('path', { d: `${line} L${x(points.length - 1)},${y(0)} L${x(0)},${y(0)} Z`, class: 'area' });
  add('path', { d: line, class: 'line' });
  // A lone bucket is a point, not an invisible line; a partial one is hollow.
  points.forEach((p, i) => {
    if (p.partial) add('circle', { cx: x(i), cy: y(p.y), r: 4, class: 'point partial' });
    else if (points.length === 1) add('circle', { cx: x(i), cy: y(p.y), r: 4, class: 'point' });
  });
  const guide = add('line', { y1: top, y2: height - bottom, class: 'guide', visibility: 'hidden' });
  const dot = add('circle', { r: 4, class: 'dot', visibility: 'hidden' });
  const peak = points.reduce((best, p) => (p.y > best.y ? p : best), points[0]);
  svg.setAttribute('aria-label', `${name} by ${interval.toLowerCase()}, ${points.length} points from ${dayLabel(points[0].x, interval, true)}; highest ${format(peak.y, kind)} (${dayLabel(peak.x, interval, true)}). Use the arrow keys to read each point.`);
  svg.setAttribute('tabindex', '0');

  const tip = h('div', { class: 'chart-tip', role: 'status', hidden: true });
  let shownIndex = null;
  const show = (i) => {
    shownIndex = Math.min(points.length - 1, Math.max(0, i));
    const p = points[shownIndex];
    for (const [element, attributes] of [[guide, { x1: x(shownIndex), x2: x(shownIndex) }], [dot, { cx: x(shownIndex), cy: y(p.y) }]]) {
      for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
      element.setAttribute('visibility', 'visible');
    }
    tip.replaceChildren(h('strong', {}, format(p.y, kind)), ` ${name.toLowerCase()} · ${dayLabel(p.x, interval, true)}${p.partial ? ' (partial)' : ''}`);
    tip.hidden = false;
    // Kept inside the chart: flipped to the left of the point near the right edge.
    const flip = x(shownIndex) > width / 2;
    tip.style.left = flip ? '' : `${x(shownIndex) + 10}px`;
    tip.style.right = flip ? `${width - x(shownIndex) + 10}px` : '';
  };
  const hide = () => {
    shownIndex = null;
    tip.hidden = true;
    guide.setAttribute('visibility', 'hidden');
    dot.setAttribute('visibility', 'hidden');
  };
  svg.addEventListener('pointermove', (event) => {
    const box = svg.getBoundingClientRect();
    const at = (event.clientX - box.left) * (width / box.width);
    show(points.length > 1 ? Math.round((at - left) / step) : 0);
  });
  svg.addEventListener('pointerleave', hide);
  svg.addEventListener('blur', hide);
  svg.addEventListener('keydown', (event) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -points.length, End: points.length };
    if (!(event.key in moves)) return;
    event.preventDefault();
    show((shownIndex ?? (moves[event.key] > 0 ? -1 : points.length)) + moves[event.key]);
  });
  return [svg, tip];
}

function filtersPanel(state, projects, onApply) {
  const checks = (name, values, chosen) => h('fieldset', {}, h('legend', {}, name),
    values.map(([value, text]) => h('label', {}, h('input', { type: 'checkbox', name, value, checked: chosen.includes(value) }), ` ${text} `)));
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    checks('Status', [['ACTIVE', 'Active'], ['PAUSED', 'Paused'], ['EXPIRED', 'Expired'], ['ARCHIVED', 'Archived']], state.statuses),
    checks('Type', [['SALES_LINK', 'Sales link'], ['PROMO_CODE', 'Promo code']], state.types),
    projects.length ? checks('Projects', projects.map((p) => [p.id, p.name]), state.projectIds) : null,
    rangeInputs(state, 'offer-'),
    h('div', { class: 'controls' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const ranges = readRanges(form);
    if (!ranges) return;
    const data = new FormData(form);
    onApply({ statuses: data.getAll('Status'), types: data.getAll('Type'), projectIds: data.getAll('Projects'), ranges });
  });
  return h('section', { class: 'card', id: 'filters', hidden: true }, form);
}

/** A data table with sortable headers, a column picker that is saved per key, and paging. */
async function kpiTable({ table, columns, state, fetchPage, onSort, rowLink, rowNote, selectable, exportUrl, emptyText = 'Nothing matches.' }) {
  const saved = (await gql('query($t: KpiTable!) { tableColumns(table: $t) }', { t: table })).tableColumns;
  // Saved columns this page does not offer (another offer type's) stay saved.
  const elsewhere = saved.filter((column) => !columns.some(([c]) => c === column));
  let shown = columns.filter(([column]) => saved.includes(column))
    .sort((a, b) => saved.indexOf(a[0]) - saved.indexOf(b[0]));
  if (!shown.length) shown = columns;
  const selected = new Set();
  const cursors = [null];
  const body = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const picker = h('div', { class: 'picker', hidden: true, id: `${table.toLowerCase()}-columns` });

  const load = async () => {
    body.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
      const page = await fetchPage(shown.map(([column]) => column), cursors[cursors.length - 1]);
      render(page);
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  };
  const render = (page) => keepingFocus(() => {
    if (!page.nodes.length) {
      body.replaceChildren(h('p', { class: 'empty', id: 'table-empty' }, emptyText));
    } else {
      const boxes = [];
      const selectAll = selectable ? h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select every row on this page', onchange: (e) => {
        for (const box of boxes) {
          box.checked = e.target.checked;
          if (box.checked) selected.add(box.value); else selected.delete(box.value);
        }
      } }) : null;
      const header = h('tr', {}, selectable ? h('th', {}, selectAll) : null, shown.map(([column, text, , kind, sortField]) => {
        const active = sortField && state.sort === sortField;
        const arrow = active ? (state.direction === 'DESC' ? ' ↓' : ' ↑') : '';
        const cell = sortField
          ? h('button', { type: 'button', id: `sort-${column}`, onclick: () => onSort(sortField, active && state.direction === 'DESC' ? 'ASC' : 'DESC') }, text + arrow)
          : text;
        return h('th', { class: kind === 'money' || kind === 'count' ? 'num' : '', dataset: { column }, 'aria-sort': active ? (state.direction === 'DESC' ? 'descending' : 'ascending') : null }, cell);
      }));
      const rows = page.nodes.map((row) => h('tr', { dataset: { id: row.id } },
        selectable ? h('td', {}, boxes[boxes.push(h('input', { type: 'checkbox', value: row.id, 'aria-label': 'Select row', checked: selected.has(row.id), onchange: (e) => {
          if (e.target.checked) selected.add(row.id); else selected.delete(row.id);
          selectAll.checked = boxes.every((box) => box.checked);
        } })) - 1]) : null,
        shown.map(([column, , read, kind]) => {
          const value = format(read(row), kind);
          const link = kind === 'name' && rowLink?.(row);
          const content = link ? h('a', { href: link }, value) : value;
          const note = kind === 'name' ? rowNote?.(row) : null;
          return h('td', { class: kind === 'money' || kind === 'count' ? 'num' : '', dataset: { column } }, content, note ? [' ', note] : []);
        })));
      body.replaceChildren(h('table', {}, h('thead', {}, header), h('tbody', {}, rows)));
    }
    const pageNumber = cursors.length;
    pager.replaceChildren(
      h('span', {}, `${count.format(page.totalCount)} in all · page ${pageNumber}`),
      h('button', { type: 'button', id: 'page-previous', disabled: pageNumber === 1, onclick: () => { cursors.pop(); load(); } }, 'Previous'),
      h('button', { type: 'button', id: 'page-next', disabled: !page.pageInfo.hasNextPage, onclick: () => { cursors.push(page.pageInfo.endCursor); load(); } }, 'Next'));
  });

  picker.append(...columns.map(([column, text]) => h('label', {},
    h('input', { type: 'checkbox', value: column, checked: shown.some(([c]) => c === column), onchange: async () => {
      const chosen = [...picker.querySelectorAll('input:checked')].map((input) => input.value);
      shown = columns.filter(([c]) => chosen.includes(c));
      try {
        await gql('mutation($t: KpiTable!, $c: [TableColumn!]!) { setTableColumns(input: { table: $t, columns: $c }) { columns } }',
          { t: table, c: shown.map(([c]) => c).concat(elsewhere) });
      } catch (error) {
        picker.append(errorBox(error));
      }
      load();
    } }), ` ${text}`)));

  const download = h('button', { type: 'button', onclick: async () => {
    const url = `${exportUrl()}&columns=${shown.map(([c]) => c).join(',')}`;
    const response = await fetch(url, { headers: { Authorization: `Bearer ${apiKey()}` } });
    if (!response.ok) { body.prepend(errorBox((await response.json()).error?.message ?? 'Export failed')); return; }
    const blob = await response.blob();
    const link = h('a', { href: URL.createObjectURL(blob), download: table === 'OFFERS' ? 'offers.csv' : 'members.csv' });
    document.body.append(link);
    link.click();
    link.remove();
  } }, 'Export CSV');
  const columnsButton = h('button', { type: 'button', 'aria-expanded': 'false', onclick: (e) => {
    picker.hidden = !picker.hidden;
    e.target.setAttribute('aria-expanded', String(!picker.hidden));
  } }, 'Columns');
  await load();
  return { body, pager, picker, download, columnsButton, selected, reload: load };
}

function exportQuery(state) {
  const params = new URLSearchParams();
  if (state.preset) params.set('preset', state.preset); else { params.set('start', state.start); params.set('end', state.end); }
  if (state.search) params.set('search', state.search);
  params.set('sort', state.sort);
  params.set('direction', state.direction);
  for (const [key, value] of Object.entries(state.ranges)) params.set(key, value);
  return params;
}

/** Runs `replace`, which swaps part of the page, and gives the focus back to the
 * element with the id that had it (a sort or page button keeps the keyboard there). */
function keepingFocus(replace) {
  const id = document.activeElement?.id;
  replace();
  const again = id && document.getElementById(id);
  if (again && !again.disabled) again.focus();
}

function searchBox(state, placeholder, onSearch) {
  const input = h('input', { type: 'search', placeholder, 'aria-label': placeholder, value: state.search, id: 'search' });
  let timer;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => onSearch(input.value.trim()), 300);
  });
  return input;
}

/** A modal form; resolves with its FormData, or null when cancelled. */
/** A dialog; resolves with its form's data, or null when cancelled. With `work`
 *  (form data → promise), the dialog stays open until the work succeeds and
 *  resolves with its result: a refusal is shown in the dialog, and what was
 *  typed stays for the user to correct. */
function ask(title, fields, confirmText = 'Confirm', work = null) {
  const dialog = document.getElementById('dialog');
  const form = document.getElementById('dialog-form');
  const problem = h('div', { class: 'dialog-error', id: 'dialog-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', value: 'ok' }, confirmText);
  form.replaceChildren(h('h2', {}, title), ...fields.filter(Boolean), problem, h('div', { class: 'buttons' },
    h('button', { type: 'button', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
    submit));
  return new Promise((resolve) => {
    let result = null;
    const done = () => {
      dialog.removeEventListener('close', done);
      form.removeEventListener('submit', run);
      resolve(dialog.returnValue !== 'ok' ? null : work ? result : new FormData(form));
    };
    const run = async (event) => {
      if (!work) return;
      event.preventDefault();
      problem.replaceChildren();
      submit.disabled = true;
      try {
        result = await work(new FormData(form));
        dialog.close('ok');
      } catch (error) {
        problem.replaceChildren(error instanceof Error ? error.message : String(error));
        form.querySelector('[aria-invalid=true], input, select, textarea')?.focus();
      } finally {
        submit.disabled = false;
      }
    };
    dialog.addEventListener('close', done);
    form.addEventListener('submit', run);
    dialog.returnValue = '';
    dialog.showModal();
    form.querySelector('input, select, textarea, button[type=submit]')?.focus();
  });
}

/** Reads a payout from a dialog's fields, or throws what is wrong in plain words. */
function checkedPayout(data) {
  for (const [name, kind, text] of [['percent', 'money', 'Percent of sale'], ['flat', 'money', 'Flat amount']]) {
    const { error } = readNumber(String(data.get(name) ?? ''), kind);
    if (error) throw new ApiError(`${text}: ${error}`);
  }
  return payoutFrom(data);
}

/** A search whose answers may come back out of order: `run` gets `current()`,
 *  false once a newer call has started, so a late answer never replaces a newer one. */
function newestOnly(run) {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return run(() => mine === latest);
  };
}

/** `amount` of `currency`, written the browser's way. */
function moneyIn(amount, currency) {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(Number(amount));
}

/** What a member paid in another currency is sent, and at which rate. */
function paidIn(item) {
  if (!item.exchangeRate) return '';
  const rate = item.exchangeRate;
  return h('span', { title: `${rate.source} rate of ${rate.publishedOn}: ${rate.rate}` },
    `${moneyIn(item.payoutAmount.amount, item.payoutAmount.currency)} at ${Number(rate.rate).toPrecision(5)}`);
}

/** An order sold in another currency: what it was sold for, in that currency. */
function soldIn(order) {
  const original = order.originalAmount;
  if (!original || original.currency === order.currency) return null;
  return h('span', { class: 'sold-in' }, ` (${moneyIn(original.amount, original.currency)})`);
}

/** A badge for a member's newest email while it is not sent. */
function emailNote(email) {
  if (!email || email.status === 'SENT') return null;
  const text = email.status === 'FAILED' ? 'email failed' : viewer?.emailSending ? 'email pending' : 'email waiting: no mail server';
  return h('span', { class: `badge email-${email.status.toLowerCase()}` }, text);
}

/** What queueing emails did, in plain words, and whether they will go out. */
function emailsQueued(queued) {
  const text = `${queued} email${queued === 1 ? '' : 's'} queued.`;
  return viewer?.emailSending ? `${text} The member table shows each one's state.`
    : `${text} No mail server is configured on this server (--smtp-url), so they wait in the outbox, shown as pending, until one is.`;
}

/** The messages area of a page, holding the pending flash message if any. */
function takeFlash() {
  const messages = h('div', { id: 'messages' });
  // Cleared once a page that shows it is on screen (route), not before: a newer
  // route may replace this page while it loads.
  if (flash) messages.append(flash);
  return messages;
}

function field(text, input) {
  return h('label', {}, text, input);
}

function payoutFields(prefix = '') {
  return [
    field('Payout type', h('select', { name: `${prefix}type` },
      ['PERCENT_OF_SALE', 'FLAT_PER_CONVERSION', 'FLAT_PER_CLICK', 'PERCENT_PLUS_FLAT'].map((v) => h('option', { value: v }, label(v))))),
    field('Percent of sale', numberInput({ name: `${prefix}percent`, placeholder: 'e.g. 10' }, 'money')),
    field(`Flat amount (${viewer?.brand.currency ?? 'USD'})`, numberInput({ name: `${prefix}flat`, placeholder: 'e.g. 5.00' }, 'money')),
  ];
}

function payoutFrom(data) {
  const payout = { type: data.get('type') };
  const percent = readNumber(String(data.get('percent') ?? ''), 'money').value;
  const flat = readNumber(String(data.get('flat') ?? ''), 'money').value;
  if (percent) payout.percent = percent;
  if (flat) payout.flatAmount = flat;
  return payout;
}

/** Shows `text` above `target`, replacing what was said before, with a way to dismiss it. */
function say(target, text) {
  target.querySelectorAll(':scope > .notice, :scope > .error').forEach((old) => old.remove());
  target.prepend(h('div', { class: 'notice', role: 'status' }, text,
    h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss', onclick: (event) => event.currentTarget.parentElement.remove() }, '×')));
}

/** A dialog whose action runs inside it (see `ask`); once it succeeds, what it did
 *  is said above `target`. Resolves with the action's result, or null. */
async function askAndAct(target, title, fields, confirmText, work, success) {
  const result = await ask(title, fields, confirmText, work);
  if (result !== null) say(target, success(result));
  return result;
}

/** Runs an action and shows what happened above `target`. */
async function act(target, work, success) {
  // The newest message replaces the ones before it.
  const said = () => target.querySelectorAll(':scope > .notice, :scope > .error').forEach((old) => old.remove());
  try {
    const result = await work();
    say(target, success(result));
    return result;
  } catch (error) {
    said();
    target.prepend(errorBox(error));
    return null;
  }
}

// `payees`: { scope: 'OFFER', offerId } on an offer page; { scope: 'ACTIVE_OFFERS', filter,
// dateRange } on the home page, which pays exactly the Payments Due it shows.
async function sendPayment(target, payees, onPaid) {
  const args = { offerId: null, filter: null, dateRange: null, ...payees };
  let preview;
  try {
    preview = (await gql(`query($scope: PaymentScope!, $offerId: ID, $filter: OfferFilter, $dateRange: DateRangeInput) {
      paymentPreview(scope: $scope, offerId: $offerId, filter: $filter, dateRange: $dateRange) { totalAmount itemCount
        items { amount payoutAmount { amount currency } exchangeRate { rate publishedOn source } membership { member { name } offer { name } } }
        leftOut { reason } } }`, args)).paymentPreview;
  } catch (error) {
    target.prepend(errorBox(error));
    return;
  }
  if (preview.itemCount === 0) {
    target.prepend(h('div', { class: 'notice', role: 'status' }, 'Nothing is due right now.'));
    return;
  }
  const list = h('div', { class: 'list' }, h('table', {}, h('tbody', {}, preview.items.map((item) =>
    h('tr', {}, h('td', {}, item.membership.member.name), h('td', {}, item.membership.offer.name), h('td', { class: 'num' }, format(item.amount, 'money')),
      h('td', { class: 'num payout-in' }, paidIn(item)))))));
  const waiting = preview.leftOut.length
    ? h('p', { class: 'empty', id: 'payment-left-out' }, `${preview.leftOut.length} more wait for an exchange rate: ${preview.leftOut[0].reason}`) : null;
  const answer = await ask('Send Payment', [
    h('p', { id: 'payment-preview' }, `Pay ${format(preview.totalAmount, 'money')} to ${preview.itemCount} member${preview.itemCount === 1 ? '' : 's'}:`),
    list,
    waiting,
  ], `Pay ${format(preview.totalAmount, 'money')}`);
  if (!answer) return;
  const key = crypto.randomUUID();
  let result = null;
  const paid = await act(target, () => gql(`mutation($i: SendPaymentInput!) { sendPayment(input: $i) { payment { id totalAmount state payoutFileUrls items { amount } } } }`,
    { i: { ...args, idempotencyKey: key } }), (data) => {
    const payment = data.sendPayment.payment;
    result = h('span', { id: 'payment-result' }, `Payment ${payment.id} ${label(payment.state).toLowerCase()}: ${format(payment.totalAmount, 'money')} to ${payment.items.length} members. `,
      payment.payoutFileUrls.map((url, index) => h('button', { type: 'button', class: 'link', onclick: () => downloadWithKey(url, `${payment.id}-${index + 1}.csv`) },
        payment.payoutFileUrls.length === 1 ? 'Download the PayPal payout file' : `Download PayPal payout file ${index + 1} of ${payment.payoutFileUrls.length}`)));
    return result;
  });
  if (!paid) return;
  // The home page pays active offers only: say what paused, archived and expired ones still owe.
  const rest = args.scope === 'ACTIVE_OFFERS'
    ? await gql('{ paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount } }').catch(() => null) : null;
  // Set only now, with nothing awaited before the page reloads with it.
  flash = h('div', { class: 'notice', role: 'status' }, result);
  const owed = rest?.paymentPreview;
  if (owed && owed.itemCount > 0) {
    flash.append(h('span', { id: 'still-due' }, ` Still due on paused, archived and expired offers: ${format(owed.totalAmount, 'money')} to ${owed.itemCount} member${owed.itemCount === 1 ? '' : 's'}. `,
      h('button', { type: 'button', class: 'link', id: 'pay-all-offers', onclick: () => sendPayment(document.getElementById('messages'), { scope: 'ALL_OFFERS' }, onPaid) }, 'Pay those too')));
  }
  onPaid();
}

async function downloadWithKey(url, name) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${apiKey()}` } });
  const link = h('a', { href: URL.createObjectURL(await response.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

// ---------- pages ----------

function keyPage() {
  const input = h('input', { type: 'password', name: 'key', id: 'api-key', required: true, autocomplete: 'off', placeholder: 'stk_…' });
  const form = h('form', { class: 'key-form card', onsubmit: (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORAGE, input.value.trim());
    viewer = null;
    route();
  } },
  h('h1', {}, 'Sign in with an API key'),
  h('p', {}, 'Paste an admin or analyst key (', h('code', {}, 'sales-tracking serve --demo'), ' prints one). It stays in this browser.'),
  field('API key', input),
  h('button', { type: 'submit', class: 'primary' }, 'Open the dashboard'));
  app.replaceChildren(form);
  input.focus();
}

async function homePage() {
  const state = readState();
  const go = (changes) => writeState('/', { ...state, ...changes });
  const range = dateRange(state);
  const filter = offerFilter(state);
  const messages = takeFlash();
  const { projects, kpis, kpiSeries, ordersAwaitingRate } = await gql(`query($f: OfferFilter, $r: DateRangeInput, $i: SeriesInterval!) {
    projects { id name } ordersAwaitingRate
    kpis(filter: $f, dateRange: $r) { ${KPI_FIELDS} dateRange { start end } }
    kpiSeries(filter: $f, dateRange: $r, interval: $i) { start partial kpis { commissionsEarned totalSales conversions clicks } } }`,
  { f: filter, r: range, i: seriesInterval(range) });
  const filters = filtersPanel(state, projects, go);
  watchKpis({ f: filter, r: range }, kpis);
  const table = await kpiTable({
    table: 'OFFERS', columns: OFFER_COLUMNS, state,
    onSort: (sort, direction) => go({ sort, direction }),
    rowLink: (row) => `#/offers/${row.id}?${new URLSearchParams(range)}`,
    exportUrl: () => {
      const params = exportQuery(state);
      params.set('statuses', state.statuses.join(','));
      if (state.types.length) params.set('types', state.types.join(','));
      if (state.projectIds.length) params.set('projectIds', state.projectIds.join(','));
      return `/export/offers.csv?${params}`;
    },
    fetchPage: async (_columns, after) => (await gql(`query($f: OfferFilter, $r: DateRangeInput, $s: OfferSort, $q: String, $a: String, $n: Int) {
      offers(first: $n, after: $a, search: $q, filter: $f, dateRange: $r, sort: $s) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id name type status createdAt kpis { ${KPI_FIELDS} } } } }`,
    { f: filter, r: range, s: { field: state.sort, direction: state.direction }, q: state.search || null, a: after, n: PAGE_SIZE })).offers,
  });
  return [
    h('div', { class: 'page-head' },
      h('h1', { class: 'grow' }, 'Sales Tracking'),
      liveBadge(),
      dateControl(state, go),
      h('button', { type: 'button', id: 'filters-button', 'aria-controls': 'filters', 'aria-expanded': String(!filters.hidden), onclick: (event) => {
        filters.hidden = !filters.hidden;
        event.currentTarget.setAttribute('aria-expanded', String(!filters.hidden));
      } }, 'Filters'),
      isAdmin() ? h('button', { type: 'button', class: 'primary', id: 'send-payment', onclick: () => sendPayment(messages, { scope: 'ACTIVE_OFFERS', filter, dateRange: range }, route) }, 'Send Payment') : null),
    h('p', { class: 'empty', id: 'range-label' }, rangeText(state, kpis.dateRange)),
    ordersAwaitingRate ? h('p', { class: 'notice', id: 'awaiting-rate' },
      `${count.format(ordersAwaitingRate)} order${ordersAwaitingRate === 1 ? '' : 's'} in another currency await${ordersAwaitingRate === 1 ? 's' : ''} the day's exchange rate: counted as soon as it is published.`) : null,
    messages,
    filters,
    kpiWidgets(kpis),
    chart(kpiSeries, seriesInterval(range)),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Offers'),
        searchBox(state, 'Search offers', (search) => go({ search })),
        table.columnsButton, table.download,
        h('button', { type: 'button', id: 'export-orders', title: 'Every order of the date range, with what it was sold for and its value',
          onclick: () => {
            const params = new URLSearchParams();
            if (state.preset) params.set('preset', state.preset); else { params.set('start', state.start); params.set('end', state.end); }
            downloadWithKey(`/export/orders.csv?${params}`, 'orders.csv');
          } }, 'Export orders'),
        isAdmin() ? h('button', { type: 'button', onclick: () => addOffer(messages, projects) }, 'Add Offer') : null),
      table.picker, table.body, table.pager)];
}

async function addOffer(target, projects) {
  const type = await ask('Add Offer: choose the type', [
    h('label', {}, h('input', { type: 'radio', name: 'type', value: 'SALES_LINK', checked: true }), ' Sales link: members share a tracked link'),
    h('label', {}, h('input', { type: 'radio', name: 'type', value: 'PROMO_CODE' }), ' Promo code: members share a code buyers enter'),
  ], 'Next');
  if (!type) return;
  const isLink = type.get('type') === 'SALES_LINK';
  const created = await ask(`New ${isLink ? 'sales link' : 'promo code'} offer`, [
    field('Name', h('input', { name: 'name', required: true })),
    isLink ? field('Destination URL', h('input', { name: 'destination', type: 'url', required: true, placeholder: 'https://shop.example.com/…' }))
      : field('Code prefix', h('input', { name: 'prefix', required: true, placeholder: 'SPRING' })),
    ...payoutFields(),
    projects.length ? field('Projects', h('select', { name: 'projects', multiple: true }, projects.map((p) => h('option', { value: p.id }, p.name)))) : null,
  ], 'Create offer', (details) => {
    const input = { name: details.get('name'), type: type.get('type'), payout: checkedPayout(details), projectIds: details.getAll('projects') };
    if (isLink) input.destinationUrl = details.get('destination'); else input.codePrefix = details.get('prefix');
    return gql('mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id name } } }', { i: input });
  });
  if (!created) return;
  flash = h('div', { class: 'notice', role: 'status' }, `Created ${created.createOffer.offer.name}.`);
  location.hash = `#/offers/${created.createOffer.offer.id}`;
}

const OFFER_FIELDS = `id name type status destinationUrl codePrefix attributionWindowDays holdPeriodDays startsOn endsOn
  projects { id name } payout { type percent flatAmount }
  shopperDiscount { type value oncePerCustomer minimumSubtotal inShop }
  rewardRules { id trigger everyN salesThreshold rewardKind cashAmount description active email { subject body } }`;

/** "15% off", "$10.00 off, once per customer, orders from $50.00". */
function discountText(discount) {
  const off = discount.type === 'PERCENTAGE' ? `${Number(discount.value)}% off` : `${format(discount.value, 'money')} off`;
  return [off, discount.oncePerCustomer ? 'once per customer' : null,
    discount.minimumSubtotal ? `orders from ${format(discount.minimumSubtotal, 'money')}` : null].filter(Boolean).join(', ');
}

/** Sets what a promo-code offer's codes take off at the shop's checkout. */
async function shopperDiscount(messages, offer, done) {
  const current = offer.shopperDiscount;
  const answer = await ask('Shopper discount at checkout', [
    h('p', {}, 'With a connected Shopify store, every member\'s code is made in the store with this discount, and removed when it stops attributing.'),
    field('Type', h('select', { name: 'type' },
      h('option', { value: 'PERCENTAGE', selected: current?.type !== 'FIXED_AMOUNT' }, 'Percentage off'),
      h('option', { value: 'FIXED_AMOUNT', selected: current?.type === 'FIXED_AMOUNT' }, 'Amount off'))),
    field('Value (percent, or amount)', h('input', { name: 'value', required: true, inputmode: 'decimal', value: current ? Number(current.value) : '' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'oncePerCustomer', checked: Boolean(current?.oncePerCustomer) }), ' Once per customer'),
    field('Minimum order subtotal (optional)', h('input', { name: 'minimumSubtotal', inputmode: 'decimal', value: current?.minimumSubtotal ?? '' })),
  ], 'Save discount', (answer) => {
    const input = { offerId: offer.id, type: answer.get('type'), value: answer.get('value'), oncePerCustomer: answer.get('oncePerCustomer') === 'on', minimumSubtotal: answer.get('minimumSubtotal') || null };
    return gql('mutation($i: SetShopperDiscountInput!) { setShopperDiscount(input: $i) { offer { id } } }', { i: input });
  });
  if (!answer) return;
  flash = h('div', { class: 'notice', role: 'status' }, 'Shopper discount saved; the store follows shortly.');
  done();
}

async function offerPage(offerId) {
  const state = readState();
  if (!location.hash.includes('sort=')) state.sort = 'COMMISSIONS_EARNED';
  const go = (changes) => writeState(`/offers/${offerId}`, { ...state, ...changes });
  const range = dateRange(state);
  const messages = takeFlash();
  // The summary adds up exactly the member lines the table lists: same filter, same search.
  // Removed members keep their history, and stay out of sight unless asked for.
  const filter = { ...kpiRanges(state), removed: state.showRemoved ? null : false };
  const data = await gql(`query($id: ID!, $r: DateRangeInput, $i: SeriesInterval!, $f: MembershipFilter, $q: String) {
    projects { id name }
    offer(id: $id) { ${OFFER_FIELDS} kpis(dateRange: $r, filter: $f, search: $q) { ${KPI_FIELDS} dateRange { start end } }
      kpiSeries(dateRange: $r, interval: $i) { start partial kpis { commissionsEarned totalSales conversions clicks } } } }`,
  { id: offerId, r: range, i: seriesInterval(range), f: filter, q: state.search || null });
  const offer = data.offer;
  if (!offer) return [errorBox('This offer does not exist.'), h('a', { href: '#/' }, 'Back to offers')];
  watchKpis({ o: offerId, r: range });
  // A sales-link offer's members have links, a promo-code offer's have codes.
  const unused = offer.type === 'SALES_LINK' ? 'PROMO_CODE' : 'TRACKING_URL';
  const filtered = Boolean(state.search || Object.keys(state.ranges).length);
  const table = await kpiTable({
    table: 'MEMBERSHIPS', columns: MEMBERSHIP_COLUMNS.filter(([column]) => column !== unused), state, selectable: isAdmin(),
    onSort: (sort, direction) => go({ sort, direction }),
    rowLink: (row) => `#/members/${row.member.id}?${rangeQuery(state)}`,
    rowNote: (row) => emailNote(row.emails[0]),
    emptyText: filtered ? 'Nothing matches.' : `No members yet.${isAdmin() ? ' Add members or create a new one to start tracking.' : ''}`,
    exportUrl: () => {
      const params = exportQuery(state);
      if (!state.showRemoved) params.set('removed', 'false');
      return `/export/offers/${offerId}/memberships.csv?${params}`;
    },
    fetchPage: async (_columns, after) => (await gql(`query($id: ID!, $f: MembershipFilter, $r: DateRangeInput, $s: MembershipSort, $q: String, $a: String, $n: Int) {
      offer(id: $id) { memberships(first: $n, after: $a, search: $q, filter: $f, dateRange: $r, sort: $s) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id active removedAt promoCode promoCodeSync { state error } trackingUrl joinedAt member { id name } emails { status } kpis { ${KPI_FIELDS} } } } } }`,
    { id: offerId, f: filter, r: range, s: { field: state.sort, direction: state.direction }, q: state.search || null, a: after, n: PAGE_SIZE })).offer.memberships,
  });
  const chosen = () => {
    const ids = [...table.selected];
    if (!ids.length) messages.prepend(errorBox('Select members in the table first.'));
    return ids;
  };
  const rows = () => [...table.selected].map((id) => table.body.querySelector(`tr[data-id="${id}"] td[data-column="NAME"]`)?.textContent).filter(Boolean);
  const selectedMemberIds = async (ids) => {
    const { nodes } = await gql('query($ids: [ID!]!) { nodes(ids: $ids) { ... on Membership { member { id } } } }', { ids });
    return nodes.map((node) => node.member.id);
  };
  // The whole page again: the header, the figures and the table show the change.
  const after = () => {
    table.selected.clear();
    // What the action said stays on the new page.
    flash = messages.querySelector(':scope > .notice') ?? flash;
    route();
  };
  const confirmList = async (title, ids, text) => (await ask(title, [h('p', {}, `${text} ${rows().join(', ') || `${ids.length} members`}?`)]));
  const actions = {
    'Add members': () => addMembers(messages, offerId, after),
    'New member': () => newMember(messages, offerId, after),
    Remove: async () => {
      const ids = chosen(); if (!ids.length || !(await confirmList('Remove members', ids, 'Remove'))) return;
      const memberIds = await selectedMemberIds(ids);
      if (await act(messages, () => gql('mutation($o: ID!, $m: [ID!]!) { removeMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }', { o: offerId, m: memberIds }),
        () => 'Removed; their history stays.')) after();
    },
    Activate: async () => setActive(true),
    Deactivate: async () => setActive(false),
    'Refresh promo codes': offer.type !== 'PROMO_CODE' ? null : async () => {
      const ids = chosen(); if (!ids.length || !(await confirmList('Refresh promo codes', ids, 'Issue new codes for'))) return;
      if (await act(messages, () => gql('mutation($ids: [ID!]!) { refreshPromoCodes(input: { membershipIds: $ids }) { memberships { promoCode } } }', { ids }),
        (r) => `New codes: ${r.refreshPromoCodes.memberships.map((m) => m.promoCode).join(', ')}.`)) after();
    },
    'Edit payout': async () => {
      const ids = [...table.selected];
      const saved = await ask(ids.length ? `Payout for ${ids.length} selected members` : "The offer's default payout", payoutFields(), 'Save payout', (answer) => {
        const payout = checkedPayout(answer);
        return ids.length
          ? gql('mutation($ids: [ID!]!, $p: PayoutRuleInput!) { setPayoutOverride(input: { membershipIds: $ids, payout: $p }) { memberships { id } } }', { ids, p: payout })
          : gql('mutation($o: ID!, $p: PayoutRuleInput!) { editPayout(input: { id: $o, payout: $p }) { offer { id } } }', { o: offerId, p: payout });
      });
      if (!saved) return;
      flash = h('div', { class: 'notice', role: 'status' }, 'Payout saved; it applies to new conversions.');
      table.selected.clear();
      route();
    },
    'Email members': async () => {
      const ids = chosen(); if (!ids.length) return;
      const placeholder = offer.type === 'SALES_LINK' ? '{{link}}' : '{{promoCode}}';
      const queued = await askAndAct(messages, 'Email members', [
        field('Subject', h('input', { name: 'subject', required: true, value: `Your ${offer.name} ${offer.type === 'SALES_LINK' ? 'link' : 'code'}` })),
        field('Message ({{memberName}}, {{offerName}}, {{brandName}}, {{link}}, {{promoCode}})',
          h('textarea', { name: 'body', rows: 6, required: true }, `Hi {{memberName}},\n\nhere is your ${offer.type === 'SALES_LINK' ? 'link' : 'code'} for {{offerName}}: ${placeholder}\n\n{{brandName}}`)),
      ], 'Queue emails', (answer) => gql('mutation($ids: [ID!]!, $t: EmailTemplateInput!) { emailMembers(input: { membershipIds: $ids, template: $t }) { emails { id } } }',
        { ids, t: { subject: answer.get('subject'), body: answer.get('body') } }), (r) => emailsQueued(r.emailMembers.emails.length));
      if (queued) table.reload();
    },
    'Grant reward': async () => {
      const ids = chosen(); if (!ids.length) return;
      // One key per member, kept while the dialog is open: trying again after a
      // refusal grants each member once.
      const keys = new Map(ids.map((id) => [id, crypto.randomUUID()]));
      const granted = await askAndAct(messages, `Grant a reward to ${ids.length} members`, rewardFields(), 'Grant', async (answer) => {
        const { reward, email } = rewardFrom(answer, false);
        for (const id of ids) {
          await gql('mutation($i: GrantRewardInput!) { grantReward(input: $i) { reward { id } } }',
            { i: { membershipId: id, reward, email, idempotencyKey: keys.get(id) } });
        }
        return reward;
      }, (reward) => (reward.kind === 'CASH_BONUS' ? 'Reward granted; it is paid with the next payment.'
        : (viewer.emailSending ? 'Reward granted and emailed.' : 'Reward granted; its email waits in the outbox (no mail server is configured).')));
      if (granted) after();
    },
  };
  async function setActive(active) {
    const ids = chosen(); if (!ids.length || !(await confirmList(active ? 'Activate' : 'Deactivate', ids, active ? 'Activate' : 'Deactivate'))) return;
    if (await act(messages, () => gql('mutation($ids: [ID!]!, $a: Boolean!) { setMembershipActive(input: { membershipIds: $ids, active: $a }) { memberships { id } } }', { ids, a: active }),
      () => (active ? 'Activated.' : 'Deactivated.'))) after();
  }
  const payout = offer.payout;
  const memberFilters = rangeFilters(state, (ranges) => go({ ranges }));
  return [
    h('p', {}, h('a', { href: `#/?${rangeQuery(state)}`, id: 'all-offers' }, '← All offers')),
    h('div', { class: 'page-head' },
      h('h1', { class: 'grow', id: 'offer-name' }, offer.name, ' ', h('span', { class: 'badge' }, label(offer.type)), ' ', h('span', { class: 'badge', id: 'offer-status' }, label(offer.status))),
      liveBadge(),
      dateControl(state, go),
      isAdmin() ? offerManagement(messages, offer, data.projects) : null,
      isAdmin() ? h('button', { type: 'button', class: 'primary', id: 'send-payment', onclick: () => sendPayment(messages, { scope: 'OFFER', offerId }, route) }, 'Send Payment') : null),
    h('p', { class: 'empty' }, `${rangeText(state, offer.kpis.dateRange)} · payout ${label(payout.type).toLowerCase()} ${payout.percent ? `${payout.percent}%` : ''} ${payout.flatAmount ? format(payout.flatAmount, 'money') : ''}`),
    offer.shopperDiscount ? h('p', { class: 'empty', id: 'shopper-discount' }, `Shoppers get ${discountText(offer.shopperDiscount)} at checkout${offer.shopperDiscount.inShop ? ' (in the Shopify store)' : ''}.`) : null,
    messages,
    h('div', { class: 'controls' }, h('button', { type: 'button', 'aria-controls': 'member-filters', onclick: () => { memberFilters.hidden = !memberFilters.hidden; } }, 'Filter members'),
      h('label', {}, h('input', { type: 'checkbox', id: 'show-removed', checked: state.showRemoved, onchange: (e) => go({ showRemoved: e.target.checked }) }), ' Show removed members'),
      Object.keys(state.ranges).length || state.search ? h('span', { class: 'badge', id: 'summary-filtered' }, 'Figures for the members listed below') : null),
    memberFilters,
    kpiWidgets(offer.kpis),
    chart(offer.kpiSeries, seriesInterval(range)),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Members'),
        searchBox(state, 'Search by name or promo code', (search) => go({ search })),
        table.columnsButton, table.download),
      isAdmin() ? h('div', { class: 'controls', 'aria-label': 'Member actions' },
        Object.entries(actions).filter(([, run]) => run).map(([text, run]) => h('button', { type: 'button', onclick: run }, text))) : null,
      table.picker, table.body, table.pager),
    rewardRulesCard(messages, offer)];
}

/** KPI range filters alone (the member table's filter). */
function rangeFilters(state, onApply) {
  const form = h('form', { class: 'filters', 'aria-label': 'Member filters' },
    rangeInputs(state, 'member-'),
    h('div', { class: 'controls' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const ranges = readRanges(form);
    if (ranges) onApply(ranges);
  });
  return h('section', { class: 'card', id: 'member-filters', hidden: !Object.keys(state.ranges).length }, form);
}

/** Edit, pause, resume and archive: the buttons an offer's state allows (and a
 * promo-code offer's shopper discount). */
function offerManagement(target, offer, projects) {
  const setStatus = (status, done) => async () => {
    if (status === 'ARCHIVED' && !(await ask('Archive offer', [h('p', {}, `Archive ${offer.name}? It stops attributing and takes no new members until it is activated again.`)], 'Archive'))) return;
    const result = await act(target, () => gql('mutation($i: SetOfferStatusInput!) { setOfferStatus(input: $i) { offer { status } } }', { i: { id: offer.id, status } }),
      (r) => `${done}: the offer is ${label(r.setOfferStatus.offer.status).toLowerCase()}.`);
    if (result) { flash = target.firstChild; route(); }
  };
  const buttons = [h('button', { type: 'button', id: 'edit-offer', onclick: () => editOffer(target, offer, projects) }, 'Edit offer')];
  if (offer.status === 'ACTIVE') buttons.push(h('button', { type: 'button', id: 'pause-offer', onclick: setStatus('PAUSED', 'Paused') }, 'Pause'));
  if (offer.status === 'PAUSED' || offer.status === 'ARCHIVED') buttons.push(h('button', { type: 'button', id: 'resume-offer', onclick: setStatus('ACTIVE', 'Resumed') }, offer.status === 'PAUSED' ? 'Resume' : 'Activate'));
  if (offer.status !== 'ARCHIVED') buttons.push(h('button', { type: 'button', id: 'archive-offer', onclick: setStatus('ARCHIVED', 'Archived') }, 'Archive'));
  if (offer.type === 'PROMO_CODE') buttons.push(h('button', { type: 'button', id: 'shopper-discount-button', onclick: () => shopperDiscount(target, offer, route) }, 'Shopper discount'));
  return h('div', { class: 'controls', 'aria-label': 'Offer actions' }, buttons);
}

async function editOffer(target, offer, projects) {
  const isLink = offer.type === 'SALES_LINK';
  const current = new Set(offer.projects.map((p) => p.id));
  const answer = await ask(`Edit ${offer.name}`, [
    field('Name', h('input', { name: 'name', required: true, value: offer.name })),
    isLink ? field('Destination URL', h('input', { name: 'destinationUrl', type: 'url', required: true, value: offer.destinationUrl ?? '' }))
      : field('Code prefix (for codes issued from now on)', h('input', { name: 'codePrefix', required: true, value: offer.codePrefix ?? '' })),
    field('Attribution window (days)', h('input', { name: 'attributionWindowDays', type: 'number', min: 1, max: 365, required: true, value: offer.attributionWindowDays })),
    field('Hold period (days)', h('input', { name: 'holdPeriodDays', type: 'number', min: 0, max: 365, required: true, value: offer.holdPeriodDays })),
    field('Starts on', h('input', { name: 'startsOn', type: 'date', required: true, value: offer.startsOn })),
    field('Ends on (empty: open-ended)', h('input', { name: 'endsOn', type: 'date', value: offer.endsOn ?? '' })),
    projects.length ? field('Projects', h('select', { name: 'projectIds', multiple: true }, projects.map((p) => h('option', { value: p.id, selected: current.has(p.id) }, p.name)))) : null,
  ], 'Save changes', (answer) => {
    const input = {
      id: offer.id,
      name: answer.get('name'),
      attributionWindowDays: Number(answer.get('attributionWindowDays')),
      holdPeriodDays: Number(answer.get('holdPeriodDays')),
      startsOn: answer.get('startsOn'),
      endsOn: answer.get('endsOn') || null,
    };
    if (input.endsOn && input.endsOn < input.startsOn) throw new ApiError('The offer would end before it starts.');
    if (isLink) input.destinationUrl = answer.get('destinationUrl'); else input.codePrefix = answer.get('codePrefix');
    if (projects.length) input.projectIds = answer.getAll('projectIds');
    return gql('mutation($i: UpdateOfferInput!) { updateOffer(input: $i) { offer { name } } }', { i: input });
  });
  if (!answer) return;
  flash = h('div', { class: 'notice', role: 'status' }, `Saved ${answer.updateOffer.offer.name}.`);
  route();
}

/** "Add members": members found on the server by name or email, any number of them. */
async function addMembers(target, offerId, done) {
  const picked = new Map();
  const results = h('div', { class: 'list', id: 'member-results', 'aria-live': 'polite' });
  const pickedList = h('p', { id: 'members-picked' }, 'None picked yet.');
  const showPicked = () => pickedList.replaceChildren(picked.size ? `Picked: ${[...picked.values()].join(', ')}` : 'None picked yet.');
  const search = h('input', { type: 'search', id: 'member-search', placeholder: 'Name or email', autocomplete: 'off' });
  const find = newestOnly(async (current) => {
    try {
      const { members } = await gql('query($q: String) { members(first: 20, search: $q) { totalCount nodes { id name email } } }', { q: search.value.trim() || null });
      if (!current()) return;
      results.replaceChildren(...members.nodes.map((m) => h('label', {},
        h('input', { type: 'checkbox', value: m.id, checked: picked.has(m.id), onchange: (e) => {
          if (e.target.checked) picked.set(m.id, m.name); else picked.delete(m.id);
          showPicked();
        } }), ` ${m.name} (${m.email})`)),
      members.totalCount > members.nodes.length ? h('p', { class: 'empty' }, `${members.totalCount - members.nodes.length} more: narrow the search.`) : null,
      members.nodes.length ? null : h('p', { class: 'empty' }, 'No member matches.'));
    } catch (error) {
      if (current()) results.replaceChildren(errorBox(error));
    }
  });
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(find, 250); });
  // Enter searches rather than submitting the dialog.
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); find(); } });
  await find();
  const answer = await ask('Add members', [field('Search members', search), results, pickedList], 'Add');
  if (!answer) return;
  if (!picked.size) { target.prepend(errorBox('Pick at least one member.')); return; }
  if (await act(target, () => gql('mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }', { o: offerId, m: [...picked.keys()] }),
    (r) => `Added ${r.addMembers.memberships.length} members.`)) done();
}

/** The currency a member is paid in (empty: the brand's). */
function currencyField(value = '') {
  return field(`Paid in (currency code; empty: ${viewer?.brand.currency ?? 'USD'})`,
    h('input', { name: 'payoutCurrency', maxlength: 3, autocomplete: 'off', placeholder: 'e.g. EUR', value }));
}

/** Creates a member and puts them in this offer. */
async function newMember(target, offerId, done) {
  let member = null;
  const answer = await ask('New member', [
    field('Name', h('input', { name: 'name', required: true, autocomplete: 'off' })),
    field('Email', h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' })),
    field('Payout email or phone (empty: their email)', h('input', { name: 'payoutEmail', autocomplete: 'off' })),
    field('Country (e.g. US)', h('input', { name: 'country', maxlength: 2, autocomplete: 'off' })),
    currencyField(),
  ], 'Create and add', async (answer) => {
    // Created once: trying again after a refused add only adds.
    if (!member) {
      const input = { name: answer.get('name'), email: answer.get('email') };
      if (answer.get('payoutEmail')) input.payoutEmail = answer.get('payoutEmail');
      if (answer.get('payoutCurrency')) input.payoutCurrency = answer.get('payoutCurrency').trim().toUpperCase();
      if (answer.get('country')) input.country = answer.get('country').toUpperCase();
      member = (await gql('mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id name } } }', { i: input })).createMember.member;
    }
    await gql('mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }', { o: offerId, m: [member.id] });
    return member;
  });
  if (!answer) return;
  say(target, `Added ${answer.name} to the offer.`);
  done();
}

const REWARD_KINDS = [['CASH_BONUS', 'Cash bonus'], ['FREE_PRODUCT', 'Free product'], ['DISCOUNT_CODE', 'Discount code']];
const TRIGGERS = [['FIRST_CONVERSION', 'First conversion'], ['EVERY_N_CONVERSIONS', 'Every N conversions'], ['SALES_OVER_AMOUNT', 'Sales over an amount']];

/** The reward's fields; `rule` rewards make up their discount codes. */
function rewardFields(rule = null, byRule = false) {
  return [
    field('Reward', h('select', { name: 'kind' }, REWARD_KINDS.map(([v, t]) => h('option', { value: v, selected: rule?.rewardKind === v }, t)))),
    field(`Cash amount (${viewer?.brand.currency ?? 'USD'}, cash bonus)`, h('input', { name: 'cash', inputmode: 'decimal', value: rule?.cashAmount ?? '' })),
    field('Description (names a free product)', h('input', { name: 'description', value: rule?.description ?? '' })),
    byRule ? null : field('Discount code (discount code)', h('input', { name: 'code' })),
    field('Email subject (free product or discount code; empty: the default message)', h('input', { name: 'subject', value: rule?.email?.subject ?? '' })),
    field('Email message ({{memberName}}, {{offerName}}, {{brandName}}, {{promoCode}}, {{discountCode}}, {{rewardDescription}})',
      h('textarea', { name: 'body', rows: 4 }, rule?.email?.body ?? '')),
  ];
}

function rewardFrom(answer, byRule) {
  const reward = { kind: answer.get('kind'), description: answer.get('description') };
  if (answer.get('cash')) reward.cashAmount = answer.get('cash');
  if (!byRule && answer.get('code')) reward.discountCode = answer.get('code');
  const subject = String(answer.get('subject') ?? '').trim();
  const body = String(answer.get('body') ?? '').trim();
  return { reward, email: subject || body ? { subject, body } : null };
}

function describeRule(rule) {
  const when = rule.trigger === 'FIRST_CONVERSION' ? 'First conversion'
    : rule.trigger === 'EVERY_N_CONVERSIONS' ? `Every ${rule.everyN} conversions` : `Sales over ${format(rule.salesThreshold, 'money')}`;
  const what = rule.rewardKind === 'CASH_BONUS' ? `${format(rule.cashAmount, 'money')} bonus`
    : rule.rewardKind === 'FREE_PRODUCT' ? `Free product: ${rule.description}` : `Discount code${rule.description ? `: ${rule.description}` : ''}`;
  return [when, what];
}

/** The offer's reward rules: each can be edited and switched; admins add more. */
function rewardRulesCard(target, offer) {
  const reload = (message) => { flash = h('div', { class: 'notice', role: 'status' }, message); route(); };
  const rows = offer.rewardRules.map((rule) => {
    const [when, what] = describeRule(rule);
    return h('tr', { dataset: { rule: rule.id } },
      h('td', {}, when), h('td', {}, what), h('td', {}, rule.email ? rule.email.subject : (rule.rewardKind === 'CASH_BONUS' ? '—' : 'Default message')),
      h('td', {}, rule.active ? 'On' : 'Off'),
      isAdmin() ? h('td', { class: 'num' },
        h('button', { type: 'button', onclick: async () => {
          const saved = await ask('Edit reward rule', [h('p', {}, `${when}. The trigger stays; rewards already granted stay as they were.`), ...rewardFields(rule, true)], 'Save rule', (answer) => {
            const { reward, email } = rewardFrom(answer, true);
            return gql('mutation($i: UpdateRewardRuleInput!) { updateRewardRule(input: $i) { rule { id } } }', { i: { id: rule.id, reward, email } });
          });
          if (saved) reload('Rule saved.');
        } }, 'Edit'), ' ',
        h('button', { type: 'button', onclick: async () => {
          if (await act(target, () => gql('mutation($i: SetRewardRuleActiveInput!) { setRewardRuleActive(input: $i) { rule { active } } }', { i: { id: rule.id, active: !rule.active } }),
            (r) => (r.setRewardRuleActive.rule.active ? 'Rule on.' : 'Rule off.'))) reload(rule.active ? 'Rule switched off.' : 'Rule switched on.');
        } }, rule.active ? 'Switch off' : 'Switch on')) : null);
  });
  const add = async () => {
    const answer = await ask('New reward rule', [
      field('When', h('select', { name: 'trigger' }, TRIGGERS.map(([v, t]) => h('option', { value: v }, t)))),
      field('N (every N conversions)', h('input', { name: 'everyN', type: 'number', min: 1 })),
      field(`Sales threshold (${viewer?.brand.currency ?? 'USD'})`, h('input', { name: 'threshold', inputmode: 'decimal' })),
      ...rewardFields(null, true),
    ], 'Add rule', (answer) => {
      const { reward, email } = rewardFrom(answer, true);
      const rule = { trigger: answer.get('trigger'), reward, email };
      if (rule.trigger === 'EVERY_N_CONVERSIONS') rule.everyN = Number(answer.get('everyN'));
      if (rule.trigger === 'SALES_OVER_AMOUNT') rule.salesThreshold = answer.get('threshold');
      return gql('mutation($i: CreateRewardRuleInput!) { createRewardRule(input: $i) { rule { id } } }', { i: { offerId: offer.id, rule } });
    });
    if (answer) reload('Rule added: it grants on the next crossing.');
  };
  return h('section', { class: 'card', id: 'reward-rules' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Reward rules'), isAdmin() ? h('button', { type: 'button', id: 'add-rule', onclick: add }, 'Add rule') : null),
    rows.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Reward'), h('th', {}, 'Email'), h('th', {}, 'Status'), isAdmin() ? h('th', { class: 'num' }, 'Actions') : null)),
      h('tbody', {}, rows)))
      : h('p', { class: 'empty' }, 'No rules: rewards are granted by hand only.'));
}

/** Orders no link or code claimed, each of which an admin can credit to a membership. */
/** One member: who they are and each of their memberships, with its figures for the range. */
async function memberPage(memberId) {
  const state = readState();
  const range = dateRange(state);
  const { member } = await gql(`query($id: ID!, $r: DateRangeInput) { member(id: $id) { id name email payoutEmail payoutCurrency country createdAt
    memberships { id active removedAt promoCode trackingUrl joinedAt offer { id name type }
      emails { status subject createdAt } kpis(dateRange: $r) { clicks conversions totalSales commissionsEarned paymentsDue dateRange { start end } } } } }`,
  { id: memberId, r: range });
  if (!member) return [errorBox('This member does not exist.'), h('a', { href: `#/?${rangeQuery(state)}` }, 'Back to offers')];
  const messages = takeFlash();
  const go = (changes) => writeState(`/members/${memberId}`, { ...state, ...changes });
  const status = (m) => (m.removedAt ? 'Removed' : m.active ? 'Active' : 'Inactive');
  const rows = member.memberships.map((m) => h('tr', { dataset: { id: m.id } },
    h('td', {}, h('a', { href: `#/offers/${m.offer.id}?${rangeQuery(state)}` }, m.offer.name), ' ', emailNote(m.emails[0])),
    h('td', {}, status(m)),
    h('td', {}, m.offer.type === 'SALES_LINK' ? m.trackingUrl ?? '' : m.promoCode ?? ''),
    h('td', {}, m.joinedAt.slice(0, 10)),
    ['clicks', 'conversions'].map((field) => h('td', { class: 'num' }, format(m.kpis[field], 'count'))),
    ['totalSales', 'commissionsEarned', 'paymentsDue'].map((field) => h('td', { class: 'num' }, format(m.kpis[field], 'money')))));
  const shownRange = member.memberships[0]?.kpis.dateRange;
  return [
    h('p', {}, h('a', { href: `#/?${rangeQuery(state)}`, id: 'all-offers' }, '← All offers')),
    h('div', { class: 'page-head' }, h('h1', { class: 'grow', id: 'member-name' }, member.name), dateControl(state, go)),
    h('p', { class: 'empty', id: 'member-details' }, [member.email, member.payoutEmail && `pays to ${member.payoutEmail}`,
      member.payoutCurrency !== viewer?.brand.currency && `paid in ${member.payoutCurrency}`, member.country,
      `member since ${member.createdAt.slice(0, 10)}`].filter(Boolean).join(' · '),
    isAdmin() ? [' ', h('button', { type: 'button', class: 'link', id: 'edit-member', onclick: () => editMember(messages, member) }, 'Edit')] : null),
    messages,
    shownRange ? h('p', { class: 'empty' }, rangeText(state, shownRange)) : null,
    h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Offers')),
      rows.length ? h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Offer', 'Status', 'Link or code', 'Joined'].map((text) => h('th', {}, text)),
          ['Clicks', 'Conversions', 'Total Sales', 'Commissions Earned', 'Payments Due'].map((text) => h('th', { class: 'num' }, text)))),
        h('tbody', {}, rows)))
        : h('p', { class: 'empty' }, 'Not in any offer yet.'))];
}

/** Edits where and in which currency a member is paid. */
async function editMember(messages, member) {
  const edited = await askAndAct(messages, `Edit ${member.name}`, [
    field('Payout email or phone (empty: their email)', h('input', { name: 'payoutEmail', autocomplete: 'off', value: member.payoutEmail ?? '' })),
    currencyField(member.payoutCurrency),
  ], 'Save', (answer) => gql('mutation($i: UpdateMemberInput!) { updateMember(input: $i) { member { name payoutCurrency } } }', { i: {
    id: member.id,
    payoutEmail: answer.get('payoutEmail').trim() || null,
    payoutCurrency: answer.get('payoutCurrency').trim().toUpperCase() || viewer.brand.currency,
  } }), (r) => `Saved: ${r.updateMember.member.name} is paid in ${r.updateMember.member.payoutCurrency} from now on.`);
  if (edited) { flash = messages.querySelector('.notice'); route(); }
}

async function ordersPage() {
  const messages = takeFlash();
  const cursors = [null];
  const body = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const load = async () => {
    const { unattributedOrders: page } = await gql(`query($a: String, $n: Int) { unattributedOrders(first: $n, after: $a) {
      pageInfo { hasNextPage endCursor } nodes { id externalOrderId source occurredAt saleAmount currency originalAmount { amount currency } promoCode clickId } } }`, { a: cursors[cursors.length - 1], n: PAGE_SIZE });
    body.replaceChildren(page.nodes.length ? h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Order'), h('th', {}, 'Source'), h('th', {}, 'When'), h('th', { class: 'num' }, 'Sale'), h('th', {}, 'Code given'), isAdmin() ? h('th', { class: 'num' }, 'Action') : null)),
      h('tbody', {}, page.nodes.map((order) => h('tr', { dataset: { id: order.id } },
        h('td', {}, order.externalOrderId), h('td', {}, order.source), h('td', {}, new Date(order.occurredAt).toLocaleString()),
        h('td', { class: 'num' }, format(order.saleAmount, 'money'), soldIn(order)), h('td', {}, order.promoCode ?? '—'),
        isAdmin() ? h('td', { class: 'num' }, h('button', { type: 'button', onclick: () => assignOrder(messages, order) }, 'Assign…')) : null))))
      : h('p', { class: 'empty' }, 'Every order found its member.'));
    pager.replaceChildren(
      h('button', { type: 'button', disabled: cursors.length === 1, onclick: async () => { cursors.pop(); await load(); } }, 'Previous'),
      h('button', { type: 'button', disabled: !page.pageInfo.hasNextPage, onclick: async () => { cursors.push(page.pageInfo.endCursor); await load(); } }, 'Next'));
  };
  await load();
  return [
    h('div', { class: 'page-head' }, h('h1', { class: 'grow' }, 'Unattributed orders')),
    h('p', { class: 'empty' }, 'Orders whose promo code or click matched no active membership. Assign one to credit its member: the commission follows the membership\'s payout at the order\'s time.'),
    messages,
    h('section', { class: 'card' }, body, pager)];
}

async function assignOrder(target, order) {
  const { offers } = await gql('{ offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }, sort: { field: NAME, direction: ASC }) { nodes { id name } } }');
  const offerSelect = h('select', { name: 'offer', id: 'assign-offer' }, offers.nodes.map((o) => h('option', { value: o.id }, o.name)));
  const search = h('input', { type: 'search', id: 'assign-search', placeholder: 'Name or promo code', autocomplete: 'off' });
  const results = h('div', { class: 'list', id: 'assign-results', 'aria-live': 'polite' });
  const find = newestOnly(async (current) => {
    try {
      const { offer } = await gql('query($id: ID!, $q: String) { offer(id: $id) { memberships(first: 20, search: $q) { nodes { id promoCode member { name email } } } } }',
        { id: offerSelect.value, q: search.value.trim() || null });
      if (!current()) return;
      const nodes = offer.memberships.nodes;
      results.replaceChildren(...nodes.map((m, i) => h('label', {}, h('input', { type: 'radio', name: 'membership', value: m.id, required: true, checked: i === 0 }),
        ` ${m.member.name} (${m.member.email})${m.promoCode ? ` · ${m.promoCode}` : ''}`)),
      nodes.length ? null : h('p', { class: 'empty' }, 'No member of this offer matches.'));
    } catch (error) {
      if (current()) results.replaceChildren(errorBox(error));
    }
  });
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(find, 250); });
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); find(); } });
  offerSelect.addEventListener('change', find);
  await find();
  const key = crypto.randomUUID();
  const done = await askAndAct(target, `Assign order ${order.externalOrderId} (${format(order.saleAmount, 'money')})`,
    [field('Offer', offerSelect), field('Search members', search), results], 'Assign', (answer) => {
      if (!answer.get('membership')) throw new ApiError('Pick the member to credit.');
      return gql('mutation($i: AssignConversionInput!) { assignConversion(input: $i) { conversion { commission membership { member { name } } } } }',
        { i: { conversionId: order.id, membershipId: answer.get('membership'), idempotencyKey: key } });
    },
    (r) => `Order ${order.externalOrderId} credited to ${r.assignConversion.conversion.membership.member.name}: ${format(r.assignConversion.conversion.commission, 'money')} commission.`);
  if (done) { flash = target.firstChild; route(); }
}

/** API keys: admins list, create and revoke them. */
async function settingsPage() {
  const messages = takeFlash();
  if (!isAdmin()) {
    return [h('div', { class: 'page-head' }, h('h1', {}, 'API keys')), h('p', { class: 'error', role: 'alert', id: 'admins-only' }, 'Only admin keys manage API keys.')];
  }
  const { apiKeys, viewer: me } = await gql('{ viewer { apiKeyId } apiKeys { id label role keyPrefix createdAt lastUsedAt revokedAt } }');
  const when = (at) => (at ? new Date(at).toLocaleString() : '—');
  const create = async () => {
    const answer = await ask('New API key', [
      field('Label (what it is for)', h('input', { name: 'label', required: true, maxlength: 200 })),
      field('Role', h('select', { name: 'role' }, h('option', { value: 'ANALYST' }, 'Analyst: reads only'), h('option', { value: 'ADMIN' }, 'Admin: reads and changes'))),
    ], 'Create key', (created) => gql('mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { label } } }',
      { i: { label: created.get('label'), role: created.get('role') } }));
    if (!answer) return;
    try {
      const { createApiKey } = answer;
      await ask('Copy the new key now', [
        h('p', {}, `The secret of “${createApiKey.apiKey.label}” is shown this once; only its digest is kept.`),
        field('Secret', h('input', { id: 'new-key-secret', readonly: true, value: createApiKey.secret })),
      ], 'Done');
      flash = h('div', { class: 'notice', role: 'status' }, `Created ${createApiKey.apiKey.label}.`);
      route();
    } catch (error) {
      messages.prepend(errorBox(error));
    }
  };
  const revoke = (key) => async () => {
    if (!(await ask('Revoke API key', [h('p', {}, `Revoke “${key.label}” (${key.keyPrefix}…)? Requests with it are refused from now on, on every server.`)], 'Revoke'))) return;
    if (await act(messages, () => gql('mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { label } } }', { i: { id: key.id } }),
      (r) => `Revoked ${r.revokeApiKey.apiKey.label}.`)) { flash = messages.firstChild; route(); }
  };
  return [
    h('div', { class: 'page-head' }, h('h1', { class: 'grow' }, 'API keys'), h('button', { type: 'button', class: 'primary', id: 'create-key', onclick: create }, 'New key')),
    messages,
    h('section', { class: 'card' }, h('div', { class: 'table-wrap' }, h('table', { id: 'api-keys' },
      h('thead', {}, h('tr', {}, ['Label', 'Role', 'Key', 'Created', 'Last used', 'Status', ''].map((t, i) => h('th', { class: i === 6 ? 'num' : '' }, t || h('span', { class: 'visually-hidden' }, 'Actions'))))),
      h('tbody', {}, apiKeys.map((key) => h('tr', { dataset: { id: key.id } },
        h('td', {}, key.label), h('td', {}, label(key.role)), h('td', {}, h('code', {}, `${key.keyPrefix}…`)),
        h('td', {}, when(key.createdAt)), h('td', {}, when(key.lastUsedAt)),
        h('td', {}, key.revokedAt ? `Revoked ${when(key.revokedAt)}` : 'Active'),
        h('td', { class: 'num' }, key.revokedAt || key.id === me.apiKeyId ? (key.id === me.apiKeyId ? 'This key' : '') : h('button', { type: 'button', onclick: revoke(key) }, 'Revoke')))))))),
  ];
}

/** Webhooks: admins register endpoints for the brand's events, see each one's
 * recent deliveries and replay them; a secret is shown once, when made or rotated. */
async function webhooksPage() {
  const messages = takeFlash();
  if (!isAdmin()) {
    return [h('div', { class: 'page-head' }, h('h1', {}, 'Webhooks')), h('p', { class: 'error', role: 'alert', id: 'admins-only' }, 'Only admin keys manage webhooks.')];
  }
  const { webhookEndpoints, webhookEventTypes } = await gql(`{ webhookEventTypes webhookEndpoints { id url description events alertEmail enabled disabledReason failingSince
    recentDeliveries { id eventId eventType status attempts lastStatusCode lastDurationMs lastError lastAttemptAt nextAttemptAt } } }`);
  const when = (at) => (at ? new Date(at).toLocaleString() : '—');
  const reload = (text) => { flash = h('div', { class: 'notice', role: 'status' }, text); route(); };
  const showSecret = (title, url, secret) => ask(title, [
    h('p', {}, `Deliveries to ${url} are signed with this secret (Standard Webhooks: verify webhook-signature with any of its libraries). It is shown this once.`),
    field('Signing secret', h('input', { id: 'new-endpoint-secret', readonly: true, value: secret })),
  ], 'Done');
  const eventBoxes = (chosen) => h('fieldset', { class: 'list' }, h('legend', {}, 'Events'),
    webhookEventTypes.map((type) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'events', value: type, checked: chosen.includes(type) }), ` ${type}`)));
  const create = async () => {
    const answer = await ask('New webhook endpoint', [
      field('URL (https)', h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://hooks.example.com/sales-tracking' })),
      field('Description', h('input', { name: 'description', maxlength: 500 })),
      field('Email if it keeps failing', h('input', { name: 'alertEmail', type: 'email' })),
      eventBoxes(webhookEventTypes),
    ], 'Add endpoint', (given) => gql('mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret webhookEndpoint { url } } }',
      { i: { url: given.get('url'), description: given.get('description'), alertEmail: given.get('alertEmail') || null, events: given.getAll('events') } }));
    if (!answer) return;
    try {
      const { createWebhookEndpoint: made } = answer;
      await showSecret('Copy the signing secret now', made.webhookEndpoint.url, made.secret);
      reload(`Added ${made.webhookEndpoint.url}.`);
    } catch (error) {
      messages.prepend(errorBox(error));
    }
  };
  const change = (endpoint, input, done) => async () => {
    if (await act(messages, () => gql('mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { webhookEndpoint { url } } }', { i: { id: endpoint.id, ...input } }), () => done)) reload(done);
  };
  const edit = (endpoint) => async () => {
    const answer = await ask('Edit webhook endpoint', [
      field('URL (https)', h('input', { name: 'url', type: 'url', required: true, value: endpoint.url })),
      field('Description', h('input', { name: 'description', maxlength: 500, value: endpoint.description })),
      eventBoxes(endpoint.events),
    ], 'Save', (given) => gql('mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { webhookEndpoint { url } } }',
      { i: { id: endpoint.id, url: given.get('url'), description: given.get('description'), events: given.getAll('events') } }));
    if (answer) reload(`Saved ${answer.updateWebhookEndpoint.webhookEndpoint.url}.`);
  };
  const rotate = (endpoint) => async () => {
    if (!(await ask('Rotate signing secret', [h('p', {}, `A new secret signs every delivery to ${endpoint.url} from now on; the old one stops at once.`)], 'Rotate'))) return;
    try {
      const { rotateWebhookEndpointSecret: rotated } = await gql('mutation($i: RotateWebhookEndpointSecretInput!) { rotateWebhookEndpointSecret(input: $i) { secret } }', { i: { id: endpoint.id } });
      await showSecret('Copy the new signing secret now', endpoint.url, rotated.secret);
      reload(`Rotated the secret of ${endpoint.url}.`);
    } catch (error) {
      messages.prepend(errorBox(error));
    }
  };
  const remove = (endpoint) => async () => {
    if (!(await ask('Delete webhook endpoint', [h('p', {}, `Delete ${endpoint.url} and its delivery log? Events waiting for it are dropped.`)], 'Delete'))) return;
    if (await act(messages, () => gql('mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { webhookEndpoint { url } } }', { i: { id: endpoint.id } }), () => 'Deleted.')) reload(`Deleted ${endpoint.url}.`);
  };
  const replay = (delivery) => async () => {
    if (await act(messages, () => gql('mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { webhookDelivery { id } } }', { i: { id: delivery.id } }), () => 'Replayed.')) reload(`Sending ${delivery.eventType} (${delivery.eventId}) again.`);
  };
  const deliveries = (endpoint) => (endpoint.recentDeliveries.length === 0
    ? h('p', { class: 'empty' }, 'No deliveries yet: events are sent as they happen.')
    : h('div', { class: 'table-wrap' }, h('table', { class: 'deliveries' },
      h('caption', { class: 'visually-hidden' }, `Recent deliveries to ${endpoint.url}`),
      h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Answer', 'Took', 'Last attempt', 'Next retry', ''].map((t, i) => h('th', { class: [2, 4].includes(i) ? 'num' : '' }, t || h('span', { class: 'visually-hidden' }, 'Actions'))))),
      h('tbody', {}, endpoint.recentDeliveries.map((d) => h('tr', { dataset: { id: d.id, status: d.status } },
        h('td', {}, d.eventType, h('br'), h('code', { class: 'muted' }, d.eventId)),
        h('td', {}, h('span', { class: `badge ${d.status.toLowerCase()}` }, label(d.status))),
        h('td', { class: 'num' }, count.format(d.attempts)),
        h('td', { title: d.lastError ?? '' }, d.lastStatusCode ?? (d.lastError ? 'no answer' : '—')),
        h('td', { class: 'num' }, d.lastDurationMs === null ? '—' : `${count.format(d.lastDurationMs)} ms`),
        h('td', {}, when(d.lastAttemptAt)), h('td', {}, when(d.nextAttemptAt)),
        h('td', { class: 'num' }, h('button', { type: 'button', class: 'replay', onclick: replay(d) }, 'Replay'))))))));
  return [
    h('div', { class: 'page-head' }, h('h1', { class: 'grow' }, 'Webhooks'), h('button', { type: 'button', class: 'primary', id: 'add-endpoint', onclick: create }, 'Add endpoint')),
    messages,
    ...(webhookEndpoints.length === 0 ? [h('p', { class: 'empty', id: 'no-endpoints' }, 'No endpoints yet. Add one to send conversions, commissions, payments and more to your own systems as they happen.')] : []),
    ...webhookEndpoints.map((endpoint) => h('section', { class: 'card endpoint', dataset: { id: endpoint.id } },
      h('div', { class: 'card-head' },
        h('h2', {}, endpoint.url),
        h('span', { class: `badge ${endpoint.enabled ? 'succeeded' : 'failed'}` }, endpoint.enabled ? 'Enabled' : 'Disabled'),
        h('button', { type: 'button', class: 'edit', onclick: edit(endpoint) }, 'Edit'),
        h('button', { type: 'button', class: 'toggle', onclick: change(endpoint, { enabled: !endpoint.enabled }, endpoint.enabled ? `Disabled ${endpoint.url}.` : `Enabled ${endpoint.url}.`) }, endpoint.enabled ? 'Disable' : 'Enable'),
        h('button', { type: 'button', class: 'rotate', onclick: rotate(endpoint) }, 'Rotate secret'),
        h('button', { type: 'button', class: 'delete', onclick: remove(endpoint) }, 'Delete')),
      endpoint.description ? h('p', {}, endpoint.description) : null,
      endpoint.disabledReason ? h('p', { class: 'error', role: 'alert' }, `Disabled: ${endpoint.disabledReason}.`) : null,
      endpoint.failingSince && endpoint.enabled ? h('p', { class: 'error', role: 'alert' }, `Failing since ${when(endpoint.failingSince)}.`) : null,
      h('p', { class: 'muted events' }, `Events: ${endpoint.events.join(', ')}`),
      deliveries(endpoint))),
  ];
}

/** Shopify: admins connect the brand's store (a custom app's token, or the
 * app install), see whether it is in step, and ask for a reconcile. */
async function shopifyPage() {
  const messages = takeFlash();
  if (!isAdmin()) {
    return [h('div', { class: 'page-head' }, h('h1', {}, 'Shopify')), h('p', { class: 'error', role: 'alert', id: 'admins-only' }, 'Only admin keys connect the shop.')];
  }
  const importFields = 'shopifyImport { state total processed recorded alreadyRecorded skipped error payable from to finishedAt }';
  const { shopifyStore: store, shopifyImport } = await gql(`{ shopifyStore { shopDomain shopName scopes connectedVia status connectedAt lastSyncedAt lastError } ${importFields} }`);
  const when = (at) => (at ? new Date(at).toLocaleString() : '—');
  const reload = (text) => { flash = h('div', { class: 'notice', role: 'status' }, text); route(); };
  const connected = store && store.status === 'CONNECTED';
  const connect = async () => {
    const answer = await ask('Connect with a custom app token', [
      h('p', {}, 'In Shopify: Settings → Apps → Develop apps → create an app with the Admin API scopes read_orders and write_discounts, install it, and paste its token and API secret key here.'),
      field('Store domain', h('input', { name: 'shopDomain', required: true, placeholder: 'your-store.myshopify.com', value: store?.shopDomain ?? '' })),
      field('Admin API access token', h('input', { name: 'accessToken', type: 'password', required: true, autocomplete: 'off' })),
      field('API secret key (signs its webhooks)', h('input', { name: 'webhookSecret', type: 'password', autocomplete: 'off' })),
    ], 'Connect');
    if (!answer) return;
    const input = { shopDomain: answer.get('shopDomain'), accessToken: answer.get('accessToken'), webhookSecret: answer.get('webhookSecret') || null };
    if (await act(messages, () => gql('mutation($i: ConnectShopifyStoreInput!) { connectShopifyStore(input: $i) { shopifyStore { shopName } } }', { i: input }), () => 'Connected.')) reload(`Connected ${input.shopDomain}: order webhooks and promo codes are being set up.`);
  };
  const install = async () => {
    const answer = await ask('Install the Sales Tracking app', [
      field('Store domain', h('input', { name: 'shopDomain', required: true, placeholder: 'your-store.myshopify.com' })),
    ], 'Go to Shopify');
    if (!answer) return;
    try {
      const { startShopifyInstall: started } = await gql('mutation($i: StartShopifyInstallInput!) { startShopifyInstall(input: $i) { authorizationUrl } }', { i: { shopDomain: answer.get('shopDomain') } });
      location.assign(started.authorizationUrl);
    } catch (error) {
      messages.prepend(errorBox(error));
    }
  };
  const reconcile = async () => {
    if (await act(messages, () => gql('mutation($i: ReconcileShopifyStoreInput!) { reconcileShopifyStore(input: $i) { shopifyStore { status } } }', { i: { shopDomain: store.shopDomain } }), () => 'Asked.')) reload('Comparing the shop\'s promo codes with ours now.');
  };
  const disconnect = async () => {
    if (!(await ask('Disconnect the store', [h('p', {}, `Disconnect ${store.shopDomain}? Its token is forgotten; codes already in the shop stay there until you connect again.`)], 'Disconnect'))) return;
    if (await act(messages, () => gql('mutation($i: DisconnectShopifyStoreInput!) { disconnectShopifyStore(input: $i) { shopifyStore { status } } }', { i: { shopDomain: store.shopDomain } }), () => 'Disconnected.')) reload(`Disconnected ${store.shopDomain}.`);
  };
  const status = store ? h('section', { class: 'card', id: 'shop-status' },
    h('div', { class: 'card-head' },
      h('h2', {}, `${store.shopName} (${store.shopDomain})`),
      h('span', { class: `badge ${connected ? 'succeeded' : 'failed'}` }, label(store.status)),
      connected ? h('button', { type: 'button', id: 'reconcile', onclick: reconcile }, 'Reconcile now') : null,
      connected ? h('button', { type: 'button', id: 'disconnect', onclick: disconnect }, 'Disconnect') : null),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Connected'), h('dd', {}, `${when(store.connectedAt)} (${label(store.connectedVia)})`),
      h('dt', {}, 'Last in step'), h('dd', { id: 'last-synced' }, when(store.lastSyncedAt)),
      h('dt', {}, 'Scopes'), h('dd', {}, store.scopes.join(', '))),
    store.lastError ? h('p', { class: 'error', role: 'alert', id: 'last-error' }, `Last error: ${store.lastError}`) : null)
    : h('p', { class: 'empty', id: 'no-store' }, 'No store connected. Connect one so promo codes work at checkout and orders arrive by webhook.');
  // A calendar day as the browser writes dates (the brand's day, whatever the browser's zone).
  const day = (date) => new Date(`${date}T00:00:00Z`).toLocaleDateString(undefined, { timeZone: 'UTC' });
  const importCard = (run) => h('section', { class: 'card', id: 'shop-import', 'aria-live': 'polite', dataset: { state: run.state } },
    h('div', { class: 'card-head' },
      h('h2', {}, `Orders from ${day(run.from)} to ${day(run.to)}`),
      h('span', { class: `badge ${{ RUNNING: 'pending', DONE: 'succeeded', FAILED: 'failed' }[run.state]}` }, label(run.state))),
    h('progress', { id: 'import-progress', max: Math.max(run.total ?? 0, run.processed, 1), value: run.processed, 'aria-label': 'Orders read' }),
    h('p', { id: 'import-counts' }, `${count.format(run.processed)} of ${run.total === null ? '…' : count.format(run.total)} orders read: ${count.format(run.recorded)} recorded, ${count.format(run.alreadyRecorded)} already here, ${count.format(run.skipped)} skipped.`),
    h('p', { class: 'muted' }, run.payable ? 'Commissions past their hold period are due here.' : 'Commissions past their hold period were recorded as paid outside Sales Tracking.'),
    run.error ? h('p', { class: 'error', role: 'alert', id: 'import-error' }, `Stopped: ${run.error}. Import the same dates again to resume.`) : null);
  const follow = (card) => {
    const page = generation;
    const poll = async () => {
      if (page !== generation || !card.isConnected) return;
      try {
        const { shopifyImport: run } = await gql(`{ ${importFields} }`);
        const next = importCard(run);
        card.replaceWith(next);
        card = next;
        if (run.state === 'RUNNING') setTimeout(poll, 1000);
        else document.getElementById('import-orders')?.removeAttribute('disabled');
      } catch (error) {
        messages.prepend(errorBox(error));
      }
    };
    setTimeout(poll, 1000);
    return card;
  };
  const importOrders = async () => {
    const today = new Date().toISOString().slice(0, 10);
    const answer = await ask('Import order history', [
      h('p', {}, 'Reads the store\'s orders in these dates and books each once, by the promo codes valid at its time and the creator link it came through. Orders already here are not counted twice.'),
      field('From', h('input', { name: 'from', type: 'date', required: true, max: today })),
      field('To (optional, default today)', h('input', { name: 'to', type: 'date', max: today })),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'payable' }), ' Commissions past their hold period are still unpaid (otherwise they are recorded as paid outside Sales Tracking)'),
    ], 'Import');
    if (!answer) return;
    const input = { from: answer.get('from'), to: answer.get('to') || null, payable: answer.get('payable') === 'on' };
    if (await act(messages, () => gql('mutation($i: ImportShopifyOrdersInput!) { importShopifyOrders(input: $i) { shopifyImport { state } } }', { i: input }), () => 'Started.')) reload('Importing the store\'s orders.');
  };
  const history = connected || shopifyImport ? h('section', { class: 'card', id: 'import-history' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Order history'),
      connected ? h('button', { type: 'button', id: 'import-orders', onclick: importOrders, disabled: shopifyImport?.state === 'RUNNING' }, 'Import orders') : null),
    shopifyImport ? (shopifyImport.state === 'RUNNING' ? follow(importCard(shopifyImport)) : importCard(shopifyImport))
      : h('p', { class: 'empty' }, 'Bring in the orders from before the store was connected.'))
    : null;
  return [
    h('div', { class: 'page-head' }, h('h1', { class: 'grow' }, 'Shopify'),
      h('button', { type: 'button', id: 'install-app', onclick: install }, 'Install app'),
      h('button', { type: 'button', class: 'primary', id: 'connect-store', onclick: connect }, connected ? 'Reconnect' : 'Connect with a token')),
    messages,
    status,
    history,
  ];
}

// ---------- routing ----------

async function route() {
  const signOutButton = document.getElementById('sign-out');
  if (!apiKey()) { signOutButton.hidden = true; keyPage(); return; }
  signOutButton.hidden = false;
  const mine = ++generation;
  const hash = location.hash;
  delete app.dataset.ready;
  const [path] = hash.replace(/^#/, '').split('?');
  const offer = path.match(/^\/offers\/([^/]+)$/);
  const member = path.match(/^\/members\/([^/]+)$/);
  let nodes;
  live.claimed = false;
  try {
    await whoAmI();
    document.getElementById('nav-settings').hidden = !isAdmin();
    document.getElementById('nav-webhooks').hidden = !isAdmin();
    document.getElementById('nav-shopify').hidden = !isAdmin();
    if (offer) nodes = await offerPage(decodeURIComponent(offer[1]));
    else if (member) nodes = await memberPage(decodeURIComponent(member[1]));
    else if (path === '/orders') nodes = await ordersPage();
    else if (path === '/settings') nodes = await settingsPage();
    else if (path === '/webhooks') nodes = await webhooksPage();
    else if (path === '/shopify') nodes = await shopifyPage();
    else nodes = await homePage();
  } catch (error) {
    // The page could not be shown (an address edited by hand, the server away): say
    // why once, and leave a way on.
    nodes = [errorBox(error), h('p', {}, h('a', { href: '#/', id: 'start-over' }, 'Show all offers, without filters'))];
  }
  if (mine !== generation) return;
  if (!live.claimed) watchKpis(null);
  // What the user was typing in or working with keeps its focus (and every keystroke
  // typed while the page loaded) across the new page.
  const active = document.activeElement;
  const kept = active && active.id && app.contains(active)
    ? { id: active.id, value: active.value, selection: active.type === 'search' ? [active.selectionStart, active.selectionEnd] : null } : null;
  // A page leaves out what does not apply as null (replaceChildren would write "null").
  app.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
  if (flash && app.contains(flash)) flash = null;
  const again = kept && document.getElementById(kept.id);
  if (again) {
    if (kept.selection && again.value !== kept.value) {
      again.value = kept.value;
      again.dispatchEvent(new Event('input'));
    }
    again.focus();
    if (kept.selection) again.setSelectionRange(...kept.selection);
  }
  for (const link of document.querySelectorAll('.top nav a')) {
    if (link.getAttribute('href') === `#${path || '/'}`) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  // Tests (and anyone) can wait for this: the page of `hash` is shown, data loaded.
  app.dataset.ready = hash;
}

document.getElementById('sign-out').addEventListener('click', signOut);
// Routes live in the hash: the skip link moves the focus instead of following its href.
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  app.focus();
});
window.addEventListener('hashchange', route);
route();

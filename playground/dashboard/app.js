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
  ['MEMBERS_WITH_CONVERSIONS', 'With conversions', (r) => r.kpis.membersWithConversions, 'count', 'MEMBERS_WITH_CONVERSIONS'],
  ['CONVERSIONS', 'Conversions', (r) => r.kpis.conversions, 'count', 'CONVERSIONS'],
  ['CLICKS', 'Clicks', (r) => r.kpis.clicks, 'count', 'CLICKS'],
  ['TOTAL_SALES', 'Total sales', (r) => r.kpis.totalSales, 'money', 'TOTAL_SALES'],
  ['SALES_PER_MEMBER', 'Sales / member', (r) => r.kpis.salesPerMember, 'money', 'SALES_PER_MEMBER'],
  ['COMMISSIONS_EARNED', 'Commissions', (r) => r.kpis.commissionsEarned, 'money', 'COMMISSIONS_EARNED'],
  ['AVERAGE_COMMISSION_PER_MEMBER', 'Avg. commission', (r) => r.kpis.averageCommissionPerMember, 'money', 'AVERAGE_COMMISSION_PER_MEMBER'],
  ['PAYMENTS_DUE', 'Payments due', (r) => r.kpis.paymentsDue, 'money', 'PAYMENTS_DUE'],
  ['MEMBERS_WITH_PAYMENTS_DUE', 'Members due', (r) => r.kpis.membersWithPaymentsDue, 'count', 'MEMBERS_WITH_PAYMENTS_DUE'],
  ['PAYOUTS', 'Payouts', (r) => r.kpis.payouts, 'money', 'PAYOUTS'],
  ['AVERAGE_SALE', 'Average sale', (r) => r.kpis.averageSale, 'money', 'AVERAGE_SALE'],
];
const OFFER_COLUMNS = [
  ['NAME', 'Offer', (r) => r.name, 'name', 'NAME'],
  ['TYPE', 'Type', (r) => label(r.type), 'text', null],
  ['STATUS', 'Status', (r) => label(r.status), 'text', null],
  ['CREATED_AT', 'Created', (r) => r.createdAt.slice(0, 10), 'text', 'CREATED_AT'],
  ...KPI_COLUMNS,
];
const MEMBERSHIP_COLUMNS = [
  ['NAME', 'Member', (r) => r.member.name, 'name', 'NAME'],
  ['STATUS', 'Status', (r) => (r.active ? 'Active' : 'Inactive'), 'text', null],
  ['PROMO_CODE', 'Promo code', (r) => r.promoCode ?? '', 'text', null],
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

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const count = new Intl.NumberFormat('en-US');
const app = document.getElementById('app');
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

async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey()}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    localStorage.removeItem(KEY_STORAGE);
    route();
    throw new ApiError('The API key was refused. Enter a valid key.');
  }
  if (body.errors?.length) {
    throw new ApiError(body.errors.map((e) => e.message).join('; '));
  }
  if (!response.ok) throw new ApiError(`The server answered ${response.status}.`);
  return body.data;
}

function errorBox(error) {
  return h('div', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error));
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
  const start = h('input', { type: 'date', 'aria-label': 'Start date', value: state.start ?? '', hidden: !!state.preset });
  const end = h('input', { type: 'date', 'aria-label': 'End date', value: state.end ?? '', hidden: !!state.preset });
  const apply = h('button', { type: 'button', hidden: !!state.preset, onclick: () => {
    if (start.value && end.value) onChange({ preset: null, start: start.value, end: end.value });
  } }, 'Apply');
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

function chart(points) {
  const metrics = [['commissionsEarned', 'Commissions', 'money'], ['totalSales', 'Sales', 'money'],
    ['conversions', 'Conversions', 'count'], ['clicks', 'Clicks', 'count']];
  const holder = h('div', { class: 'chart' });
  const select = h('select', { 'aria-label': 'Chart figure' }, metrics.map(([value, text]) => h('option', { value }, text)));
  const draw = () => {
    const [field, , kind] = metrics.find(([value]) => value === select.value);
    holder.replaceChildren(svgChart(points.map((p) => ({ x: p.start, y: Number(p.kpis[field]) })), kind));
  };
  select.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Over time'), select), holder);
}

function svgChart(points, kind) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const width = 1000, height = 180, left = 70, bottom = 20;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (!points.length) {
    svg.setAttribute('aria-label', 'No data in this range');
    return svg;
  }
  const max = Math.max(...points.map((p) => p.y), 1);
  const step = points.length > 1 ? (width - left - 10) / (points.length - 1) : 0;
  const y = (v) => (height - bottom) - (v / max) * (height - bottom - 10);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${left + i * step},${y(p.y)}`).join(' ');
  const add = (tag, attributes, text) => {
    const element = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
    if (text) element.textContent = text;
    svg.append(element);
  };
  add('line', { x1: left, x2: width, y1: height - bottom, y2: height - bottom, stroke: '#dde1e8' });
  add('text', { x: 0, y: 14, class: 'axis' }, format(max, kind));
  add('text', { x: left, y: height - 4, class: 'axis' }, points[0].x);
  add('text', { x: width - 70, y: height - 4, class: 'axis' }, points[points.length - 1].x);
  add('path', { d: path, fill: 'none', stroke: '#2455d6', 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' });
  svg.setAttribute('aria-label', `${points.length} points, highest ${format(max, kind)}`);
  return svg;
}

function filtersPanel(state, projects, onApply) {
  const checks = (name, values, chosen) => h('fieldset', {}, h('legend', {}, name),
    values.map(([value, text]) => h('label', {}, h('input', { type: 'checkbox', name, value, checked: chosen.includes(value) }), ` ${text} `)));
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    checks('Status', [['ACTIVE', 'Active'], ['PAUSED', 'Paused'], ['EXPIRED', 'Expired'], ['ARCHIVED', 'Archived']], state.statuses),
    checks('Type', [['SALES_LINK', 'Sales link'], ['PROMO_CODE', 'Promo code']], state.types),
    projects.length ? checks('Projects', projects.map((p) => [p.id, p.name]), state.projectIds) : null,
    h('fieldset', {}, h('legend', {}, 'KPI ranges'), KPI_RANGES.map(([field, text, kind]) => h('div', { class: 'range' },
      h('label', {}, text),
      h('input', { name: `${field}Min`, placeholder: 'min', inputmode: kind === 'count' ? 'numeric' : 'decimal', value: state.ranges[`${field}Min`] ?? '' }),
      h('input', { name: `${field}Max`, placeholder: 'max', inputmode: kind === 'count' ? 'numeric' : 'decimal', value: state.ranges[`${field}Max`] ?? '' })))),
    h('div', { class: 'controls' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const ranges = {};
    for (const [field] of KPI_RANGES) for (const bound of ['Min', 'Max']) {
      const value = String(data.get(field + bound) ?? '').trim();
      if (value) ranges[field + bound] = value;
    }
    onApply({ statuses: data.getAll('Status'), types: data.getAll('Type'), projectIds: data.getAll('Projects'), ranges });
  });
  return h('section', { class: 'card', id: 'filters', hidden: true }, form);
}

/** A data table with sortable headers, a column picker that is saved per key, and paging. */
async function kpiTable({ table, columns, state, fetchPage, onSort, rowLink, selectable, exportUrl }) {
  const saved = (await gql('query($t: KpiTable!) { tableColumns(table: $t) }', { t: table })).tableColumns;
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
  const render = (page) => {
    if (!page.nodes.length) {
      body.replaceChildren(h('p', { class: 'empty' }, 'Nothing matches.'));
    } else {
      const header = h('tr', {}, selectable ? h('th', {}, '') : null, shown.map(([column, text, , kind, sortField]) => {
        const active = sortField && state.sort === sortField;
        const arrow = active ? (state.direction === 'DESC' ? ' ↓' : ' ↑') : '';
        const cell = sortField
          ? h('button', { type: 'button', onclick: () => onSort(sortField, active && state.direction === 'DESC' ? 'ASC' : 'DESC') }, text + arrow)
          : text;
        return h('th', { class: kind === 'money' || kind === 'count' ? 'num' : '', dataset: { column }, 'aria-sort': active ? (state.direction === 'DESC' ? 'descending' : 'ascending') : null }, cell);
      }));
      const rows = page.nodes.map((row) => h('tr', { dataset: { id: row.id } },
        selectable ? h('td', {}, h('input', { type: 'checkbox', 'aria-label': 'Select row', checked: selected.has(row.id), onchange: (e) => {
          if (e.target.checked) selected.add(row.id); else selected.delete(row.id);
        } })) : null,
        shown.map(([column, , read, kind]) => {
          const value = format(read(row), kind);
          const content = kind === 'name' && rowLink ? h('a', { href: rowLink(row) }, value) : value;
          return h('td', { class: kind === 'money' || kind === 'count' ? 'num' : '', dataset: { column } }, content);
        })));
      body.replaceChildren(h('table', {}, h('thead', {}, header), h('tbody', {}, rows)));
    }
    const pageNumber = cursors.length;
    pager.replaceChildren(
      h('span', {}, `${count.format(page.totalCount)} in all · page ${pageNumber}`),
      h('button', { type: 'button', disabled: pageNumber === 1, onclick: () => { cursors.pop(); load(); } }, 'Previous'),
      h('button', { type: 'button', disabled: !page.pageInfo.hasNextPage, onclick: () => { cursors.push(page.pageInfo.endCursor); load(); } }, 'Next'));
  };

  picker.append(...columns.map(([column, text]) => h('label', {},
    h('input', { type: 'checkbox', value: column, checked: shown.some(([c]) => c === column), onchange: async () => {
      const chosen = [...picker.querySelectorAll('input:checked')].map((input) => input.value);
      shown = columns.filter(([c]) => chosen.includes(c));
      try {
        await gql('mutation($t: KpiTable!, $c: [TableColumn!]!) { setTableColumns(input: { table: $t, columns: $c }) { columns } }',
          { t: table, c: shown.map(([c]) => c) });
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
function ask(title, fields, confirmText = 'Confirm') {
  const dialog = document.getElementById('dialog');
  const form = document.getElementById('dialog-form');
  form.replaceChildren(h('h2', {}, title), ...fields, h('div', { class: 'buttons' },
    h('button', { type: 'button', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
    h('button', { type: 'submit', class: 'primary', value: 'ok' }, confirmText)));
  return new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener('close', done);
      resolve(dialog.returnValue === 'ok' ? new FormData(form) : null);
    };
    dialog.addEventListener('close', done);
    dialog.returnValue = '';
    dialog.showModal();
    form.querySelector('input, select, textarea, button[type=submit]')?.focus();
  });
}

/** The messages area of a page, holding the pending flash message if any. */
function takeFlash() {
  const messages = h('div');
  if (flash) messages.append(flash);
  flash = null;
  return messages;
}

function field(text, input) {
  return h('label', {}, text, input);
}

function payoutFields(prefix = '') {
  return [
    field('Payout type', h('select', { name: `${prefix}type` },
      ['PERCENT_OF_SALE', 'FLAT_PER_CONVERSION', 'FLAT_PER_CLICK', 'PERCENT_PLUS_FLAT'].map((v) => h('option', { value: v }, label(v))))),
    field('Percent of sale', h('input', { name: `${prefix}percent`, inputmode: 'decimal', placeholder: 'e.g. 10' })),
    field('Flat amount (USD)', h('input', { name: `${prefix}flat`, inputmode: 'decimal', placeholder: 'e.g. 5.00' })),
  ];
}

function payoutFrom(data) {
  const payout = { type: data.get('type') };
  if (data.get('percent')) payout.percent = String(data.get('percent'));
  if (data.get('flat')) payout.flatAmount = String(data.get('flat'));
  return payout;
}

/** Runs an action and shows what happened above `target`. */
async function act(target, work, success) {
  try {
    const result = await work();
    target.prepend(h('div', { class: 'notice', role: 'status' }, success(result)));
    return result;
  } catch (error) {
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
      paymentPreview(scope: $scope, offerId: $offerId, filter: $filter, dateRange: $dateRange) { totalAmount itemCount items { amount membership { member { name } offer { name } } } } }`, args)).paymentPreview;
  } catch (error) {
    target.prepend(errorBox(error));
    return;
  }
  if (preview.itemCount === 0) {
    target.prepend(h('div', { class: 'notice', role: 'status' }, 'Nothing is due right now.'));
    return;
  }
  const list = h('div', { class: 'list' }, h('table', {}, h('tbody', {}, preview.items.map((item) =>
    h('tr', {}, h('td', {}, item.membership.member.name), h('td', {}, item.membership.offer.name), h('td', { class: 'num' }, format(item.amount, 'money')))))));
  const answer = await ask('Send Payment', [
    h('p', { id: 'payment-preview' }, `Pay ${format(preview.totalAmount, 'money')} to ${preview.itemCount} member${preview.itemCount === 1 ? '' : 's'}:`),
    list,
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
  if (paid) {
    flash = h('div', { class: 'notice', role: 'status' }, result);
    onPaid();
  }
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
  const { projects, kpis, kpiSeries } = await gql(`query($f: OfferFilter, $r: DateRangeInput, $i: SeriesInterval!) {
    projects { id name }
    kpis(filter: $f, dateRange: $r) { ${KPI_FIELDS} dateRange { start end } }
    kpiSeries(filter: $f, dateRange: $r, interval: $i) { start kpis { commissionsEarned totalSales conversions clicks } } }`,
  { f: filter, r: range, i: seriesInterval(range) });
  const filters = filtersPanel(state, projects, go);
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
      dateControl(state, go),
      h('button', { type: 'button', 'aria-controls': 'filters', onclick: () => { filters.hidden = !filters.hidden; } }, 'Filters'),
      h('button', { type: 'button', class: 'primary', id: 'send-payment', onclick: () => sendPayment(messages, { scope: 'ACTIVE_OFFERS', filter, dateRange: range }, route) }, 'Send Payment')),
    h('p', { class: 'empty', id: 'range-label' }, `${kpis.dateRange.start} – ${kpis.dateRange.end}`),
    messages,
    filters,
    kpiWidgets(kpis),
    chart(kpiSeries),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Offers'),
        searchBox(state, 'Search offers', (search) => go({ search })),
        table.columnsButton, table.download,
        h('button', { type: 'button', onclick: () => addOffer(messages, projects) }, 'Add Offer')),
      table.picker, table.body, table.pager)];
}

async function addOffer(target, projects) {
  const type = await ask('Add Offer: choose the type', [
    h('label', {}, h('input', { type: 'radio', name: 'type', value: 'SALES_LINK', checked: true }), ' Sales link: members share a tracked link'),
    h('label', {}, h('input', { type: 'radio', name: 'type', value: 'PROMO_CODE' }), ' Promo code: members share a code buyers enter'),
  ], 'Next');
  if (!type) return;
  const isLink = type.get('type') === 'SALES_LINK';
  const details = await ask(`New ${isLink ? 'sales link' : 'promo code'} offer`, [
    field('Name', h('input', { name: 'name', required: true })),
    isLink ? field('Destination URL', h('input', { name: 'destination', type: 'url', required: true, placeholder: 'https://shop.example.com/…' }))
      : field('Code prefix', h('input', { name: 'prefix', required: true, placeholder: 'SPRING' })),
    ...payoutFields(),
    projects.length ? field('Projects', h('select', { name: 'projects', multiple: true }, projects.map((p) => h('option', { value: p.id }, p.name)))) : null,
  ], 'Create offer');
  if (!details) return;
  const input = { name: details.get('name'), type: type.get('type'), payout: payoutFrom(details), projectIds: details.getAll('projects') };
  if (isLink) input.destinationUrl = details.get('destination'); else input.codePrefix = details.get('prefix');
  const created = await act(target, () => gql('mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id name } } }', { i: input }),
    (data) => `Created ${data.createOffer.offer.name}.`);
  if (created) location.hash = `#/offers/${created.createOffer.offer.id}`;
}

async function offerPage(offerId) {
  const state = readState();
  if (!location.hash.includes('sort=')) state.sort = 'COMMISSIONS_EARNED';
  const go = (changes) => writeState(`/offers/${offerId}`, { ...state, ...changes });
  const range = dateRange(state);
  const messages = takeFlash();
  const data = await gql(`query($id: ID!, $r: DateRangeInput, $i: SeriesInterval!) {
    offer(id: $id) { id name type status payout { type percent flatAmount } kpis(dateRange: $r) { ${KPI_FIELDS} dateRange { start end } }
      kpiSeries(dateRange: $r, interval: $i) { start kpis { commissionsEarned totalSales conversions clicks } } } }`,
  { id: offerId, r: range, i: seriesInterval(range) });
  const offer = data.offer;
  if (!offer) return [errorBox('This offer does not exist.'), h('a', { href: '#/' }, 'Back to offers')];
  const filter = kpiRanges(state);
  const table = await kpiTable({
    table: 'MEMBERSHIPS', columns: MEMBERSHIP_COLUMNS, state, selectable: true,
    onSort: (sort, direction) => go({ sort, direction }),
    exportUrl: () => `/export/offers/${offerId}/memberships.csv?${exportQuery(state)}`,
    fetchPage: async (_columns, after) => (await gql(`query($id: ID!, $f: MembershipFilter, $r: DateRangeInput, $s: MembershipSort, $q: String, $a: String, $n: Int) {
      offer(id: $id) { memberships(first: $n, after: $a, search: $q, filter: $f, dateRange: $r, sort: $s) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id active promoCode trackingUrl joinedAt member { id name } kpis { ${KPI_FIELDS} } } } } }`,
    { id: offerId, f: filter, r: range, s: { field: state.sort, direction: state.direction }, q: state.search || null, a: after, n: PAGE_SIZE })).offer.memberships,
  });
  const chosen = () => {
    const ids = [...table.selected];
    if (!ids.length) messages.prepend(errorBox('Select members in the table first.'));
    return ids;
  };
  const rows = () => [...table.selected].map((id) => table.body.querySelector(`tr[data-id="${id}"] td[data-column="NAME"]`)?.textContent).filter(Boolean);
  const selectedMemberIds = async (ids) => {
    // One aliased field per selected membership, in one request.
    const fields = ids.map((_, n) => `m${n}: membership(id: $m${n}) { member { id } }`).join(' ');
    const params = ids.map((_, n) => `$m${n}: ID!`).join(', ');
    const result = await gql(`query(${params}) { ${fields} }`, Object.fromEntries(ids.map((id, n) => [`m${n}`, id])));
    return ids.map((_, n) => result[`m${n}`].member.id);
  };
  const after = () => { table.selected.clear(); table.reload(); };
  const confirmList = async (title, ids, text) => (await ask(title, [h('p', {}, `${text} ${rows().join(', ') || `${ids.length} members`}?`)]));
  const actions = {
    'Add members': async () => {
      const members = (await gql('{ members(first: 100) { nodes { id name email } } }')).members.nodes;
      const answer = await ask('Add members', [h('div', { class: 'list' }, members.map((m) => h('label', {},
        h('input', { type: 'checkbox', name: 'member', value: m.id }), ` ${m.name} (${m.email})`)))], 'Add');
      if (!answer) return;
      const picked = answer.getAll('member');
      if (await act(messages, () => gql('mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }', { o: offerId, m: picked }),
        (r) => `Added ${r.addMembers.memberships.length} members.`)) after();
    },
    Remove: async () => {
      const ids = chosen(); if (!ids.length || !(await confirmList('Remove members', ids, 'Remove'))) return;
      const memberIds = await selectedMemberIds(ids);
      if (await act(messages, () => gql('mutation($o: ID!, $m: [ID!]!) { removeMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }', { o: offerId, m: memberIds }),
        () => 'Removed; their history stays.')) after();
    },
    Activate: async () => setActive(true),
    Deactivate: async () => setActive(false),
    'Refresh promo codes': async () => {
      const ids = chosen(); if (!ids.length || !(await confirmList('Refresh promo codes', ids, 'Issue new codes for'))) return;
      if (await act(messages, () => gql('mutation($ids: [ID!]!) { refreshPromoCodes(input: { membershipIds: $ids }) { memberships { promoCode } } }', { ids }),
        (r) => `New codes: ${r.refreshPromoCodes.memberships.map((m) => m.promoCode).join(', ')}.`)) after();
    },
    'Edit payout': async () => {
      const ids = [...table.selected];
      const answer = await ask(ids.length ? `Payout for ${ids.length} selected members` : "The offer's default payout", payoutFields(), 'Save payout');
      if (!answer) return;
      const payout = payoutFrom(answer);
      const work = ids.length
        ? () => gql('mutation($ids: [ID!]!, $p: PayoutRuleInput!) { setPayoutOverride(input: { membershipIds: $ids, payout: $p }) { memberships { id } } }', { ids, p: payout })
        : () => gql('mutation($o: ID!, $p: PayoutRuleInput!) { editPayout(input: { id: $o, payout: $p }) { offer { id } } }', { o: offerId, p: payout });
      if (await act(messages, work, () => 'Payout saved; it applies to new conversions.')) after();
    },
    'Email members': async () => {
      const ids = chosen(); if (!ids.length) return;
      const placeholder = offer.type === 'SALES_LINK' ? '{{link}}' : '{{promoCode}}';
      const answer = await ask('Email members', [
        field('Subject', h('input', { name: 'subject', required: true, value: `Your ${offer.name} ${offer.type === 'SALES_LINK' ? 'link' : 'code'}` })),
        field('Message ({{memberName}}, {{offerName}}, {{brandName}}, {{link}}, {{promoCode}})',
          h('textarea', { name: 'body', rows: 6, required: true }, `Hi {{memberName}},\n\nhere is your ${offer.type === 'SALES_LINK' ? 'link' : 'code'} for {{offerName}}: ${placeholder}\n\n{{brandName}}`)),
      ], 'Queue emails');
      if (!answer) return;
      await act(messages, () => gql('mutation($ids: [ID!]!, $t: EmailTemplateInput!) { emailMembers(input: { membershipIds: $ids, template: $t }) { emails { id } } }',
        { ids, t: { subject: answer.get('subject'), body: answer.get('body') } }), (r) => `${r.emailMembers.emails.length} emails queued.`);
    },
    'Grant reward': async () => {
      const ids = chosen(); if (!ids.length) return;
      const answer = await ask(`Grant a reward to ${ids.length} members`, [
        field('Reward', h('select', { name: 'kind' }, [['CASH_BONUS', 'Cash bonus'], ['FREE_PRODUCT', 'Free product'], ['DISCOUNT_CODE', 'Discount code']].map(([v, t]) => h('option', { value: v }, t)))),
        field('Cash amount (USD)', h('input', { name: 'cash', inputmode: 'decimal' })),
        field('Description', h('input', { name: 'description' })),
        field('Discount code', h('input', { name: 'code' })),
      ], 'Grant');
      if (!answer) return;
      const reward = { kind: answer.get('kind'), description: answer.get('description') };
      if (answer.get('cash')) reward.cashAmount = answer.get('cash');
      if (answer.get('code')) reward.discountCode = answer.get('code');
      for (const id of ids) {
        await act(messages, () => gql('mutation($m: ID!, $r: RewardInput!, $k: String!) { grantReward(input: { membershipId: $m, reward: $r, idempotencyKey: $k }) { reward { id } } }',
          { m: id, r: reward, k: crypto.randomUUID() }), () => 'Reward granted.');
      }
      after();
    },
  };
  async function setActive(active) {
    const ids = chosen(); if (!ids.length || !(await confirmList(active ? 'Activate' : 'Deactivate', ids, active ? 'Activate' : 'Deactivate'))) return;
    if (await act(messages, () => gql('mutation($ids: [ID!]!, $a: Boolean!) { setMembershipActive(input: { membershipIds: $ids, active: $a }) { memberships { id } } }', { ids, a: active }),
      () => (active ? 'Activated.' : 'Deactivated.'))) after();
  }
  return [
    h('p', {}, h('a', { href: '#/' }, '← All offers')),
    h('div', { class: 'page-head' },
      h('h1', { class: 'grow', id: 'offer-name' }, offer.name, ' ', h('span', { class: 'badge' }, label(offer.type)), ' ', h('span', { class: 'badge' }, label(offer.status))),
      dateControl(state, go),
      h('button', { type: 'button', class: 'primary', id: 'send-payment', onclick: () => sendPayment(messages, { scope: 'OFFER', offerId }, route) }, 'Send Payment')),
    h('p', { class: 'empty' }, `${offer.kpis.dateRange.start} – ${offer.kpis.dateRange.end} · payout ${label(offer.payout.type).toLowerCase()} ${offer.payout.percent ? `${offer.payout.percent}%` : ''} ${offer.payout.flatAmount ? format(offer.payout.flatAmount, 'money') : ''}`),
    messages,
    kpiWidgets(offer.kpis),
    chart(offer.kpiSeries),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Members'),
        searchBox(state, 'Search by name or promo code', (search) => go({ search })),
        table.columnsButton, table.download),
      h('div', { class: 'controls', 'aria-label': 'Member actions' },
        Object.entries(actions).map(([text, run]) => h('button', { type: 'button', onclick: run }, text))),
      table.picker, table.body, table.pager)];
}

// ---------- routing ----------

async function route() {
  const signOut = document.getElementById('sign-out');
  if (!apiKey()) { signOut.hidden = true; keyPage(); return; }
  signOut.hidden = false;
  const mine = ++generation;
  const hash = location.hash;
  delete app.dataset.ready;
  const [path] = hash.replace(/^#/, '').split('?');
  const offer = path.match(/^\/offers\/([^/]+)$/);
  let nodes;
  try {
    nodes = offer ? await offerPage(decodeURIComponent(offer[1])) : await homePage();
  } catch (error) {
    nodes = [errorBox(error)];
  }
  if (mine !== generation) return;
  app.replaceChildren(...nodes);
  // Tests (and anyone) can wait for this: the page of `hash` is shown, data loaded.
  app.dataset.ready = hash;
}

document.getElementById('sign-out').addEventListener('click', () => {
  localStorage.removeItem(KEY_STORAGE);
  route();
});
window.addEventListener('hashchange', route);
route();

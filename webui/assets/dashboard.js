// Dashboard: live pool counts, series from the hourly rollups, top lists.
'use strict';

let range = '24h';
let last = null;

// drawCharts sizes each chart to its card, so labels keep their size.
function drawCharts(d) {
  const hourly = d.range === '24h';
  const tick = p => {
    const s = new Date(p.start);
    return hourly ? s.toLocaleTimeString(undefined, { hour: 'numeric' })
      : s.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  };
  const label = p => hourly ? fmt.date(p.start) : new Date(p.start).toLocaleDateString();
  const o = { tick, label };
  const specs = [
    ['Requests', [
      { label: 'ok', cls: 's2', value: p => p.requests - p.errors - p.refusals },
      { label: 'errors', cls: 's5', value: p => p.errors },
      { label: 'refused', cls: 's6', value: p => p.refusals }], o],
    ['Tokens', [
      { label: 'input', cls: 's1', value: p => p.input_tokens },
      { label: 'output', cls: 's2', value: p => p.output_tokens },
      { label: 'cache write', cls: 's3', value: p => p.cache_creation_tokens },
      { label: 'cache read', cls: 's4', value: p => p.cache_read_tokens }], o],
    ['Cost', [{ label: 'cost', cls: 's1', value: p => p.cost_usd }], { ...o, fmt: fmt.usd }],
    ['Error rate', [{ label: 'error rate', cls: 's5',
      value: p => (p.requests - p.refusals) > 0 ? p.errors / (p.requests - p.refusals) : 0 }],
      { ...o, fmt: fmt.pct, min: 0.05 }],
  ];
  const cards = specs.map(([title]) => h('div', { class: 'card' }, h('h2', null, title)));
  $('#charts').replaceChildren(...cards);
  cards.forEach((card, i) => card.append(chart(d.series, specs[i][1], { ...specs[i][2], width: card.clientWidth - 34 })));
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (last) drawCharts(last); }, 150);
});

function stat(label, value, sub, id) {
  return h('div', { class: 'card stat', id }, h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

function tokens(c) { return c.input_tokens + c.output_tokens + c.cache_creation_tokens + c.cache_read_tokens; }

function topTable(title, rows, money, none) {
  return h('div', null, h('h2', null, title), table([
    { label: 'Name', cell: r => r.name || h('span', { class: 'muted' }, none) },
    { label: 'Requests', num: true, cell: r => fmt.num(r.requests) },
    { label: 'Tokens', num: true, cell: r => fmt.num(tokens(r)) },
    { label: money === 'list_usd' ? 'List cost' : 'Cost', num: true, cell: r => fmt.usd(r[money]) },
  ], rows, 'No traffic in this range.'));
}

async function load() {
  let d;
  try { d = await api('GET', 'dashboard?range=' + range); } catch (e) { toast(e.message, true); return; }
  const t = d.totals;
  const acc = d.accounts || {};
  const total = Object.values(acc).reduce((a, b) => a + b, 0);
  const attempted = t.requests - t.refusals;
  $('#cards').replaceChildren(
    stat('In flight', fmt.num(d.live.in_flight), 'requests upstream now', 'live-inflight'),
    stat('Queued', fmt.num(d.live.queued), 'waiting for a slot', 'live-queued'),
    stat('Requests', fmt.num(t.requests), (range === '24h' ? 'last 24 hours' : 'last 30 days') +
      (t.refusals ? ', ' + fmt.num(t.refusals) + ' refused' : '')),
    stat('Tokens', fmt.num(tokens(t)), fmt.num(t.input_tokens) + ' in · ' + fmt.num(t.output_tokens) + ' out'),
    stat('Cost', fmt.usd(t.cost_usd), 'list price ' + fmt.usd(t.list_usd)),
    stat('Error rate', attempted > 0 ? fmt.pct(t.errors / attempted) : '—', fmt.num(t.errors) + ' errors'),
    stat('Accounts', (acc.ok || 0) + ' / ' + total, 'healthy'),
  );
  last = d;
  drawCharts(d);
  $('#tops').replaceChildren(
    topTable('Top keys', d.top.keys, 'cost_usd', '(no key)'),
    topTable('Top accounts', d.top.accounts, 'list_usd', '(refused)'),
    topTable('Top models', d.top.models, 'cost_usd', '(none)'));
}

$$('#range button').forEach(b => b.addEventListener('click', () => {
  range = b.dataset.range;
  $$('#range button').forEach(x => x.classList.toggle('on', x === b));
  load();
}));
load();
setInterval(() => { if (!document.hidden) load(); }, 15000);

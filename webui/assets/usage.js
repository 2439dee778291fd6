// Usage: the ledger, newest first, filtered and paged; CSV/JSONL export.
'use strict';

const filters = $('#filters');
const pageSize = 50;
let cursor = '';
let next = null;

function query() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(formData(filters))) if (v) p.set(k, v);
  return p;
}

function statusCell(r) {
  if (r.refused) return pill('refused ' + r.status, 'warn');
  if (r.status >= 400 || r.error) return h('span', { title: r.error || '' }, pill(String(r.status || 'error'), 'bad'));
  return pill(String(r.status), 'ok');
}

async function load() {
  const p = query();
  for (const f of ['csv', 'jsonl']) {
    const e = new URLSearchParams(p);
    e.set('format', f);
    $('#export-' + f).href = '/admin/api/usage/export?' + e;
  }
  p.set('limit', pageSize);
  if (cursor) p.set('before', cursor);
  let d;
  try { d = await api('GET', 'usage?' + p); } catch (e) { showError(filters, e); return; }
  next = d.next_before;
  $('#older').disabled = !next;
  $('#newest').disabled = !cursor;
  $('#records').replaceChildren(table([
    { label: 'Time', cell: r => h('span', { title: r.time }, fmt.date(r.time)) },
    { label: 'Key', cell: r => r.key || '—' },
    { label: 'Account', cell: r => r.account || '—' },
    { label: 'Model', cell: r => h('span', { title: r.upstream_model && r.upstream_model !== r.model ? '→ ' + r.upstream_model : '' }, r.model) },
    { label: 'Status', cell: statusCell },
    { label: 'In', num: true, cell: r => fmt.num(r.input_tokens) },
    { label: 'Out', num: true, cell: r => fmt.num(r.output_tokens) },
    { label: 'Cache r/w', num: true, cell: r => fmt.num(r.cache_read_tokens) + ' / ' + fmt.num(r.cache_creation_tokens) },
    { label: 'Cost', num: true, cell: r => fmt.usd(r.cost_usd) },
    { label: 'Time taken', num: true, cell: r => fmt.ms(r.duration_ms) + (r.stream ? ' · stream' : '') },
  ], d.records, 'No records match.'));
}

filters.addEventListener('submit', e => { e.preventDefault(); cursor = ''; load(); });
filters.addEventListener('reset', () => setTimeout(() => { cursor = ''; load(); }));
$('#older').addEventListener('click', () => { cursor = next; load(); });
$('#newest').addEventListener('click', () => { cursor = ''; load(); });
load();

// Accounts: live state of every upstream account, with its actions.
'use strict';

const windowLabels = { '5h': '5h', '7d': '7d', primary: 'Codex 1', secondary: 'Codex 2' };

const stateKind = s => ({ ok: 'ok', rate_limited: 'warn', overloaded: 'warn', cooldown: 'warn' }[s] || 'bad');

// familyRows lists the model families with a state of their own (a weekly
// Opus limit benches Opus only), one line each under the account's state.
function familyRows(a) {
  const fams = (a.families || []).filter(f => f.state !== 'ok');
  if (!fams.length) return null;
  return h('div', { class: 'families' }, fams.map(f =>
    h('div', { class: 'small', 'data-family': f.family }, h('strong', null, f.family), ' ',
      pill(f.state.replace('_', ' '), stateKind(f.state)),
      f.until ? h('span', { class: 'muted' }, ' back ' + fmt.until(f.until)) : null,
      f.reason ? h('div', { class: 'muted' }, f.reason) : null)));
}

function stateCell(a) {
  return h('div', null, pill(a.state.replace('_', ' '), stateKind(a.state)),
    a.reason ? h('div', { class: 'small muted' }, a.reason) : null,
    a.until ? h('div', { class: 'small muted' }, 'back ' + fmt.until(a.until)) : null,
    familyRows(a));
}

function windowsCell(a) {
  const ws = a.windows.map(w => [windowLabels[w.name] || w.name, w]);
  for (const f of a.families || []) for (const w of f.windows) ws.push([f.family + ' ' + (windowLabels[w.name] || w.name), w]);
  if (!ws.length) return h('span', { class: 'muted small' }, a.type === 'api_key' ? '—' : 'no data yet');
  return h('div', { class: 'bars' }, ws.map(([label, w]) =>
    bar(label, w.utilization, fmt.pct(w.utilization) + (w.reset_at ? ' · resets ' + fmt.until(w.reset_at) : ''))));
}

function tokenCell(a) {
  if (!a.token_prefix && !a.expires_at) return h('span', { class: 'muted' }, '—');
  const left = a.expires_at ? (new Date(a.expires_at) - Date.now()) / 1000 : null;
  return h('div', null, a.token_prefix ? h('code', null, a.token_prefix) : null,
    left === null ? null : h('div', { class: 'small ' + (left <= 0 ? 'error' : 'muted') },
      left <= 0 ? 'expired' : 'expires in ' + fmt.dur(left)));
}

function action(label, fn, cls) {
  return h('button', { class: 'small ' + (cls || ''), onclick: e => act(e.target, fn) }, label);
}

function actions(a) {
  const path = 'accounts/' + encodeURIComponent(a.name);
  const post = (what, msg) => async () => { await api('POST', path + '/' + what); toast(msg); load(); };
  const out = [];
  if (a.state === 'disabled') out.push(action('Enable', post('enable', a.name + ' enabled')));
  else out.push(action('Disable', post('disable', a.name + ' disabled')));
  const benched = (a.families || []).some(f => f.state !== 'ok');
  if ((a.state !== 'ok' || benched) && a.state !== 'disabled' && a.state !== 'inactive') out.push(action('Clear', post('clear', a.name + ' cleared')));
  if (a.type !== 'api_key') out.push(action('Refresh', post('refresh', 'token of ' + a.name + ' refreshed')));
  out.push(action('Test', async () => {
    toast('Testing ' + a.name + '…');
    const r = await api('POST', path + '/test');
    const msg = (r.ok ? 'OK' : 'Failed') + (r.status ? ' · HTTP ' + r.status : '') + ' · ' + fmt.ms(r.latency_ms) +
      (r.model ? ' · ' + r.model : '') + (r.message ? ' · ' + r.message : '');
    toast(a.name + ': ' + msg, !r.ok);
    load();
  }));
  if (a.source === 'ui') {
    out.push(h('a', { class: 'button small', href: '/admin/accounts/new?edit=' + encodeURIComponent(a.name) }, 'Edit'));
    out.push(action('Delete', async () => {
      if (!confirm('Delete account ' + a.name + '? Its stored credentials are removed.')) return;
      await api('DELETE', path);
      toast(a.name + ' deleted');
      load();
    }, 'danger'));
  }
  return h('div', { class: 'actions' }, out);
}

async function load() {
  let d;
  try { d = await api('GET', 'accounts'); } catch (e) { toast(e.message, true); return; }
  $('#accounts').replaceChildren(table([
    { label: 'Account', cell: a => h('div', { 'data-account': a.name }, h('strong', null, a.name),
      a.email ? h('div', { class: 'small muted' }, a.email) : null,
      h('div', { class: 'small muted' }, a.platform + ' · ' + a.type.replace('_', ' ') + (a.group ? ' · ' + a.group : ''))) },
    { label: 'Source', cell: a => pill(a.source || '—') },
    { label: 'State', cell: stateCell },
    { label: 'Load', cell: a => h('div', null, a.in_flight + ' / ' + a.concurrency,
      a.queued ? h('div', { class: 'small muted' }, a.queued + ' queued') : null) },
    { label: 'Windows', cell: windowsCell },
    { label: 'Last used', cell: a => h('span', { class: 'muted' }, fmt.ago(a.last_used)) },
    { label: 'Token', cell: tokenCell },
    { label: '', cell: actions },
  ], d.accounts, 'No accounts yet. Add one to start serving requests.', true));
}

load();
setInterval(() => { if (!document.hidden && !document.querySelector('button:disabled')) load(); }, 10000);

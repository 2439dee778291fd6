// Sessions: live sticky bindings; unbind.
'use strict';

async function load() {
  let d;
  try { d = await api('GET', 'sessions'); } catch (e) { toast(e.message, true); return; }
  $('#sessions').replaceChildren(table([
    { label: 'Session', cell: s => h('code', { title: s.session }, s.session.slice(0, 12) + '…') },
    { label: 'Group', cell: s => s.group || 'default' },
    { label: 'Key', cell: s => s.key || h('span', { class: 'muted' }, '—') },
    { label: 'Account', cell: s => h('strong', null, s.account) },
    { label: 'Age', cell: s => fmt.dur(s.age_s) },
    { label: 'Expires', cell: s => h('span', { class: 'muted' }, fmt.until(s.expires)) },
    { label: '', cell: s => h('button', { class: 'small', onclick: e => act(e.target, async () => {
      await api('DELETE', 'sessions/' + encodeURIComponent(s.session));
      toast('Session unbound');
      load();
    }) }, 'Unbind') },
  ], d.sessions, 'No sticky sessions right now.', true));
}

load();
setInterval(() => { if (!document.hidden) load(); }, 15000);

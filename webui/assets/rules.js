// Error rules: the config's (read-only), then the UI's (add, edit, delete).
'use strict';

const form = $('#rule-form');
const textFields = ['name', 'platform', 'account_type', 'contains', 'regex', 'action', 'cooldown', 'message'];
let editing = null;

function openForm(r) {
  editing = r;
  form.reset();
  form.hidden = false;
  $('#form-title').textContent = r ? 'Edit ' + r.name : 'New rule';
  $('#rule-submit').textContent = r ? 'Save' : 'Add rule';
  if (r) {
    for (const f of textFields) form.elements[f].value = r[f] || '';
    form.elements.status.value = (r.status || []).join(' ');
    form.elements.rewrite_status.value = r.rewrite_status || '';
  }
  form.elements.name.focus();
}

function body() {
  const f = formData(form);
  const out = {};
  for (const n of textFields) out[n] = f[n];
  out.status = list(f.status).map(s => parseInt(s, 10));
  out.rewrite_status = f.rewrite_status === '' ? 0 : parseInt(f.rewrite_status, 10);
  return out;
}

form.addEventListener('submit', async e => {
  e.preventDefault();
  const btn = $('#rule-submit');
  btn.disabled = true;
  try {
    if (editing) {
      await api('PATCH', 'error-rules/' + encodeURIComponent(editing.id), body());
      toast('Rule ' + editing.name + ' saved');
    } else {
      const r = await api('POST', 'error-rules', body());
      toast('Rule ' + r.rule.name + ' added');
    }
    form.hidden = true;
    load();
  } catch (err) {
    showError(form, err);
  } finally {
    btn.disabled = false;
  }
});
$('#new-rule').addEventListener('click', () => openForm(null));
$('#rule-cancel').addEventListener('click', () => { form.hidden = true; });

function matches(r) {
  const parts = [];
  if (r.platform) parts.push(r.platform);
  if (r.account_type) parts.push(r.account_type);
  if (r.status && r.status.length) parts.push('status ' + r.status.join(', '));
  if (r.contains) parts.push('contains "' + r.contains + '"');
  if (r.regex) parts.push('regexp ' + r.regex);
  return h('div', { class: 'small' }, parts.join(' · '));
}

function decision(r) {
  let what = r.action;
  if (r.action === 'bench') what += ' (' + (r.cooldown || 'reset') + ')';
  if (r.action === 'rewrite') what += ' → ' + (r.rewrite_status || 'same status') + (r.message ? ' "' + r.message + '"' : '');
  return h('code', null, what);
}

function actions(r) {
  if (r.source === 'config') return h('span', { class: 'muted small' }, 'config file');
  return h('div', { class: 'actions' },
    h('button', { class: 'small', onclick: () => openForm(r) }, 'Edit'),
    h('button', { class: 'small danger', onclick: e => act(e.target, async () => {
      if (!confirm('Delete rule ' + r.name + '?')) return;
      await api('DELETE', 'error-rules/' + encodeURIComponent(r.id));
      toast('Rule ' + r.name + ' deleted');
      load();
    }) }, 'Delete'));
}

async function load() {
  let d;
  try { d = await api('GET', 'error-rules'); } catch (e) { toast(e.message, true); return; }
  $('#rules').replaceChildren(table([
    { label: '#', cell: r => String(d.rules.indexOf(r) + 1) },
    { label: 'Rule', cell: r => h('strong', { 'data-rule': r.name || '' }, r.name || '(unnamed)') },
    { label: 'Matches', cell: matches },
    { label: 'Decision', cell: decision },
    { label: 'Source', cell: r => pill(r.source) },
    { label: '', cell: actions },
  ], d.rules, 'No rules: the built-in defaults decide.', true));
}

load();

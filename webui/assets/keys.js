// Keys: create (secret shown once, with client snippets), edit limits,
// disable, delete; spend against each window.
'use strict';

const form = $('#key-form');
const numFields = ['concurrency', 'rpm'];
const usdFields = ['limit_5h_usd', 'limit_day_usd', 'limit_week_usd', 'limit_month_usd', 'quota_usd', 'rate_multiplier'];
const windowNames = { '5h': '5h', day: 'day', week: 'week', month: 'month', total: 'total' };
let editing = null;

function snippets(secret) {
  const base = location.origin;
  return {
    'Claude Code': `export ANTHROPIC_BASE_URL=${base}\nexport ANTHROPIC_API_KEY=${secret}\nclaude`,
    'Codex CLI': `# ~/.codex/config.toml\nmodel_provider = "subgate"\n\n[model_providers.subgate]\n` +
      `name = "subgate"\nbase_url = "${base}/v1"\nwire_api = "responses"\nenv_key = "SUBGATE_API_KEY"\n\n` +
      `# then, in your shell:\nexport SUBGATE_API_KEY=${secret}\ncodex`,
    'Gemini CLI': `export GOOGLE_GEMINI_BASE_URL=${base}\nexport GEMINI_API_KEY=${secret}\ngemini`,
  };
}

async function copy(text, what) {
  try { await navigator.clipboard.writeText(text); toast(what + ' copied'); } catch (e) { toast('Select the text and copy it by hand.', true); }
}

function showSecret(name, secret) {
  const all = snippets(secret);
  const pick = label => {
    $('#snippet').textContent = all[label];
    $$('#snippet-tabs button').forEach(b => b.classList.toggle('on', b.textContent === label));
  };
  $('#secret-name').textContent = name;
  $('#secret-value').textContent = secret;
  $('#snippet-tabs').replaceChildren(...Object.keys(all).map(l => h('button', { type: 'button', class: 'small', onclick: () => pick(l) }, l)));
  pick('Claude Code');
  $('#secret').hidden = false;
  $('#secret').scrollIntoView({ block: 'start' });
}

$('#copy').addEventListener('click', () => copy($('#secret-value').textContent, 'Key'));
$('#copy-snippet').addEventListener('click', () => copy($('#snippet').textContent, 'Snippet'));
$('#secret-done').addEventListener('click', () => { $('#secret').hidden = true; $('#secret-value').textContent = ''; });

function openForm(k) {
  editing = k;
  form.reset();
  form.hidden = false;
  $('#form-title').textContent = k ? 'Edit ' + k.name : 'New key';
  $('#key-submit').textContent = k ? 'Save' : 'Create key';
  form.elements.name.readOnly = !!k;
  if (k) {
    form.elements.name.value = k.name;
    form.elements.group.value = k.group;
    for (const f of [...numFields, ...usdFields]) form.elements[f].value = k[f] || '';
    if (k.expires_at) {
      const d = new Date(k.expires_at);
      form.elements.expires_at.value = new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    }
    form.elements.models.value = k.models.join(' ');
    form.elements.allow_ips.value = k.allow_ips.join(' ');
    form.elements.enabled.checked = k.enabled;
    form.elements.intercept_warmup.checked = k.intercept_warmup;
    form.elements.translate.checked = k.translate;
  }
  form.elements[k ? 'concurrency' : 'name'].focus();
}

function body() {
  const f = formData(form);
  const out = { name: f.name, group: f.group, models: list(f.models), allow_ips: list(f.allow_ips),
    enabled: f.enabled, intercept_warmup: f.intercept_warmup, translate: f.translate,
    expires_at: f.expires_at ? new Date(f.expires_at).toISOString() : null };
  for (const n of numFields) out[n] = f[n] === '' ? 0 : parseInt(f[n], 10);
  for (const n of usdFields) out[n] = f[n] === '' ? (n === 'rate_multiplier' ? 1 : 0) : parseFloat(f[n]);
  return out;
}

form.addEventListener('submit', async e => {
  e.preventDefault();
  const btn = $('#key-submit');
  btn.disabled = true;
  try {
    if (editing) {
      await api('PATCH', 'keys/' + encodeURIComponent(editing.name), body());
      toast('Key ' + editing.name + ' saved');
    } else {
      const r = await api('POST', 'keys', body());
      showSecret(r.key.name, r.secret);
    }
    form.hidden = true;
    load();
  } catch (err) {
    showError(form, err);
  } finally {
    btn.disabled = false;
  }
});
$('#new-key').addEventListener('click', () => openForm(null));
$('#key-cancel').addEventListener('click', () => { form.hidden = true; });

function statusCell(k) {
  if (!k.enabled) return pill('disabled', 'bad');
  if (k.expires_at && new Date(k.expires_at) <= Date.now()) return pill('expired', 'bad');
  return h('div', null, pill('active', 'ok'),
    k.expires_at ? h('div', { class: 'small muted' }, 'expires ' + fmt.until(k.expires_at)) : null);
}

function spendCell(k) {
  const ws = k.windows.filter(w => w.limit_usd > 0);
  const spent = k.windows.find(w => w.window === 'total');
  if (!ws.length) return h('span', { class: 'muted small' }, 'no limits' + (spent ? ' · ' + fmt.usd(spent.used_usd) + ' spent' : ''));
  return h('div', { class: 'bars' }, ws.map(w => bar(windowNames[w.window] || w.window, w.used_usd / w.limit_usd,
    fmt.usd(w.used_usd) + ' of ' + fmt.usd(w.limit_usd) + (w.reset_at && w.window !== 'total' ? ' · resets ' + fmt.until(w.reset_at) : ''))));
}

function actions(k) {
  if (k.source === 'config') return h('span', { class: 'muted small' }, 'config file');
  const path = 'keys/' + encodeURIComponent(k.name);
  return h('div', { class: 'actions' },
    h('button', { class: 'small', onclick: () => openForm(k) }, 'Edit'),
    h('button', { class: 'small', onclick: e => act(e.target, async () => {
      await api('PATCH', path, { enabled: !k.enabled });
      toast('Key ' + k.name + (k.enabled ? ' disabled' : ' enabled'));
      load();
    }) }, k.enabled ? 'Disable' : 'Enable'),
    h('button', { class: 'small danger', onclick: e => act(e.target, async () => {
      if (!confirm('Delete key ' + k.name + '? Clients using it stop working.')) return;
      await api('DELETE', path);
      toast('Key ' + k.name + ' deleted');
      load();
    }) }, 'Delete'));
}

async function load() {
  let d;
  try { d = await api('GET', 'keys'); } catch (e) { toast(e.message, true); return; }
  $('#keys').replaceChildren(table([
    { label: 'Key', cell: k => h('div', { 'data-key': k.name }, h('strong', null, k.name),
      h('div', { class: 'small muted' }, (k.group || 'default') + (k.created ? ' · created ' + fmt.ago(k.created) : ''))) },
    { label: 'Status', cell: statusCell },
    { label: 'Spend', cell: spendCell },
    { label: 'Limits', cell: k => h('div', { class: 'small' },
      (k.concurrency ? k.concurrency + ' parallel' : 'any parallel') + ' · ' + (k.rpm ? k.rpm + '/min' : 'any rate'),
      k.rate_multiplier && k.rate_multiplier !== 1 ? h('div', { class: 'muted' }, '×' + k.rate_multiplier + ' price') : null,
      k.models.length ? h('div', { class: 'muted' }, k.models.join(' ')) : null) },
    { label: 'Source', cell: k => pill(k.source || '—') },
    { label: '', cell: actions },
  ], d.keys, 'No keys yet. Create one to hand out.', true));
}

load();

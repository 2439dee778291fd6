// Add account: guided sign-in (Claude, Claude setup-token, Codex, Gemini)
// or an API key; ?edit=NAME edits a UI account instead.
'use strict';

const form = $('#form');
const kinds = {
  claude_oauth: { platform: 'anthropic', kind: 'oauth',
    hint: 'Sign in with your Claude account and approve. The page then shows a code like abc123…#def456…: copy all of it and paste it here.' },
  claude_setup: { platform: 'anthropic', kind: 'setup_token',
    hint: 'Sign in with your Claude account and approve. Paste the code#state it shows here; this makes a long-lived token for inference only.' },
  codex: { platform: 'openai', kind: 'oauth',
    hint: 'Sign in with your ChatGPT account. The browser then goes to a localhost address that fails to load: copy that whole URL from the address bar and paste it here.' },
  gemini: { platform: 'gemini', kind: 'oauth',
    hint: 'Sign in with your Google account and allow access. Paste the authorization code it shows here.' },
  api_key: null,
};
let state = '';
let editing = null;

function kind() { return formData(form).kind; }

function showKind() {
  const k = kind();
  $('#login-steps').hidden = !kinds[k];
  $('#key-fields').hidden = !!kinds[k];
  $('#setup-paste').hidden = k !== 'claude_setup';
  if (kinds[k]) $('#paste-hint').textContent = kinds[k].hint;
  state = '';
  $('#oauth-link').hidden = true;
}

function parseMap(text) {
  const out = {};
  for (const line of (text || '').split('\n')) {
    const m = line.split(/\s*(?:=|->|→)\s*/);
    if (m.length === 2 && m[0].trim() && m[1].trim()) out[m[0].trim()] = m[1].trim();
  }
  return out;
}

// settings reads the fields every kind shares.
function settings(f) {
  const profile = { ...((editing && editing.identity_profile) || {}), user_agent: f.identity_user_agent || undefined };
  const out = { name: f.name, group: f.group, proxy: f.proxy, models: list(f.models), model_map: parseMap(f.model_map),
    identity: f.identity, identity_profile: JSON.parse(JSON.stringify(profile)) };
  if (f.priority !== '') out.priority = parseInt(f.priority, 10);
  if (f.concurrency !== '') out.concurrency = parseInt(f.concurrency, 10);
  return out;
}

$('#oauth-start').addEventListener('click', e => act(e.target, async () => {
  const k = kinds[kind()];
  const r = await api('POST', 'oauth/start', { platform: k.platform, kind: k.kind });
  state = r.state;
  const link = $('#oauth-link');
  link.href = r.url;
  link.hidden = false;
  window.open(r.url, '_blank', 'noopener');
  $('#pasted').focus();
}));

async function submit() {
  const f = formData(form);
  const s = settings(f);
  if (editing) {
    const body = {};
    for (const [k, v] of Object.entries({ ...s, base_url: f.base_url })) {
      if (JSON.stringify(v) !== JSON.stringify(editing[k])) body[k] = v;
    }
    if (f.api_key) body.api_key = f.api_key;
    await api('PATCH', 'accounts/' + encodeURIComponent(editing.name), body);
    return editing.name;
  }
  const k = f.kind;
  if (k === 'api_key') {
    await api('POST', 'accounts', { ...s, type: 'api_key', platform: f.platform, api_key: f.api_key, base_url: f.base_url });
    return f.name;
  }
  if (k === 'claude_setup' && f.access_token) {
    await api('POST', 'accounts', { ...s, type: 'setup_token', platform: 'anthropic', access_token: f.access_token });
    return f.name;
  }
  if (!state) throw Object.assign(new Error('Open the sign-in page first (step 1).'), { field: 'pasted' });
  const r = await api('POST', 'oauth/finish', { ...s, state, pasted: f.pasted });
  return r.account;
}

form.addEventListener('submit', async e => {
  e.preventDefault();
  const btn = $('#submit');
  btn.disabled = true;
  try {
    const name = await submit();
    location.href = '/admin/accounts?saved=' + encodeURIComponent(name);
  } catch (err) {
    showError(form, err);
  } finally {
    btn.disabled = false;
  }
});
$$('input[name=kind]').forEach(r => r.addEventListener('change', showKind));

async function startEdit(name) {
  const d = await api('GET', 'accounts');
  const a = d.accounts.find(x => x.name === name);
  if (!a) { toast('No account named ' + name, true); return; }
  editing = { name: a.name, group: a.group, proxy: a.proxy || '', models: a.models, model_map: a.model_map || {},
    priority: a.priority, concurrency: a.concurrency, base_url: a.base_url || '',
    identity: a.identity || '', identity_profile: a.identity_profile || {} };
  $('#title').textContent = 'Edit ' + a.name;
  $('#kinds').hidden = true;
  $('#login-steps').hidden = true;
  $('#key-fields').hidden = a.type !== 'api_key';
  form.elements.platform.value = a.platform;
  form.elements.platform.disabled = true;
  form.elements.api_key.placeholder = 'leave empty to keep the current key';
  form.elements.name.value = a.name;
  form.elements.name.readOnly = true;
  form.elements.group.value = a.group;
  form.elements.priority.value = a.priority;
  form.elements.concurrency.value = a.concurrency;
  form.elements.proxy.value = a.proxy || '';
  form.elements.base_url.value = a.base_url || '';
  form.elements.models.value = (a.models || []).join(' ');
  form.elements.model_map.value = Object.entries(a.model_map || {}).map(([k, v]) => k + ' = ' + v).join('\n');
  form.elements.identity.value = a.identity || '';
  form.elements.identity_user_agent.value = (a.identity_profile || {}).user_agent || '';
  $('#submit').textContent = 'Save';
}

const editName = new URLSearchParams(location.search).get('edit');
if (editName) startEdit(editName).catch(e => toast(e.message, true));
else showKind();

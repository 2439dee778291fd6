// Shared helpers of the admin pages: the API client, a DOM builder that
// never parses HTML (so no name from the ledger can inject markup),
// number formatting for people, bars and SVG charts.
'use strict';

const CSRF = (document.querySelector('meta[name=csrf]') || {}).content || '';

// api calls the admin JSON API; it throws an Error carrying .field and
// .status on a non-2xx answer.
async function api(method, path, body) {
  const opt = { method, headers: { 'X-CSRF-Token': CSRF }, credentials: 'same-origin' };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const res = await fetch('/admin/api/' + path, opt);
  if (res.status === 401) {
    location.href = '/admin/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new Error('session expired');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new Error(e.message || res.statusText);
    err.field = e.field;
    err.status = res.status;
    throw err;
  }
  return data;
}

// h builds an element: h('td', {class: 'num'}, 'text', child, ...).
// Attributes starting with "on" become listeners; style takes an object.
function h(tag, attrs, ...kids) {
  const svg = ['svg', 'rect', 'line', 'text', 'g', 'title', 'path'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

const fmt = {
  // 1234 → "1.2k"
  num(n) {
    n = Number(n) || 0;
    const a = Math.abs(n);
    const s = (v, u) => (v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '')) + u;
    if (a < 1000) return String(Math.round(n));
    if (a < 1e6) return s(n / 1e3, 'k');
    if (a < 1e9) return s(n / 1e6, 'M');
    return s(n / 1e9, 'B');
  },
  usd(x) {
    x = Number(x) || 0;
    if (x === 0) return '$0';
    if (Math.abs(x) < 0.01) return '$' + x.toFixed(4); // small spend stays readable (chart axes too)
    if (Math.abs(x) >= 1000) return '$' + fmt.num(x);
    return '$' + x.toFixed(2);
  },
  pct(f) {
    f = Number(f) || 0;
    return (f * 100 >= 10 || f === 0 ? (f * 100).toFixed(0) : (f * 100).toFixed(1)) + '%';
  },
  // seconds → "2h 13m"
  dur(s) {
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + 'd' + (hh ? ' ' + hh + 'h' : '');
    if (hh) return hh + 'h' + (m ? ' ' + m + 'm' : '');
    if (m) return m + 'm';
    return s + 's';
  },
  ago(t) {
    if (!t) return 'never';
    const s = (Date.now() - new Date(t)) / 1000;
    return s < 5 ? 'just now' : fmt.dur(s) + ' ago';
  },
  until(t) {
    if (!t) return '';
    const s = (new Date(t) - Date.now()) / 1000;
    return s <= 0 ? 'now' : 'in ' + fmt.dur(s);
  },
  date(t) {
    if (!t) return '';
    const d = new Date(t);
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  },
  ms(n) { return n >= 1000 ? (n / 1000).toFixed(1) + 's' : Math.round(n) + 'ms'; },
};

let toastTimer;
function toast(msg, bad) {
  const t = $('#toast');
  t.textContent = msg;
  t.className = 'show' + (bad ? ' bad' : '');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = ''; }, bad ? 6000 : 3000);
}

// bar renders a utilization bar (frac 0..1) with a label and a note.
function bar(label, frac, note) {
  frac = Math.max(0, Math.min(1, Number(frac) || 0));
  const cls = 'bar' + (frac >= 0.9 ? ' bad' : frac >= 0.7 ? ' warn' : '');
  return h('div', { class: 'barrow', title: label + ' ' + fmt.pct(frac) + (note ? ', ' + note : '') },
    h('span', null, label),
    h('div', { class: cls }, h('span', { style: { width: (frac * 100).toFixed(1) + '%' } })),
    note ? h('span', { class: 'bartext' }, note) : null);
}

function pill(text, kind) { return h('span', { class: 'pill ' + (kind || '') }, text); }

// table renders rows with columns [{label, num, cell: row => node|text}].
// A stacked table shows each row as a card on a phone.
function table(cols, rows, empty, stack) {
  if (!rows.length) return h('div', { class: 'tablewrap' }, h('div', { class: 'empty' }, empty || 'Nothing yet.'));
  return h('div', { class: 'tablewrap' }, h('table', { class: stack ? 'stack' : null },
    h('thead', null, h('tr', null, cols.map(c => h('th', { class: c.num ? 'num' : c.cls }, c.label)))),
    h('tbody', null, rows.map(r => h('tr', null, cols.map((c, i) => h('td',
      { class: c.num ? 'num' : c.cls, 'data-label': i > 0 && c.label ? c.label : null }, c.cell(r))))))));
}

// chart draws stacked bars: series [{label, cls, value: point => n}].
// opts.width is the width to draw at, so text keeps its CSS size.
function chart(points, series, opts) {
  const W = Math.max((opts && opts.width) || 600, 240), H = 170, L = 46, B = 20, T = 8;
  const fmtv = (opts && opts.fmt) || fmt.num;
  const totals = points.map(p => series.reduce((s, x) => s + (x.value(p) || 0), 0));
  const max = Math.max(...totals, (opts && opts.min) || 0) || 1;
  const bw = (W - L) / Math.max(points.length, 1);
  const y = v => T + (H - B - T) * (1 - v / max);
  const svg = h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' },
    h('line', { x1: L, x2: W, y1: y(max), y2: y(max) }), h('line', { x1: L, x2: W, y1: y(max / 2), y2: y(max / 2) }),
    h('line', { x1: L, x2: W, y1: y(0), y2: y(0) }),
    h('text', { x: L - 6, y: y(max) + 4, 'text-anchor': 'end' }, fmtv(max)),
    h('text', { x: L - 6, y: y(max / 2) + 4, 'text-anchor': 'end' }, fmtv(max / 2)),
    h('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end' }, fmtv(0)));
  const label = (opts && opts.label) || (p => fmt.date(p.start));
  points.forEach((p, i) => {
    let base = 0;
    const g = h('g', null, h('title', null, label(p) + '\n' +
      series.map(s => s.label + ': ' + fmtv(s.value(p) || 0)).join('\n')));
    for (const s of series) {
      const v = s.value(p) || 0;
      if (v > 0) {
        g.append(h('rect', { class: s.cls, x: L + i * bw + bw * 0.12, width: Math.max(bw * 0.76, 1),
          y: y(base + v), height: Math.max(y(base) - y(base + v), 0.5) }));
      }
      base += v;
    }
    // An invisible full-height target so the tooltip works on empty bars.
    g.append(h('rect', { x: L + i * bw, width: bw, y: T, height: H - B - T, fill: 'transparent' }));
    svg.append(g);
    const every = Math.ceil(points.length / Math.max(2, Math.floor(W / 80)));
    if (i % every === 0) {
      svg.append(h('text', { x: L + i * bw + bw / 2, y: H - 5, 'text-anchor': 'middle' }, (opts && opts.tick || label)(p)));
    }
  });
  const legend = series.length > 1 ? h('div', { class: 'legend' },
    series.map(s => h('span', null, h('i', { class: s.cls }), s.label))) : null;
  return h('div', null, svg, legend);
}

// formData reads named inputs of a form into an object.
function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value.trim();
  }
  return out;
}

// showError marks the named field of an API error and toasts it.
function showError(form, err) {
  $$('.invalid', form).forEach(el => el.classList.remove('invalid'));
  const el = err.field && form && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
  if (el) { el.classList.add('invalid'); el.focus(); }
  toast(err.message, true);
}

const list = s => (s || '').split(/[\s,]+/).filter(Boolean);

// act runs an async action from a button, disabling it meanwhile.
async function act(btn, fn) {
  btn.disabled = true;
  try { await fn(); } catch (e) { toast(e.message, true); } finally { btn.disabled = false; }
}

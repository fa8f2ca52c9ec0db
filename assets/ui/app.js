// The Callback Manager: a small single-page app over /ui/api/... (vanilla JS, no build step).
// Everything is built with DOM calls and textContent, never innerHTML, so data cannot inject
// markup. Changes send the session's CSRF token in X-CSRF-Token.
'use strict';

const App = { session: null, zone: null, live: null, view: null, selected: new Set() };

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let fieldSeq = 0;
function field(labelText, control) {
  if (!control.id) control.id = 'f' + (++fieldSeq);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: labelText }), control);
}

function select(name, options, value) {
  const el = h('select', { name });
  for (const [v, label] of options) {
    const o = h('option', { value: v, text: label });
    if (v === value) o.selected = true;
    el.append(o);
  }
  return el;
}

function toast(message, isError) {
  const box = document.getElementById('toast');
  const item = h('div', { class: isError ? 'error-toast' : '' }, message);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message ? (e.field ? `${e.field}: ${e.message}` : e.message) : `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && App.session) headers['X-CSRF-Token'] = App.session.csrf_token;
  const resp = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (resp.status === 401 && path !== '/ui/api/session') {
    App.session = null;
    showSignIn('Your session has ended; please sign in again.');
    throw new ApiError(401, data);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Time zones: the viewer's zone for display, the contact's alongside
// ---------------------------------------------------------------------------------------------

const ZONES = (typeof Intl.supportedValuesOf === 'function')
  ? Intl.supportedValuesOf('timeZone') : ['UTC', 'Europe/London', 'America/New_York'];

function fmt(iso, zone) {
  if (!iso) return '';
  const d = new Date(iso);
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: zone, year: 'numeric', month: 'short', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(d);
}

function zoneOffsetMs(zone, utcMs) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
  return asUtc - utcMs;
}

// "2027-01-05T10:00" read in `zone` -> ISO instant.
function zonedToIso(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(local);
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0));
  let utc = guess - zoneOffsetMs(zone, guess);
  utc = guess - zoneOffsetMs(zone, utc);
  return new Date(utc).toISOString();
}

function todayIn(zone, plusDays) {
  const d = new Date(Date.now() + (plusDays || 0) * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

function localInputValue(iso, zone) {
  const d = new Date(iso);
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(d);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

function zoneSelect(name, value) {
  const el = select(name, ZONES.map((z) => [z, z]), value);
  if (!ZONES.includes(value)) el.prepend(h('option', { value, text: value, selected: true }));
  return el;
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

const ORIGINS = [['api', 'API'], ['ui', 'UI'], ['campaign', 'Campaign'], ['campaigns', 'Campaigns'],
  ['kore', 'Kore'], ['acefone', 'Acefone'], ['ai_calls', 'AI Calls'], ['talkdesk', 'Talkdesk']];
const ORIGIN_LABEL = Object.fromEntries(ORIGINS);
const STATUSES = ['scheduled', 'waiting', 'offered', 'dispatching', 'in_progress', 'completed', 'failed', 'canceled', 'expired'];
const OUTCOMES = ['answered', 'no_answer', 'busy', 'voicemail', 'failed'];
const EDITABLE = new Set(['scheduled', 'waiting', 'offered']);

function originBadge(origin) {
  return h('span', { class: `badge origin-${origin}`, 'data-origin': origin, text: ORIGIN_LABEL[origin] || origin });
}
function statusBadge(status) {
  return h('span', { class: `badge status-${status}`, text: status.replace('_', ' ') });
}
function assignmentText(a) {
  if (!a) return 'anyone';
  const names = a.ids.map((id) => (App.directory && App.directory.names[id]) || id);
  return `${a.type}: ${names.join(', ')}`;
}

// A disposition code with its label, when the account still has it.
function dispositionText(code) {
  if (!code) return '';
  const d = ((App.directory && App.directory.dispositions) || []).find((x) => x.code === code);
  return d ? `${d.label} (${code})` : code;
}

// The caller ID a callback asks for: one number, or a pool (each attempt shows the one used).
function callerIdText(cb) {
  if (cb.caller_id_pool) return `pool ${cb.caller_id_pool}`;
  return cb.caller_id || '';
}

// ---------------------------------------------------------------------------------------------
// Shell: sign-in, navigation, routing by hash
// ---------------------------------------------------------------------------------------------

// Required skills as shown ("spanish ≥ 3, billing ≥ 5") and as typed ("spanish:3, billing:5");
// a level that is not a number is sent as typed, for the server to name.
function skillsText(skills) {
  return Object.entries(skills || {}).map(([k, v]) => `${k} ≥ ${v}`).join(', ');
}
function parseSkills(text) {
  const out = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [name, level] = part.split(':').map((x) => x.trim());
    out[name] = level === undefined || level === '' || Number.isNaN(Number(level)) ? (level ?? null) : Number(level);
  }
  return out;
}

function main() { return document.getElementById('main'); }

function setPage(title, ...content) {
  const m = main();
  m.replaceChildren(h('h1', { text: title }), ...content);
  document.title = `${title} · Ringback`;
  m.focus();
}

function showSignIn(message) {
  stopLive();
  document.getElementById('top').hidden = true;
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'panel signin', 'aria-label': 'Sign in' },
    h('h1', { text: 'Sign in to Ringback' }),
    field('E-mail', email), field('Password', password), err,
    h('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      App.session = await api('POST', '/ui/api/session', { email: email.value, password: password.value });
      await start();
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong e-mail or password.' : e.message;
      password.value = '';
      password.focus();
    }
  });
  main().replaceChildren(form);
  document.title = 'Sign in · Ringback';
  email.focus();
}

function navItems() {
  const role = App.session.user.role;
  const items = [];
  if (role === 'supervisor') items.push(['#/callbacks', 'Callbacks'], ['#/campaigns', 'Campaigns'], ['#/reports', 'Reports']);
  if (App.session.user.agent_id) items.push(['#/agent', 'My work']);
  return items;
}

function renderNav() {
  const nav = document.getElementById('nav');
  const here = location.hash.split('/').slice(0, 2).join('/');
  nav.replaceChildren(...navItems().map(([href, label]) => h('li', {},
    h('a', { href, text: label, 'aria-current': href === here ? 'page' : null }))));
}

async function start() {
  document.getElementById('top').hidden = false;
  const zoneSel = document.getElementById('viewer-zone');
  zoneSel.replaceChildren(...zoneSelect('zone', App.zone).children);
  zoneSel.value = App.zone;
  document.getElementById('who').textContent = `${App.session.user.email} (${App.session.user.role})`;
  try {
    const dir = await api('GET', '/ui/api/directory');
    dir.names = {};
    for (const a of dir.agents) dir.names[a.id] = a.name;
    for (const q of dir.queues) dir.names[q.id] = q.name;
    dir.dispositions = dir.dispositions || [];
    App.directory = dir;
  } catch (e) {
    App.directory = { agents: [], queues: [], dispositions: [], names: {} };
  }
  if (!location.hash || location.hash === '#/' || location.hash === '#') {
    location.hash = navItems()[0][0];
  } else {
    route();
  }
}

function route() {
  if (!App.session) return;
  renderNav();
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  stopLive();
  App.selected = new Set();
  const role = App.session.user.role;
  if (parts[0] === 'callbacks' && parts[1]) return detailPage(decodeURIComponent(parts[1]));
  if (parts[0] === 'callbacks' && role === 'supervisor') return callbacksPage();
  if (parts[0] === 'reports' && role === 'supervisor') return reportsPage();
  if (parts[0] === 'campaigns' && role === 'supervisor') return campaignsPage();
  if (parts[0] === 'agent') return agentPage();
  location.hash = navItems()[0][0];
}

function stopLive() {
  if (App.live) { App.live.close(); App.live = null; }
}

function listen(url, onEvent, names) {
  stopLive();
  const es = new EventSource(url);
  for (const n of names) es.addEventListener(n, onEvent);
  App.live = es;
  return es;
}

// ---------------------------------------------------------------------------------------------
// Callbacks list
// ---------------------------------------------------------------------------------------------

function readFilters(form) {
  const f = new FormData(form);
  const q = new URLSearchParams();
  for (const k of ['status', 'origin', 'agent', 'queue', 'phone', 'sort']) {
    const v = (f.get(k) || '').trim();
    if (v) q.set(k, v);
  }
  const from = f.get('from');
  const to = f.get('to');
  if (from) q.set('from', zonedToIso(from, App.zone));
  if (to) {
    const end = new Date(zonedToIso(to, App.zone));
    q.set('to', new Date(end.getTime() + 86400000).toISOString());
  }
  return q;
}

function callbacksPage() {
  const agentOpts = [['', 'Any agent'], ...App.directory.agents.map((a) => [a.id, a.name])];
  const queueOpts = [['', 'Any queue'], ...App.directory.queues.map((q) => [q.id, q.name])];
  const filters = h('form', { class: 'panel row', 'aria-label': 'Filters', id: 'filters' },
    field('Status', select('status', [['', 'Any status'], ...STATUSES.map((x) => [x, x.replace('_', ' ')])], '')),
    field('Origin', select('origin', [['', 'Any origin'], ...ORIGINS], '')),
    field('Agent', select('agent', agentOpts, '')),
    field('Queue', select('queue', queueOpts, '')),
    field('Scheduled from', h('input', { type: 'date', name: 'from' })),
    field('Scheduled to', h('input', { type: 'date', name: 'to' })),
    field('Phone', h('input', { type: 'search', name: 'phone', placeholder: '+1415…', inputmode: 'tel' })),
    field('Sort by', select('sort', [['created_desc', 'Newest first'], ['created_asc', 'Oldest first'],
      ['scheduled_asc', 'Scheduled time, earliest'], ['scheduled_desc', 'Scheduled time, latest']], 'created_desc')),
    h('button', { type: 'submit', class: 'primary', text: 'Apply filters' }),
    h('a', { class: 'button', id: 'export', href: '/ui/api/callbacks/export', download: 'callbacks.csv', text: 'Export CSV' }));
  const tbody = h('tbody', { id: 'rows' });
  const more = h('button', { type: 'button', id: 'more', text: 'Load more', hidden: true });
  const count = h('p', { class: 'muted', id: 'count', 'aria-live': 'polite' });
  const liveNote = h('span', { class: 'live', id: 'live-state' }, '');
  const allBox = h('input', { type: 'checkbox', 'aria-label': 'Select all shown' });
  const bulkTime = h('input', { type: 'datetime-local', name: 'bulk_at' });
  const bulk = h('div', { class: 'panel row', role: 'group', 'aria-label': 'Bulk actions' },
    h('span', { id: 'selected-count', text: '0 selected' }),
    field('New time (my zone)', bulkTime),
    h('button', { type: 'button', id: 'bulk-reschedule', text: 'Reschedule selected', onclick: () => bulkAction('reschedule', bulkTime.value) }),
    h('button', { type: 'button', class: 'danger', id: 'bulk-cancel', text: 'Cancel selected', onclick: () => bulkAction('cancel') }));
  const table = h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'muted', text: `Times in ${App.zone}; the contact's local time below each.` }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, allBox), h('th', { scope: 'col', text: 'Scheduled' }), h('th', { scope: 'col', text: 'Phone' }),
      h('th', { scope: 'col', text: 'Contact' }), h('th', { scope: 'col', text: 'Status' }), h('th', { scope: 'col', text: 'Origin' }),
      h('th', { scope: 'col', class: 'hide-narrow', text: 'Assigned' }), h('th', { scope: 'col', class: 'hide-narrow', text: 'Priority' }),
      h('th', { scope: 'col', text: 'Actions' }))),
    tbody));
  const newButton = h('button', { type: 'button', class: 'primary', id: 'new-callback', text: 'New callback', onclick: () => showCreate(createBox) });
  const createBox = h('div', {});
  setPage('Callbacks', h('div', { class: 'row' }, newButton, liveNote), createBox, filters, bulk, count, table, more);

  let cursor = null;
  let query = new URLSearchParams();
  async function load(reset) {
    if (reset) { cursor = null; tbody.replaceChildren(); App.selected.clear(); updateSelected(); }
    const q = new URLSearchParams(query);
    if (cursor) q.set('cursor', cursor);
    try {
      const page = await api('GET', `/ui/api/callbacks?${q}`);
      for (const cb of page.data) tbody.append(row(cb));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      count.textContent = `${tbody.children.length} shown${cursor ? ', more available' : ''}`;
    } catch (e) { toast(e.message, true); }
  }
  App.reloadList = () => load(true);
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    try {
      query = readFilters(filters);
    } catch (e) { toast('Check the dates', true); return; }
    document.getElementById('export').href = `/ui/api/callbacks/export?${query}`;
    load(true);
  });
  more.addEventListener('click', () => load(false));
  allBox.addEventListener('change', () => {
    for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
      box.checked = allBox.checked;
      if (allBox.checked) App.selected.add(box.value); else App.selected.delete(box.value);
    }
    updateSelected();
  });
  load(true);
  let pending = null;
  listen('/ui/api/events', () => {
    liveNote.textContent = 'Live: updated ' + new Date().toLocaleTimeString();
    clearTimeout(pending);
    pending = setTimeout(() => load(true), 300);
  }, ['change']).onopen = () => { liveNote.textContent = 'Live'; };
}

function updateSelected() {
  const el = document.getElementById('selected-count');
  if (el) el.textContent = `${App.selected.size} selected`;
}

function row(cb) {
  const box = h('input', { type: 'checkbox', value: cb.id, 'aria-label': `Select callback to ${cb.phone}` });
  box.addEventListener('change', () => {
    if (box.checked) App.selected.add(cb.id); else App.selected.delete(cb.id);
    updateSelected();
  });
  return h('tr', { 'data-id': cb.id, 'data-status': cb.status, 'data-origin': cb.origin },
    h('td', {}, box),
    h('td', {}, fmt(cb.scheduled_at, App.zone), h('span', { class: 'sub', text: `${fmt(cb.scheduled_at, cb.timezone)} (${cb.timezone})` })),
    h('td', { text: cb.phone }),
    h('td', { text: cb.contact_name || '' }),
    h('td', {}, statusBadge(cb.status)),
    h('td', {}, originBadge(cb.origin)),
    h('td', { class: 'hide-narrow', text: assignmentText(cb.assignment) }),
    h('td', { class: 'hide-narrow', 'data-priority': cb.priority }, String(cb.priority ?? ''),
      h('span', { class: 'sub', text: skillsText(cb.skills) })),
    h('td', {}, h('a', { href: `#/callbacks/${encodeURIComponent(cb.id)}`, 'aria-label': `Open callback to ${cb.phone}`, text: 'Open' })));
}

async function bulkAction(action, localTime) {
  const ids = [...App.selected];
  if (!ids.length) { toast('Select callbacks first', true); return; }
  const body = { action, ids };
  if (action === 'reschedule') {
    if (!localTime) { toast('Choose the new time', true); return; }
    body.scheduled_at = zonedToIso(localTime, App.zone);
  }
  try {
    const r = await api('POST', '/ui/api/callbacks/bulk', body);
    toast(`${r.done} done, ${r.failed} failed`, r.failed > 0);
    if (App.reloadList) App.reloadList();
  } catch (e) { toast(e.message, true); }
}

function assignmentControls(current) {
  const kind = select('assign_type', [['', 'Anyone'], ['agent', 'An agent'], ['queue', 'A queue']], current ? current.type : '');
  const target = h('select', { name: 'assign_id' });
  function fill() {
    const list = kind.value === 'agent' ? App.directory.agents : kind.value === 'queue' ? App.directory.queues : [];
    target.replaceChildren(...list.map((x) => h('option', { value: x.id, text: x.name })));
    target.disabled = !list.length;
    if (current && current.ids[0]) target.value = current.ids[0];
  }
  kind.addEventListener('change', fill);
  fill();
  const value = () => (kind.value ? { type: kind.value, ids: [target.value] } : null);
  return { nodes: [field('Assign to', kind), field('Agent or queue', target)], value };
}

function showCreate(box) {
  const phone = h('input', { name: 'phone', required: true, inputmode: 'tel', placeholder: '+1 415 555 0199' });
  const name = h('input', { name: 'contact_name' });
  const when = h('input', { type: 'datetime-local', name: 'scheduled_at', required: true });
  const zone = zoneSelect('timezone', App.zone);
  const mode = select('dialing_mode', [['progressive', 'Progressive (dialler)'], ['preview', 'Preview (agent)'], ['ai', 'AI agent']], 'progressive');
  const notes = h('textarea', { name: 'notes', rows: 2 });
  const priority = h('input', { type: 'number', name: 'priority', min: 0, max: 100, value: 50 });
  const skills = h('input', { name: 'skills', placeholder: 'spanish:3, billing:5' });
  const assign = assignmentControls(null);
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'panel', 'aria-label': 'New callback' },
    h('h2', { text: 'New callback' }),
    h('div', { class: 'row' }, field('Phone', phone), field('Contact name', name),
      field("Time (contact's zone)", when), field("Contact's time zone", zone), field('Dialing mode', mode), ...assign.nodes,
      field('Priority (0–100)', priority), field('Required skills', skills)),
    field('Notes', notes), err,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', text: 'Schedule callback' }),
      h('button', { type: 'button', text: 'Close', onclick: () => box.replaceChildren() })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const body = { phone: phone.value, scheduled_at: when.value + ':00', timezone: zone.value, dialing_mode: mode.value };
    if (name.value) body.contact_name = name.value;
    if (notes.value) body.notes = notes.value;
    const a = assign.value();
    if (a) body.assignment = a;
    if (priority.value !== '') body.priority = Number(priority.value);
    if (skills.value.trim()) body.skills = parseSkills(skills.value);
    try {
      const cb = await api('POST', '/ui/api/callbacks', body);
      toast(`Scheduled callback to ${cb.phone}` + (cb.explanation ? ` (${cb.explanation.join(' ')})` : ''));
      box.replaceChildren();
      if (App.reloadList) App.reloadList();
    } catch (e) { err.textContent = e.message; }
  });
  box.replaceChildren(form);
  phone.focus();
}

// ---------------------------------------------------------------------------------------------
// One callback
// ---------------------------------------------------------------------------------------------

async function detailPage(id) {
  let data;
  try {
    data = await api('GET', `/ui/api/callbacks/${encodeURIComponent(id)}`);
  } catch (e) {
    setPage('Callback', h('p', { class: 'error', text: e.message }));
    return;
  }
  const cb = data.callback;
  const back = App.session.user.role === 'supervisor' ? '#/callbacks' : '#/agent';
  const facts = h('dl', { class: 'kv' },
    ...[['Status', statusBadge(cb.status)], ['Origin', originBadge(cb.origin)], ['Phone', cb.phone],
      ['Contact', cb.contact_name || ''], [`Scheduled (${App.zone})`, fmt(cb.scheduled_at, App.zone)],
      [`Contact's time (${cb.timezone})`, fmt(cb.scheduled_at, cb.timezone)], ['Dialing mode', cb.dialing_mode],
      ['Assigned', assignmentText(cb.assignment)], ['Priority', String(cb.priority ?? '')],
      ['Required skills', skillsText(cb.skills) || 'None'], ['Agent holding it', cb.agent_id ? (App.directory.names[cb.agent_id] || cb.agent_id) : ''],
      ['Outcome', cb.outcome || ''], ['Disposition', dispositionText(cb.disposition)],
      ['Caller ID', callerIdText(cb)], ['Attempts', cb.attempt_count], ['Created', fmt(cb.created_at, App.zone)], ['Id', cb.id]]
      .flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]),
    h('dt', { text: 'Notes' }), h('dd', {}, h('pre', { class: 'notes', id: 'notes', text: cb.notes || '' })));
  const actions = [];
  if (EDITABLE.has(cb.status)) {
    const when = h('input', { type: 'datetime-local', name: 'when', value: localInputValue(cb.scheduled_at, App.zone) });
    actions.push(h('form', { class: 'panel row', 'aria-label': 'Reschedule', onsubmit: async (ev) => {
      ev.preventDefault();
      await act(() => api('PATCH', `/ui/api/callbacks/${cb.id}`, { scheduled_at: zonedToIso(when.value, App.zone) }), 'Rescheduled', id);
    } }, field(`New time (${App.zone})`, when), h('button', { type: 'submit', text: 'Reschedule' })));
    if (App.session.user.role === 'supervisor') {
      const assign = assignmentControls(cb.assignment);
      actions.push(h('form', { class: 'panel row', 'aria-label': 'Reassign', onsubmit: async (ev) => {
        ev.preventDefault();
        await act(() => api('PATCH', `/ui/api/callbacks/${cb.id}`, { assignment: assign.value() }), 'Reassigned', id);
      } }, ...assign.nodes, h('button', { type: 'submit', text: 'Reassign' })));
      const priority = h('input', { type: 'number', name: 'priority', min: 0, max: 100, value: cb.priority });
      const skills = h('input', { name: 'skills', value: Object.entries(cb.skills || {}).map(([k, v]) => `${k}:${v}`).join(', '), placeholder: 'spanish:3, billing:5' });
      actions.push(h('form', { class: 'panel row', 'aria-label': 'Priority and skills', onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { priority: Number(priority.value), skills: parseSkills(skills.value) };
        await act(() => api('PATCH', `/ui/api/callbacks/${cb.id}`, body), 'Priority and skills changed', id);
      } }, field('Priority (0–100)', priority), field('Required skills (name:level)', skills),
      h('button', { type: 'submit', text: 'Change priority and skills' })));
    }
    const note = h('input', { name: 'note', maxlength: 1000 });
    actions.push(h('form', { class: 'panel row', 'aria-label': 'Add a note', onsubmit: async (ev) => {
      ev.preventDefault();
      await act(() => api('POST', `/ui/api/callbacks/${cb.id}/notes`, { text: note.value }), 'Note added', id);
    } }, field('Note', note), h('button', { type: 'submit', text: 'Add note' })));
    actions.push(h('div', { class: 'row' }, h('button', { type: 'button', class: 'danger', text: 'Cancel callback', onclick: async () => {
      if (!confirm('Cancel this callback?')) return;
      await act(() => api('POST', `/ui/api/callbacks/${cb.id}/cancel`), 'Canceled', id);
    } })));
  }
  const history = table(['When', 'Event', 'Details'], (cb.history || []).map((e) => [
    fmt(e.timestamp || e.at, App.zone), e.type, JSON.stringify(e.data || {})]));
  const attempts = table(['#', 'Started', 'Agent', 'Caller ID used', 'Outcome', 'Disposition', 'Duration (s)', 'Notes'], (cb.attempts || []).map((a) => [
    a.number, fmt(a.started_at, App.zone), a.agent_id ? (App.directory.names[a.agent_id] || a.agent_id) : '',
    a.caller_id || '', a.outcome || '', dispositionText(a.disposition), a.duration_seconds ?? '', a.notes || '']));
  const deliveries = table(['Event', 'URL', 'Status', 'Tries', 'Last answer'], (data.deliveries || []).map((d) => [
    d.event_type, d.url, d.status, d.attempts, d.last_status_code ?? d.last_error ?? '']));
  setPage(`Callback to ${cb.phone}`, h('p', {}, h('a', { href: back, text: '← Back' })),
    h('div', { class: 'panel' }, facts), ...actions,
    h('h2', { text: 'History' }), history, h('h2', { text: 'Attempts' }), attempts,
    h('h2', { text: 'Webhook deliveries' }), deliveries);
  if (App.session.user.role === 'supervisor') {
    listen('/ui/api/events', (ev) => {
      const d = JSON.parse(ev.data);
      if (d.callback_id === cb.id && location.hash.endsWith(cb.id)) detailPage(cb.id);
    }, ['change']);
  }
}

function table(headers, rows) {
  if (!rows.length) return h('p', { class: 'muted', text: 'None.' });
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', { text: String(c) })))))));
}

async function act(fn, done, id) {
  try {
    await fn();
    toast(done);
    if (id) detailPage(id); else route();
  } catch (e) { toast(e.message, true); }
}

// ---------------------------------------------------------------------------------------------
// The agent's view
// ---------------------------------------------------------------------------------------------

async function agentPage() {
  const me = App.directory.agents.find((a) => a.id === App.session.user.agent_id);
  const presence = select('presence', [['available', 'Available'], ['busy', 'Busy'], ['away', 'Away'], ['offline', 'Offline']], me ? me.presence : 'offline');
  presence.id = 'presence';
  presence.addEventListener('change', async () => {
    try {
      await api('PUT', '/ui/api/me/presence', { presence: presence.value });
      toast(`You are ${presence.value}`);
    } catch (e) { toast(e.message, true); }
  });
  const offers = h('div', { class: 'cards', id: 'offers', 'aria-live': 'polite' });
  const calls = h('div', { class: 'cards', id: 'calls' });
  const upcoming = h('div', { id: 'upcoming' });
  setPage('My work', h('div', { class: 'panel row' }, field('My presence', presence)),
    h('h2', { text: 'Offers' }), offers, h('h2', { text: 'Calls in progress' }), calls,
    h('h2', { text: 'My upcoming callbacks' }), upcoming);
  async function load() {
    let list;
    try { list = await api('GET', '/ui/api/me/callbacks'); } catch (e) { toast(e.message, true); return; }
    const mine = App.session.user.agent_id;
    offers.replaceChildren(...list.filter((c) => c.status === 'offered' && c.agent_id === mine).map(offerCard));
    if (!offers.children.length) offers.append(h('p', { class: 'muted', text: 'No offers right now.' }));
    calls.replaceChildren(...list.filter((c) => c.status === 'in_progress' && c.agent_id === mine).map(callCard));
    if (!calls.children.length) calls.append(h('p', { class: 'muted', text: 'No call in progress.' }));
    const rest = list.filter((c) => !(c.agent_id === mine && (c.status === 'offered' || c.status === 'in_progress')));
    upcoming.replaceChildren(table(['Scheduled', "Contact's time", 'Phone', 'Contact', 'Status'], rest.map((c) => [
      fmt(c.scheduled_at, App.zone), `${fmt(c.scheduled_at, c.timezone)} (${c.timezone})`, c.phone, c.contact_name || '', c.status])));
  }
  function offerCard(c) {
    return h('div', { class: 'card offer', 'data-id': c.id },
      h('strong', { text: c.contact_name || c.phone }), h('div', { text: c.phone }),
      h('div', { class: 'muted', text: `Scheduled ${fmt(c.scheduled_at, App.zone)}` }),
      c.notes ? h('p', { text: c.notes }) : null,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', text: 'Accept', 'aria-label': `Accept callback to ${c.phone}`,
          onclick: () => act(() => api('POST', `/ui/api/me/callbacks/${c.id}/accept`), 'Accepted: call now') }),
        h('button', { type: 'button', text: 'Reject', 'aria-label': `Reject callback to ${c.phone}`,
          onclick: () => act(() => api('POST', `/ui/api/me/callbacks/${c.id}/reject`), 'Rejected') })));
  }
  function callCard(c) {
    const outcome = select('outcome', OUTCOMES.map((o) => [o, o.replace('_', ' ')]), 'answered');
    // A disposition, when the account has them, sets the outcome by its class.
    const disposition = select('disposition', [['', '(none)'], ...App.directory.dispositions.map((d) => [d.code, d.label])], '');
    const notes = h('input', { name: 'notes' });
    const form = h('form', { class: 'card', 'data-id': c.id, 'aria-label': `Complete call to ${c.phone}` },
      h('strong', { text: c.contact_name || c.phone }), h('div', { text: c.phone }),
      App.directory.dispositions.length ? field('Disposition', disposition) : null,
      field('Outcome', outcome), field('Notes', notes),
      h('button', { type: 'submit', class: 'primary', text: 'Complete call' }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = disposition.value ? { disposition: disposition.value } : { outcome: outcome.value };
      if (notes.value) body.notes = notes.value;
      act(() => api('POST', `/ui/api/me/callbacks/${c.id}/complete`, body), 'Call completed');
    });
    return form;
  }
  await load();
  listen('/ui/api/me/events', (ev) => {
    if (ev.type === 'presence') {
      try { presence.value = JSON.parse(ev.data).presence || presence.value; } catch (_) { /* keep */ }
    }
    if (ev.type === 'offer') toast('New offer');
    load();
  }, ['offer', 'offer_withdrawn', 'callback.reminder', 'callback.canceled', 'callback.rescheduled', 'presence']);
}

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

// The actions each campaign status allows: [action, button label, confirmation or null].
const CAMPAIGN_ACTIONS = {
  running: [['pause', 'Pause', null], ['cancel', 'Cancel', 'Cancel this campaign? Calls not yet placed are canceled.']],
  paused: [['resume', 'Resume', null], ['cancel', 'Cancel', 'Cancel this campaign? Calls not yet placed are canceled.']],
};
const CAMPAIGN_DONE = { pause: 'Campaign paused', resume: 'Campaign resumed', cancel: 'Campaign canceled' };

async function campaignsPage() {
  const tbody = h('tbody', { id: 'campaign-rows' });
  const count = h('p', { class: 'muted', id: 'campaign-count', 'aria-live': 'polite' });
  const cols = ['Campaign', 'Status', 'Launch', 'Contacts', 'Attempts', 'Answered', 'Pending', 'In progress',
    'Pending recalls', 'Not answered', 'DNC skips', 'Canceled', 'Expired', 'Actions'];
  setPage('Campaigns', count, h('div', { class: 'table-wrap' }, h('table', { class: 'campaigns' },
    h('caption', { class: 'muted', text: `Launch times in ${App.zone}.` }),
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { scope: 'col', text: c })))),
    tbody)));
  async function act(c, action, confirmText) {
    if (confirmText && !confirm(confirmText)) return;
    try {
      await api('POST', `/ui/api/campaigns/${encodeURIComponent(c.campaign_id)}/${action}`);
      toast(CAMPAIGN_DONE[action]);
    } catch (e) { toast(e.message, true); }
    await load();
  }
  async function load() {
    let list;
    try { list = await api('GET', '/ui/api/campaigns'); } catch (e) { toast(e.message, true); return; }
    count.textContent = list.length === 1 ? '1 campaign' : `${list.length} campaigns`;
    tbody.replaceChildren(...list.map((c) => {
      const t = c.totals || {};
      const label = c.name || c.campaign_id;
      const actions = (CAMPAIGN_ACTIONS[c.status] || []).map(([action, text, confirmText]) => h('button', {
        type: 'button', class: action === 'cancel' ? 'danger' : null, 'data-action': action,
        text, 'aria-label': `${text} campaign ${label}`, onclick: () => act(c, action, confirmText),
      }));
      return h('tr', { 'data-id': c.campaign_id, 'data-status': c.status },
        h('th', { scope: 'row' }, h('span', { text: label }), c.name ? h('span', { class: 'sub', text: c.campaign_id }) : null),
        h('td', {}, statusBadge(c.status)),
        h('td', { text: fmt(c.launch_at, App.zone) }),
        ...[t.contacts, t.attempts, t.answered, t.pending, t.in_progress, t.pending_recalls, t.not_answered,
          t.skipped_dnc, t.canceled, t.expired].map((n) => h('td', { class: 'num', text: String(n ?? 0) })),
        h('td', {}, h('div', { class: 'row' }, ...actions)));
    }));
    if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: cols.length, class: 'muted', text: 'No campaigns yet.' })));
  }
  await load();
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

const PALETTE = ['#0a58ca', '#1a7f37', '#bf8700', '#cf222e', '#8250df', '#1b7c83', '#57606a', '#e16f24', '#6e7781'];

function downloadCsv(name, rows) {
  const text = rows.map((r) => r.map((c) => {
    const v = String(c ?? '');
    return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  }).join(',')).join('\n') + '\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function chartFigure(id, title, svg, csvRows, extra) {
  return h('figure', { class: 'chart', id },
    h('figcaption', {}, h('span', { text: title }),
      h('button', { type: 'button', text: 'Export CSV', 'aria-label': `Export ${title} as CSV`, onclick: () => downloadCsv(`${id}.csv`, csvRows) })),
    svg, extra || null);
}

function legend(series) {
  return h('ul', { class: 'legend' }, ...series.map((name, i) => h('li', {},
    s('svg', { width: 10, height: 10, 'aria-hidden': 'true' }, s('rect', { width: 10, height: 10, fill: PALETTE[i % PALETTE.length] })), ' ', name)));
}

// Stacked bars: one per day, one segment per series.
function stackedBars(days, key, label) {
  const series = [...new Set(days.flatMap((d) => Object.keys(d[key])))].sort();
  const W = 600; const H = 240; const left = 34; const bottom = 36; const top = 10;
  const max = Math.max(1, ...days.map((d) => d.total));
  const bw = (W - left - 10) / Math.max(1, days.length);
  const total = days.reduce((n, d) => n + d.total, 0);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${total} callbacks over ${days.length} days` });
  const steps = Math.min(4, max);
  for (let i = 0; i <= steps; i++) {
    const y = top + (H - top - bottom) * (1 - i / steps);
    svg.append(s('line', { x1: left, x2: W, y1: y, y2: y, stroke: '#d0d7de' }),
      s('text', { x: left - 4, y: y + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#57606a' }, Math.round(max * i / steps)));
  }
  days.forEach((d, i) => {
    let y = H - bottom;
    const x = left + i * bw + bw * 0.15;
    series.forEach((name, si) => {
      const v = d[key][name] || 0;
      if (!v) return;
      const hgt = (H - top - bottom) * v / max;
      y -= hgt;
      svg.append(s('rect', { x, y, width: bw * 0.7, height: hgt, fill: PALETTE[si % PALETTE.length], 'data-date': d.date, 'data-series': name, 'data-value': v },
        s('title', {}, `${d.date} ${name}: ${v}`)));
    });
    if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
      svg.append(s('text', { x: x + bw * 0.35, y: H - bottom + 14, 'text-anchor': 'middle', 'font-size': 10, fill: '#57606a' }, d.date.slice(5)));
    }
  });
  const rows = [['date', ...series, 'total'], ...days.map((d) => [d.date, ...series.map((n) => d[key][n] || 0), d.total])];
  return { svg, legend: legend(series), rows };
}

// Horizontal bars for named values.
function hbars(items, label, unit) {
  const W = 600; const rowH = 26; const left = 150;
  const H = Math.max(1, items.length) * rowH + 10;
  if (!items.length) {
    return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: no data` },
      s('text', { x: 10, y: 22, 'font-size': 13, fill: '#57606a' }, 'No data in this range.'));
  }
  const max = Math.max(1, ...items.map((x) => x.value || 0));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${items.map((x) => `${x.name} ${x.value ?? 'none'}${unit || ''}`).join(', ') || 'no data'}` });
  items.forEach((x, i) => {
    const y = 5 + i * rowH;
    const w = (W - left - 60) * (x.value || 0) / max;
    svg.append(s('text', { x: left - 6, y: y + 16, 'text-anchor': 'end', 'font-size': 12, fill: '#1b1f24' }, x.name),
      s('rect', { x: left, y: y + 3, width: Math.max(w, 0), height: rowH - 8, fill: PALETTE[i % PALETTE.length], 'data-series': x.name, 'data-value': x.value ?? '' }),
      s('text', { x: left + w + 4, y: y + 16, 'font-size': 12, fill: '#1b1f24' }, x.value === null || x.value === undefined ? '–' : `${x.value}${unit || ''}`));
  });
  return svg;
}

function pct(x) { return x === null || x === undefined ? null : Math.round(x * 1000) / 10; }

async function reportsPage() {
  const from = h('input', { type: 'date', name: 'from', value: todayIn(App.zone, -6) });
  const to = h('input', { type: 'date', name: 'to', value: todayIn(App.zone, 0) });
  const zone = zoneSelect('timezone', App.zone);
  const sla = h('input', { type: 'number', name: 'sla_minutes', min: 1, max: 1440, value: 15 });
  const form = h('form', { class: 'panel row', 'aria-label': 'Report range' },
    field('From', from), field('To', to), field('Time zone', zone), field('SLA (minutes)', sla),
    h('button', { type: 'submit', class: 'primary', text: 'Show report' }));
  const out = h('div', { id: 'report', 'aria-live': 'polite' });
  setPage('Reports', form, out);
  async function load() {
    const q = new URLSearchParams({ from: from.value, to: to.value, timezone: zone.value, sla_minutes: sla.value });
    let r;
    try { r = await api('GET', `/ui/api/reports?${q}`); } catch (e) { out.replaceChildren(h('p', { class: 'error', role: 'alert', text: e.message })); return; }
    renderReport(out, r);
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  await load();
}

function renderReport(out, r) {
  const byOrigin = stackedBars(r.days, 'by_origin', 'Callbacks per day by origin');
  const byOutcome = stackedBars(r.days, 'by_outcome', 'Callbacks per day by result');
  const answer = hbars([{ name: 'Answer rate', value: pct(r.answer_rate.rate) }], 'Answer rate', ' %');
  const wait = hbars([
    { name: 'Average', value: r.request_to_call.average_seconds },
    { name: 'Median', value: r.request_to_call.median_seconds },
    { name: '90th percentile', value: r.request_to_call.p90_seconds }], 'Seconds from request to first dial', ' s');
  const timely = hbars([{ name: 'On time', value: r.timeliness.on_time }, { name: 'Late', value: r.timeliness.late }], 'Dialled on time versus late');
  const sla = hbars([{ name: 'SLA misses', value: r.sla.misses }, { name: 'Due', value: r.sla.due }], 'SLA misses');
  const name = (id) => (App.directory.names[id] || id);
  const agents = hbars(r.agents.map((a) => ({ name: name(a.agent_id), value: a.attempts })), 'Attempts per agent');
  const queues = hbars(r.queues.map((q) => ({ name: name(q.queue_id), value: q.callbacks })), 'Callbacks per queue');
  out.replaceChildren(
    h('p', { id: 'report-total' }, `${r.total} callbacks scheduled from ${r.from} to ${r.to} (${r.timezone}).`),
    h('div', { class: 'charts' },
      chartFigure('per-day-origin', 'Callbacks per day by origin', byOrigin.svg, byOrigin.rows, byOrigin.legend),
      chartFigure('per-day-outcome', 'Callbacks per day by result', byOutcome.svg, byOutcome.rows, byOutcome.legend),
      chartFigure('answer-rate', 'Answer rate', answer, [['answered', 'with_outcome', 'rate'], [r.answer_rate.answered, r.answer_rate.with_outcome, r.answer_rate.rate ?? '']],
        h('p', { class: 'big', id: 'answer-rate-value', text: r.answer_rate.rate === null ? '–' : `${pct(r.answer_rate.rate)} %` })),
      chartFigure('request-to-call', 'Time from request to callback', wait, [['count', 'average_seconds', 'median_seconds', 'p90_seconds'],
        [r.request_to_call.count, r.request_to_call.average_seconds ?? '', r.request_to_call.median_seconds ?? '', r.request_to_call.p90_seconds ?? '']]),
      chartFigure('timeliness', `On time (within ${r.timeliness.on_time_seconds} s) versus late`, timely,
        [['on_time', 'late', 'on_time_share'], [r.timeliness.on_time, r.timeliness.late, r.timeliness.on_time_share ?? '']]),
      chartFigure('sla', `SLA misses (over ${Math.round(r.sla.threshold_seconds / 60)} min late or expired)`, sla,
        [['misses', 'due', 'threshold_seconds'], [r.sla.misses, r.sla.due, r.sla.threshold_seconds]]),
      chartFigure('per-agent', 'Per agent: attempts', agents, [['agent_id', 'name', 'attempts', 'answered', 'answer_rate', 'average_duration_seconds'],
        ...r.agents.map((a) => [a.agent_id, name(a.agent_id), a.attempts, a.answered, a.answer_rate ?? '', a.average_duration_seconds ?? ''])]),
      chartFigure('per-queue', 'Per queue: callbacks', queues, [['queue_id', 'name', 'callbacks', 'answered', 'sla_misses'],
        ...r.queues.map((q) => [q.queue_id, name(q.queue_id), q.callbacks, q.answered, q.sla_misses])])));
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

async function boot() {
  App.zone = localStorage.getItem('ringback.zone') || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  document.getElementById('viewer-zone').addEventListener('change', (ev) => {
    App.zone = ev.target.value;
    localStorage.setItem('ringback.zone', App.zone);
    route();
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    try { await api('DELETE', '/ui/api/session'); } catch (_) { /* signed out anyway */ }
    App.session = null;
    location.hash = '';
    showSignIn('You are signed out.');
  });
  window.addEventListener('hashchange', route);
  try {
    App.session = await api('GET', '/ui/api/session');
    await start();
  } catch (_) {
    showSignIn();
  }
}

document.addEventListener('DOMContentLoaded', boot);

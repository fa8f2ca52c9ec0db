// Browser tests of the Callback Manager: the real server binary on a random port with a
// temporary SQLite file, driven in headless Chromium (Debian's package) by playwright-core.
//
//   RINGBACK_BIN   the server binary (default: target/debug/ringback, built by `cargo build`)
//   CHROMIUM       the browser (default: /usr/bin/chromium)
//
// Screenshots of each main page go to tests/browser/screenshots/ (git-ignored).

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const BIN = process.env.RINGBACK_BIN || join(root, 'target', 'debug', 'ringback');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(here, 'screenshots');
const PASSWORD = 'correct horse battery';
const started = Date.now();

if (!existsSync(CHROMIUM)) {
  console.error(`\n!!! Chromium not found at ${CHROMIUM}: the browser tests CANNOT run.\n!!! Install it (apt-get install -y chromium) or set CHROMIUM.\n`);
  process.exit(2);
}
if (!existsSync(BIN)) {
  console.error(`server binary not found at ${BIN}; run cargo build first`);
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => ok(port)); });
    srv.on('error', fail);
  });
}

function assert(cond, message) { if (!cond) throw new Error(message); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` in the page until it returns true (the page's CSP forbids waitForFunction's eval).
async function until(page, fn, arg, what) {
  for (let i = 0; i < 200; i++) {
    if (await page.evaluate(fn, arg)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const dir = mkdtempSync(join(tmpdir(), 'ringback-browser-'));
const db = `sqlite://${dir}/rb.db`;
const cli = (args, env) => execFileSync(BIN, [...args, '--database-url', db], { env: { ...process.env, ...env }, encoding: 'utf8' });

const account = JSON.parse(cli(['accounts', 'create', 'Acme', '--json']));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--database-url', db, '--min-lead-seconds', '1'], {
  stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' },
});
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });

async function apiCall(method, path, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${account.api_key}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${JSON.stringify(data)}`);
  return data;
}

for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break; } catch (_) { /* not yet */ }
  if (i > 100) throw new Error(`the server did not start:\n${serverLog}`);
  await sleep(50);
}

// The tests run at any hour: callbacks may be placed all day, at the times asked for.
await apiCall('PUT', '/v1/settings', {
  calling_window: { start: '00:00', end: '24:00' },
  allow_customer_requested_times: true,
  max_attempts: null,
  attempt_window_days: 7,
});
const agent = await apiCall('POST', '/v1/agents', { name: 'Alice Agent' });
const queue = await apiCall('POST', '/v1/queues', { name: 'Billing', member_ids: [agent.id] });
cli(['users', 'create', '--account', account.account_id, '--email', 'boss@acme.test', '--role', 'supervisor'], { RINGBACK_USER_PASSWORD: PASSWORD });
cli(['users', 'create', '--account', account.account_id, '--email', 'alice@acme.test', '--role', 'agent', '--agent', agent.id], { RINGBACK_USER_PASSWORD: PASSWORD });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([true, name]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([false, name]);
    console.log(`FAIL ${name}\n     ${String(e && e.stack || e).split('\n').slice(0, 4).join('\n     ')}`);
  }
}

async function signIn(page, email) {
  await page.goto(base + '/');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
const today = new Date().toISOString().slice(0, 10);
const sup = await (await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1280, height: 900 } })).newPage();
sup.setDefaultTimeout(10000);

try {
  await test('a wrong password is refused on the sign-in page', async () => {
    await sup.goto(base + '/');
    await sup.getByLabel('E-mail').fill('boss@acme.test');
    await sup.getByLabel('Password').fill('not the password');
    await sup.screenshot({ path: join(SHOTS, 'sign-in.png') });
    await sup.getByRole('button', { name: 'Sign in' }).click();
    await sup.getByRole('alert').filter({ hasText: 'Wrong e-mail or password' }).waitFor();
  });

  await test('a supervisor signs in and sees the callbacks page', async () => {
    await signIn(sup, 'boss@acme.test');
    await sup.getByRole('heading', { name: 'Callbacks' }).waitFor();
    const cookies = await sup.context().cookies();
    const c = cookies.find((x) => x.name === 'ringback_session');
    assert(c && c.httpOnly && c.sameSite === 'Strict', `cookie flags: ${JSON.stringify(c)}`);
  });

  let apiCallback;
  await test('a callback created through the API appears live, marked API', async () => {
    apiCallback = await apiCall('POST', '/v1/callbacks', {
      phone: '+14155550101', contact_name: 'Api Person', scheduled_at: `${tomorrow}T15:00:00Z`, timezone: 'America/New_York',
    });
    const row = sup.locator(`tr[data-id="${apiCallback.id}"]`);
    await row.waitFor();
    assert((await row.locator('.badge[data-origin]').textContent()) === 'API', 'origin badge is API');
  });

  await test('a supervisor creates a callback (origin UI)', async () => {
    await sup.getByRole('button', { name: 'New callback' }).click();
    const form = sup.getByRole('form', { name: 'New callback' });
    await form.getByLabel('Phone').fill('+1 415 555 0123');
    await form.getByLabel('Contact name').fill('Ui Person');
    await form.getByLabel("Time (contact's zone)").fill(`${tomorrow}T10:00`);
    await form.getByLabel("Contact's time zone").selectOption('Europe/Paris');
    await form.getByRole('button', { name: 'Schedule callback' }).click();
    const row = sup.locator('tr', { hasText: '+14155550123' });
    await row.waitFor();
    assert((await row.locator('.badge[data-origin]').textContent()) === 'UI', 'origin badge is UI');
    assert((await row.textContent()).includes('Europe/Paris'), "the contact's zone is shown");
    await sup.screenshot({ path: join(SHOTS, 'callbacks.png'), fullPage: true });
  });

  await test('filters narrow the list by origin and phone', async () => {
    const filters = sup.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('Origin').selectOption('ui');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await until(sup, () => [...document.querySelectorAll('#rows tr')].every((r) => r.dataset.origin === 'ui') && document.querySelectorAll('#rows tr').length === 1, null, 'only UI rows');
    await filters.getByLabel('Origin').selectOption('');
    await filters.getByLabel('Phone').fill('+1415555010');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await until(sup, (id) => {
      const rows = [...document.querySelectorAll('#rows tr')];
      return rows.length === 1 && rows[0].dataset.id === id;
    }, apiCallback.id, 'only the searched phone');
    const href = await sup.locator('#export').getAttribute('href');
    assert(href.includes('phone=%2B1415555010'), `export link carries the filters: ${href}`);
    await filters.getByLabel('Phone').fill('');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await sup.locator('#rows tr').nth(1).waitFor();
  });

  await test('a supervisor reschedules and cancels a callback from its page', async () => {
    await sup.locator('tr', { hasText: '+14155550123' }).getByRole('link', { name: /Open/ }).click();
    await sup.getByRole('heading', { name: /Callback to/ }).waitFor();
    await sup.getByLabel(/New time/).fill(`${tomorrow}T12:30`);
    await sup.getByRole('button', { name: 'Reschedule' }).click();
    await sup.locator('td', { hasText: 'callback.updated' }).first().waitFor();
    const text = await sup.locator('dl.kv').textContent();
    assert(text.includes('12:30'), `rescheduled time shown: ${text}`);
    await sup.getByLabel('Note', { exact: true }).fill('Prefers mornings');
    await sup.getByRole('button', { name: 'Add note' }).click();
    await sup.locator('#notes', { hasText: 'Prefers mornings' }).waitFor();
    await sup.screenshot({ path: join(SHOTS, 'callback-detail.png'), fullPage: true });
    sup.once('dialog', (d) => d.accept());
    await sup.getByRole('button', { name: 'Cancel callback' }).click();
    await sup.locator('dl.kv .badge.status-canceled').waitFor();
  });

  const agentPage = await (await browser.newContext({ timezoneId: 'UTC', viewport: { width: 390, height: 844 } })).newPage();
  agentPage.setDefaultTimeout(15000);
  await test('an agent accepts an offer and completes the call', async () => {
    await signIn(agentPage, 'alice@acme.test');
    await agentPage.getByRole('heading', { name: 'My work' }).waitFor();
    await agentPage.getByLabel('My presence').selectOption('available');
    await agentPage.locator('.toast', { hasText: 'You are available' }).waitFor();
    const cb = await apiCall('POST', '/v1/callbacks', {
      phone: '+14155550177', contact_name: 'Offer Person', dialing_mode: 'preview',
      scheduled_at: new Date(Date.now() + 2500).toISOString(), timezone: 'UTC',
      assignment: { type: 'agent', ids: [agent.id] },
    });
    const card = agentPage.locator(`#offers [data-id="${cb.id}"]`);
    await card.waitFor();
    await agentPage.screenshot({ path: join(SHOTS, 'agent.png'), fullPage: true });
    await card.getByRole('button', { name: /Accept/ }).click();
    const call = agentPage.locator(`#calls [data-id="${cb.id}"]`);
    await call.waitFor();
    await call.getByLabel('Outcome').selectOption('answered');
    await call.getByRole('button', { name: 'Complete call' }).click();
    await agentPage.locator(`#calls [data-id="${cb.id}"]`).waitFor({ state: 'detached' });
    const done = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(done.status === 'completed' && done.outcome === 'answered', `final state ${done.status}/${done.outcome}`);
  });

  await test('an agent cannot open the supervisor pages', async () => {
    const resp = await agentPage.evaluate(async () => (await fetch('/ui/api/callbacks')).status);
    assert(resp === 403, `agent listing all callbacks: ${resp}`);
  });

  await test('the report chart shows the seeded numbers', async () => {
    await sup.goto(base + '/#/reports');
    const form = sup.getByRole('form', { name: 'Report range' });
    await form.getByLabel('From').fill(today);
    await form.getByLabel('To').fill(tomorrow);
    await form.getByLabel('Time zone').selectOption('UTC');
    await form.getByRole('button', { name: 'Show report' }).click();
    await sup.locator('#report-total', { hasText: '3 callbacks' }).waitFor();
    const value = async (chart, date, series) => sup.locator(`#${chart} rect[data-date="${date}"][data-series="${series}"]`).getAttribute('data-value');
    assert(await value('per-day-origin', today, 'api') === '1', 'today: 1 from the API (the preview call)');
    assert(await value('per-day-origin', tomorrow, 'api') === '1', 'tomorrow: 1 from the API');
    assert(await value('per-day-origin', tomorrow, 'ui') === '1', 'tomorrow: 1 from the page');
    assert(await value('per-day-outcome', today, 'answered') === '1', 'today: 1 answered');
    assert(await value('per-day-outcome', tomorrow, 'canceled') === '1', 'tomorrow: 1 canceled');
    assert((await sup.locator('#answer-rate-value').textContent()) === '100 %', 'answer rate 100 %');
    const agentBar = sup.locator('#per-agent rect[data-series="Alice Agent"]');
    assert(await agentBar.getAttribute('data-value') === '1', 'one attempt by Alice');
    const download = sup.waitForEvent('download');
    await sup.locator('#per-day-origin').getByRole('button', { name: /Export/ }).click();
    assert((await download).suggestedFilename() === 'per-day-origin.csv', 'the chart exports as CSV');
    await sup.screenshot({ path: join(SHOTS, 'reports.png'), fullPage: true });
  });

  await test('a supervisor sees a campaign with its contacts and pauses it', async () => {
    const playbook = await apiCall('POST', '/v1/playbooks', { name: 'Renewals', initial_message: 'Hello' });
    const campaign = await apiCall('POST', '/v1/campaigns', {
      playbook_id: playbook.id, name: 'Spring renewals', launch_at: new Date(Date.now() + 86400000).toISOString(),
      contacts: [{ phone: '+14155550201' }, { phone: '+14155550202' }],
    });
    await sup.getByRole('link', { name: 'Campaigns' }).click();
    await sup.getByRole('heading', { name: 'Campaigns' }).waitFor();
    const row = sup.locator(`tr[data-id="${campaign.campaign_id}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[2] === '2', `2 contacts shown: ${JSON.stringify(cells)}`);
    assert((await row.getAttribute('data-status')) === 'running', 'the campaign is running');
    await row.getByRole('button', { name: 'Pause campaign Spring renewals' }).click();
    await sup.locator(`tr[data-id="${campaign.campaign_id}"][data-status="paused"] .badge.status-paused`).waitFor();
    await sup.locator(`tr[data-id="${campaign.campaign_id}"]`).getByRole('button', { name: /Resume/ }).waitFor();
    const after = await apiCall('GET', `/v1/campaigns/${campaign.campaign_id}`);
    assert(after.status === 'paused', `paused through the page: ${after.status}`);
    await sup.screenshot({ path: join(SHOTS, 'campaigns.png'), fullPage: true });
  });

  // The customer's page of a callback (`customer_link`), on a phone-sized screen, no account.
  const phone = await (await browser.newContext({
    timezoneId: 'America/Los_Angeles', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
  })).newPage();
  phone.setDefaultTimeout(10000);
  let customerPhone = 4155550300;
  async function customerCallback() {
    customerPhone += 1;
    const cb = await apiCall('POST', '/v1/callbacks', {
      phone: `+1${customerPhone}`, scheduled_at: `${tomorrow}T18:00:00Z`, dialing_mode: 'preview',
      assignment: { type: 'queue', ids: [queue.id] }, allow_duplicate: true,
    });
    assert(/\/c\/[A-Za-z0-9_-]{64}$/.test(cb.customer_link), `a customer_link: ${cb.customer_link}`);
    return cb;
  }
  const linkOf = (cb) => base + cb.customer_link.slice(cb.customer_link.indexOf('/c/'));

  await test('a customer opens their link on a phone and confirms the time with the keyboard', async () => {
    const cb = await customerCallback();
    const resp = await phone.goto(linkOf(cb));
    assert(resp.status() === 200, `the page opens: ${resp.status()}`);
    await phone.getByRole('heading', { name: 'We will call you' }).waitFor();
    const when = await phone.locator('time').textContent();
    const local = new Date(`${tomorrow}T18:00:00Z`).toLocaleTimeString('en-GB', {
      timeZone: 'America/Los_Angeles', hour: '2-digit', minute: '2-digit',
    });
    assert(when.trim().endsWith(local), `${local} Los Angeles time shown: ${when}`);
    await phone.getByText('Los Angeles time').first().waitFor();
    await phone.screenshot({ path: join(SHOTS, 'customer-page.png'), fullPage: true });
    // Keyboard only: focus the confirm button and press Enter.
    await phone.getByRole('button', { name: 'Confirm this time' }).focus();
    await phone.keyboard.press('Enter');
    await phone.getByRole('status').filter({ hasText: 'your call is confirmed' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'customer-confirmed.png'), fullPage: true });
    const after = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(/customer\] confirmed the time/.test(after.notes || ''), `recorded: ${after.notes}`);
  });

  await test('a customer moves their callback to another free slot', async () => {
    const cb = await customerCallback();
    await phone.goto(linkOf(cb));
    const choices = phone.getByRole('radio');
    assert((await choices.count()) > 1, 'free slots are offered');
    const second = choices.nth(1);
    const slotId = await second.getAttribute('value');
    const label = await phone.locator(`label[for="${await second.getAttribute('id')}"]`).textContent();
    await phone.getByLabel(label.trim()).check();
    await phone.screenshot({ path: join(SHOTS, 'customer-reschedule.png'), fullPage: true });
    await phone.getByRole('button', { name: 'Move my call to this time' }).click();
    await phone.getByRole('status').filter({ hasText: 'moved to the new time' }).waitFor();
    const start = Number(slotId.split('_').at(-2));
    const after = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(Date.parse(after.scheduled_at) === start * 1000, `moved to the slot: ${after.scheduled_at} vs ${start}`);
    const shown = await phone.locator('time').getAttribute('datetime');
    assert(Date.parse(shown) === start * 1000, `the page shows the new time: ${shown}`);
  });

  await test('a customer cancels their callback and the link then says it is no longer valid', async () => {
    const cb = await customerCallback();
    await phone.goto(linkOf(cb));
    await phone.getByRole('button', { name: 'Cancel this call' }).click();
    await phone.getByRole('heading', { name: 'Your call is canceled' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'customer-canceled.png'), fullPage: true });
    const after = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(after.status === 'canceled', `canceled: ${after.status}`);
    const resp = await phone.goto(linkOf(cb));
    assert(resp.status() === 410, `an ended callback's link: ${resp.status()}`);
    await phone.getByRole('heading', { name: 'This link is no longer valid' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'customer-expired.png'), fullPage: true });
  });

  await test('a customer asks to stop all calls: do-not-call, consent revoked, calls canceled', async () => {
    const cb = await customerCallback();
    await phone.goto(linkOf(cb));
    await phone.getByRole('button', { name: 'Stop calling me' }).click();
    await phone.getByRole('heading', { name: 'We will not call you again' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'customer-stopped.png'), fullPage: true });
    const after = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(after.status === 'canceled', `canceled: ${after.status}`);
    const dnc = await apiCall('GET', `/v1/dnc/${encodeURIComponent(cb.phone)}`);
    assert(dnc.phone === cb.phone, `on the do-not-call list: ${JSON.stringify(dnc)}`);
  });

  await test('a changed link shows a plain page and changes nothing', async () => {
    const cb = await customerCallback();
    const link = linkOf(cb);
    const tampered = link.slice(0, -1) + (link.endsWith('A') ? 'B' : 'A');
    const resp = await phone.goto(tampered);
    assert(resp.status() === 404, `a changed token: ${resp.status()}`);
    await phone.getByRole('heading', { name: 'This link is not valid' }).waitFor();
    assert((await phone.getByRole('button').count()) === 0, 'no actions on an invalid link');
    await phone.screenshot({ path: join(SHOTS, 'customer-invalid.png'), fullPage: true });
    const after = await apiCall('GET', `/v1/callbacks/${cb.id}`);
    assert(after.status === 'scheduled', `unchanged: ${after.status}`);
  });

  await test('signing out ends the session', async () => {
    await sup.getByRole('button', { name: 'Sign out' }).click();
    await sup.getByRole('heading', { name: 'Sign in to Ringback' }).waitFor();
    const status = await sup.evaluate(async () => (await fetch('/ui/api/session')).status);
    assert(status === 401, `after sign-out: ${status}`);
  });
} finally {
  await browser.close();
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

const failed = results.filter(([ok]) => !ok).length;
console.log(`browser tests: ${results.length - failed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS}`);
if (failed) {
  console.log(serverLog.split('\n').slice(-20).join('\n'));
  process.exit(1);
}

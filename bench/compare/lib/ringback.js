'use strict';
// Ringback, on SQLite or on PostgreSQL: the same code path, only the database URL differs.
//
// The `ringback serve` process is the system under test; this driver process enqueues over the
// HTTP API (keep-alive connections) and runs the stand-in dialer bridge, which answers 200 at
// once and records when each dispatch arrived, by the callback id in its `Idempotency-Key`
// (`<callback id>:<attempt>`).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');

const { Receipts, nowMs, notePid, forgetPid, sleep, log } = require('./common');
const pgadmin = require('./pgadmin');

class SkipError extends Error {}

/** The bridge's accept backlog (the kernel caps it at net.core.somaxconn). */
const BRIDGE_BACKLOG = Number(process.env.COMPARE_BRIDGE_BACKLOG || 4096);

/** A valid US number, different for each n (as in benches/core.rs). */
function phone(n) {
  return `+1415${2000000 + (n % 8000000)}`;
}

function item(i, dueMs) {
  return {
    phone: phone(i),
    scheduled_at: new Date(dueMs).toISOString(),
    timezone: 'America/Los_Angeles',
    contact_name: `Bench Customer ${i}`,
    dialing_mode: 'progressive',
    allow_duplicate: true,
  };
}

function request(agent, method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(120000, () => req.destroy(new Error('request timed out')));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

function tail(file, lines = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

class Ringback {
  constructor(cfg, system, mode) {
    this.cfg = cfg;
    this.system = system;
    this.mode = mode;
    this.bin = process.env.RINGBACK_BIN;
    if (!this.bin) throw new Error('RINGBACK_BIN is not set (run.sh sets it)');
    this.backend = system === 'ringback-postgres' ? 'postgres' : 'sqlite';
    this.receipts = new Receipts(cfg.jobs);
    this.idToIndex = new Map();
    this.unresolved = [];
    this.accepted = new Uint8Array(cfg.jobs);
    this.enqueueFailed = 0;
    this.firstError = null;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringback-compare-'));
    this.dbName = null;
    this.child = null;
    this.bridge = null;
  }

  describe() {
    const v = spawnSync(this.bin, ['--version'], { encoding: 'utf8' });
    return {
      ringback: (v.stdout || '').trim() || 'unknown',
      ringback_commit: process.env.COMPARE_RINGBACK_COMMIT || 'unknown',
      backend: this.backend,
      server_flags: this.serverArgs ? this.serverArgs.slice(1).join(' ').replace(this.dbUrl, '<database url>') : undefined,
      bridge_backlog: BRIDGE_BACKLOG,
    };
  }

  /** Figures only this system has, read after the drain (its own /metrics among them). */
  async extras() {
    const out = { bridge_connections_opened: this.bridgeConnections };
    try {
      const r = await request(this.agent, 'GET', `${this.base}/metrics`, {});
      if (r.status === 200) {
        const text = r.body;
        const hist = (name) => promHistogram(text, name);
        out.server_dispatch_lateness = hist('ringback_dispatch_lateness_seconds');
        out.server_claim_duration = hist('ringback_claim_duration_seconds');
        out.bridge_errors = promSum(text, 'ringback_bridge_errors_total');
        out.bridge_retries = promSum(text, 'ringback_bridge_retries_total');
        out.dispatch_resends = promSum(text, 'ringback_dispatch_resends_total');
      }
    } catch (e) {
      out.metrics_error = String(e.message || e);
    }
    return out;
  }

  systemPid() {
    return this.child ? this.child.pid : null;
  }

  async setup() {
    if (this.backend === 'postgres') {
      this.dbName = `bench_ringback_${this.cfg.runId}_${this.mode}`;
      this.dbUrl = await pgadmin.createDatabase(this.cfg.pgAdminUrl, this.dbName);
    } else {
      this.dbUrl = `sqlite://${path.join(this.dir, 'ringback.db')}`;
    }

    // The account, with the CLI, as an operator would.
    const created = spawnSync(this.bin, ['accounts', 'create', 'bench', '--json', '--database-url', this.dbUrl], {
      encoding: 'utf8',
      env: { ...process.env, RUST_BACKTRACE: '0', RINGBACK_SECRET_KEY_FILE: path.join(this.dir, 'secret.key') },
    });
    if (created.status !== 0) {
      const reason = errorSummary(created.stderr) || `exit status ${created.status}`;
      if (this.backend === 'postgres') throw new SkipError(`ringback accounts create refused the postgres URL: ${reason}`);
      throw new Error(`ringback accounts create failed: ${reason}`);
    }
    this.apiKey = JSON.parse(created.stdout).api_key;

    await this.startBridge();

    const help = spawnSync(this.bin, ['serve', '--help'], { encoding: 'utf8' }).stdout || '';
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.serverArgs = [
      'serve',
      '--listen', `127.0.0.1:${port}`,
      '--database-url', this.dbUrl,
      '--min-lead-seconds', '1',
      '--dialer-url', this.bridgeUrl,
    ];
    // A throughput benchmark: lift the per-key request rate limit (default 50/s).
    if (help.includes('--rate-limit-per-second')) this.serverArgs.push('--rate-limit-per-second', '0');
    const extra = (process.env.RINGBACK_SERVER_ARGS || '').split(/\s+/).filter(Boolean);
    this.serverArgs.push(...extra);

    this.logFile = path.join(this.dir, 'server.log');
    const out = fs.openSync(this.logFile, 'w');
    this.child = spawn(this.bin, this.serverArgs, {
      stdio: ['ignore', out, out],
      env: { ...process.env, RUST_BACKTRACE: '0', RINGBACK_SECRET_KEY_FILE: path.join(this.dir, 'secret.key') },
    });
    fs.closeSync(out);
    notePid(this.cfg, this.child.pid, 'ringback serve');
    let exited = null;
    this.child.on('exit', (code, signal) => {
      exited = { code, signal };
    });

    this.agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(this.cfg.singleInFlight, this.cfg.bulkInFlight) });
    const started = Date.now();
    for (;;) {
      if (exited) {
        const reason = errorSummary(tail(this.logFile, 20)) || `exit ${exited.code}`;
        if (this.backend === 'postgres') throw new SkipError(`ringback serve exited on the postgres URL: ${reason}`);
        throw new Error(`ringback serve exited during start-up:\n${tail(this.logFile)}`);
      }
      try {
        const r = await request(this.agent, 'GET', `${this.base}/readyz`, {});
        if (r.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() - started > 60000) throw new Error(`ringback serve not ready after 60 s:\n${tail(this.logFile)}`);
      await sleep(20);
    }

    // Benchmarks run at any hour: calls may be placed all day, at the times asked for.
    const r = await request(
      this.agent,
      'PUT',
      `${this.base}/v1/settings`,
      this.headers(),
      JSON.stringify({
        calling_window: { start: '00:00', end: '24:00' },
        allow_customer_requested_times: true,
        max_attempts: null,
        attempt_window_days: 7,
      }),
    );
    if (r.status !== 200 && r.status !== 404) throw new Error(`PUT /v1/settings: ${r.status} ${r.body}`);
  }

  headers() {
    return { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' };
  }

  startBridge() {
    const receipts = this.receipts;
    const ids = this.idToIndex;
    const unresolved = this.unresolved;
    this.bridge = http.createServer((req, res) => {
      const t = nowMs();
      const key = req.headers['idempotency-key'] || '';
      const id = key.slice(0, key.lastIndexOf(':'));
      const i = ids.get(id);
      if (i === undefined) unresolved.push([id, t]);
      else receipts.record(i, t);
      req.resume();
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    });
    this.bridgeConnections = 0;
    this.bridge.on('connection', () => {
      this.bridgeConnections++;
    });
    // Ringback keeps bridge connections open; do not close them under it.
    this.bridge.keepAliveTimeout = 300000;
    this.bridge.headersTimeout = 301000;
    this.bridge.requestTimeout = 0;
    return new Promise((resolve, reject) => {
      this.bridge.once('error', reject);
      // Ringback opens many connections at once when a burst falls due; Node's default accept
      // backlog (511) overflows then, and the dropped SYNs come back after 1, 3 and 7 s.
      this.bridge.listen({ port: 0, host: '127.0.0.1', backlog: BRIDGE_BACKLOG }, () => {
        this.bridgeUrl = `http://127.0.0.1:${this.bridge.address().port}/dial`;
        resolve();
      });
    });
  }

  noteError(e) {
    if (!this.firstError) this.firstError = String(e).slice(0, 300);
  }

  async enqueueBatch(lo, hi, due) {
    const callbacks = [];
    for (let i = lo; i < hi; i++) callbacks.push(item(i, due[i]));
    try {
      const r = await request(this.agent, 'POST', `${this.base}/v1/callbacks/batch`, this.headers(), JSON.stringify({ callbacks }));
      if (r.status !== 200) {
        this.enqueueFailed += hi - lo;
        this.noteError(`${r.status} ${r.body}`);
        return;
      }
      const answer = JSON.parse(r.body);
      for (const res of answer.results) {
        if (res.id) {
          this.idToIndex.set(res.id, lo + res.index);
          this.accepted[lo + res.index] = 1;
        } else {
          this.enqueueFailed++;
          this.noteError(JSON.stringify(res.error));
        }
      }
    } catch (e) {
      this.enqueueFailed += hi - lo;
      this.noteError(e);
    }
  }

  async enqueueOne(i, dueMs) {
    try {
      const r = await request(this.agent, 'POST', `${this.base}/v1/callbacks`, this.headers(), JSON.stringify(item(i, dueMs)));
      if (r.status !== 201) {
        this.enqueueFailed++;
        this.noteError(`${r.status} ${r.body}`);
        return;
      }
      this.idToIndex.set(JSON.parse(r.body).id, i);
      this.accepted[i] = 1;
    } catch (e) {
      this.enqueueFailed++;
      this.noteError(e);
    }
  }

  progress() {
    return this.receipts.distinct + this.unresolved.length;
  }

  async collect() {
    // Dispatches that arrived before their create answer was read (only if the enqueue
    // overran the window), or with keys this run never created.
    const pending = this.unresolved.splice(0);
    for (const [id, t] of pending) {
      const i = this.idToIndex.get(id);
      this.receipts.record(i === undefined ? -1 : i, t);
    }
    return this.receipts;
  }

  async teardown() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const child = this.child;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15000);
      await gone;
      clearTimeout(t);
    }
    if (this.child) forgetPid(this.cfg, this.child.pid);
    if (this.agent) this.agent.destroy();
    if (this.bridge) {
      this.bridge.closeAllConnections();
      await new Promise((r) => this.bridge.close(r));
    }
    if (this.dbName) {
      await pgadmin.dropDatabase(this.cfg.pgAdminUrl, this.dbName).catch((e) => log(`could not drop ${this.dbName}: ${e.message}`));
    }
    if (process.env.COMPARE_KEEP_LOGS) log(`server log kept in ${this.logFile}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sum of every series of a Prometheus counter or gauge. */
function promSum(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
  }
  return sum;
}

/**
 * A Prometheus histogram summed over its series: count, mean and the upper bound of the
 * buckets holding p50 and p99 (in ms; the server's own view, before the HTTP call).
 */
function promHistogram(text, name) {
  const buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = (line.match(/le="([^"]+)"/) || [])[1];
    const v = Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    buckets.set(le, (buckets.get(le) || 0) + v);
  }
  const count = promSum(text, `${name}_count`);
  const sum = promSum(text, `${name}_sum`);
  if (!count) return null;
  const sorted = [...buckets.entries()]
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n])
    .sort((a, b) => a[0] - b[0]);
  const bound = (q) => {
    const hit = sorted.find(([, n]) => n >= q * count);
    return hit && Number.isFinite(hit[0]) ? hit[0] * 1000 : null;
  };
  return { count, mean_ms: (sum / count) * 1000, p50_le_ms: bound(0.5), p99_le_ms: bound(0.99) };
}

/** An anyhow error report on one line: "opening the store: unsupported database URL ...". */
function errorSummary(text) {
  const body = (text || '').split(/\n\s*Stack backtrace:/)[0];
  return body
    .split('\n')
    .map((l) => l.trim().replace(/^Error:\s*/, '').replace(/^\d+:\s*/, ''))
    .filter((l) => l && l !== 'Caused by:')
    .join(': ');
}

function firstLine(text) {
  return (text || '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)[0];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = require('node:net').createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

module.exports = { Ringback, SkipError };

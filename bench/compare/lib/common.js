'use strict';
// Shared by every system's driver and worker: settings, the clock, receipt bookkeeping,
// percentiles, /proc readings and the result record. The same code measures all systems.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

/** Wall-clock time in milliseconds since the Unix epoch, with sub-millisecond resolution. */
function nowMs() {
  return performance.timeOrigin + performance.now();
}

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
  return Math.round(n);
}

function envNum(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return n;
}

/** Settings shared by every trial (see README.md for the meaning of each variable). */
function settings() {
  return {
    jobs: envInt('COMPARE_JOBS', 100000),
    spreadS: envNum('COMPARE_SPREAD_S', 10),
    batchSize: envInt('COMPARE_BATCH', 1000),
    bulkInFlight: envInt('COMPARE_BULK_IN_FLIGHT', 4),
    singleInFlight: envInt('COMPARE_SINGLE_IN_FLIGHT', 64),
    // Lead time from the start of enqueueing to the first due time; by default from an
    // assumed (deliberately low) enqueue rate per system and mode, see leadSeconds().
    leadS: process.env.COMPARE_LEAD_S ? envNum('COMPARE_LEAD_S', 0) : null,
    drainTimeoutS: envNum('COMPARE_DRAIN_TIMEOUT_S', 120),
    graceS: envNum('COMPARE_GRACE_S', 2),
    quietWaitS: envNum('COMPARE_QUIET_WAIT_S', 0),
    runId: process.env.COMPARE_RUN_ID || String(Date.now()),
    resultsDir: process.env.COMPARE_RESULTS_DIR || path.join(__dirname, '..', 'results'),
    pidDir: process.env.COMPARE_PID_DIR || null,
    pgAdminUrl: process.env.COMPARE_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    redisHost: process.env.COMPARE_REDIS_HOST || '127.0.0.1',
    redisPort: envInt('COMPARE_REDIS_PORT', 6379),
  };
}

/**
 * Assumed enqueue rates (jobs/s), deliberately below what this 2-core machine measured, so the
 * first due time falls after the enqueue has finished. COMPARE_LEAD_S overrides the result.
 */
const ASSUMED_RATE = {
  'ringback-sqlite': { bulk: 10000, single: 2500 },
  'ringback-postgres': { bulk: 5000, single: 1500 },
  pgboss: { bulk: 8000, single: 900 },
  bullmq: { bulk: 4000, single: 3000 },
};

function leadSeconds(cfg, system, mode) {
  if (cfg.leadS !== null) return cfg.leadS;
  const rate = Number(process.env.COMPARE_ASSUMED_RATE) || (ASSUMED_RATE[system] || {})[mode] || 2000;
  return 3 + cfg.jobs / rate;
}

/** Integer due times (ms since the epoch), uniform over the spread, job 0 first. */
function dueTimes(startMs, jobs, spreadS) {
  const due = new Float64Array(jobs);
  const step = (spreadS * 1000) / jobs;
  for (let i = 0; i < jobs; i++) due[i] = Math.round(startMs + i * step);
  return due;
}

/**
 * What arrived: the first receipt time of each job and how often each arrived. A job is
 * identified by its index 0..jobs-1, whatever id the system itself gave it.
 */
class Receipts {
  constructor(jobs) {
    this.first = new Float64Array(jobs);
    this.count = new Uint32Array(jobs);
    this.distinct = 0;
    this.total = 0;
    this.unknown = 0;
    this.last = 0;
  }

  record(i, t) {
    this.total++;
    if (!Number.isInteger(i) || i < 0 || i >= this.count.length) {
      this.unknown++;
      return;
    }
    if (this.count[i] === 0) {
      this.first[i] = t;
      this.distinct++;
    }
    this.count[i]++;
    if (t > this.last) this.last = t;
  }

  /** Plain object that survives structured clone (IPC with serialization 'advanced'). */
  toTransfer() {
    return {
      first: this.first,
      count: this.count,
      distinct: this.distinct,
      total: this.total,
      unknown: this.unknown,
      last: this.last,
    };
  }

  static fromTransfer(o) {
    const r = new Receipts(o.count.length);
    r.first = o.first;
    r.count = o.count;
    r.distinct = o.distinct;
    r.total = o.total;
    r.unknown = o.unknown;
    r.last = o.last;
    return r;
  }
}

/** Exact quantile of a sorted Float64Array (nearest rank). */
function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Lateness, drain and exactly-once figures of one trial. */
function analyse(receipts, due, windowStartMs, accepted) {
  const jobs = due.length;
  let expected = 0;
  const lateness = new Float64Array(receipts.distinct);
  let k = 0;
  let early = 0;
  let duplicates = 0;
  let missing = 0;
  for (let i = 0; i < jobs; i++) {
    const c = receipts.count[i];
    if (accepted[i]) expected++;
    if (c === 0) {
      if (accepted[i]) missing++;
      continue;
    }
    duplicates += c - 1;
    const l = receipts.first[i] - due[i];
    if (l < 0) early++;
    lateness[k++] = l;
  }
  lateness.sort();
  const windowEndMs = due[jobs - 1];
  const drainMs = receipts.distinct > 0 ? receipts.last - windowStartMs : NaN;
  return {
    expected,
    received_total: receipts.total,
    distinct: receipts.distinct,
    duplicates,
    missing,
    unknown_ids: receipts.unknown,
    early,
    lateness_ms: {
      p50: quantile(lateness, 0.5),
      p90: quantile(lateness, 0.9),
      p99: quantile(lateness, 0.99),
      p999: quantile(lateness, 0.999),
      max: lateness.length ? lateness[lateness.length - 1] : NaN,
      min: lateness.length ? lateness[0] : NaN,
      mean: lateness.length ? lateness.reduce((a, b) => a + b, 0) / lateness.length : NaN,
    },
    drain_ms: drainMs,
    drain_jobs_per_s: receipts.distinct > 0 ? receipts.distinct / (drainMs / 1000) : 0,
    last_receipt_after_last_due_ms: receipts.distinct > 0 ? receipts.last - windowEndMs : NaN,
  };
}

// --- /proc readings --------------------------------------------------------------------------

/** VmRSS and VmHWM (peak RSS) of a process, in kB; null when it is gone. */
function memoryKb(pid) {
  let status;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { rss_kb: field('VmRSS'), hwm_kb: field('VmHWM') };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function processTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime are fields 14 and 15 of the line: 11 and 12 after the name.
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

function machineTicks() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq
  return v[0] + v[1] + v[2] + v[5] + v[6];
}

/** CPU snapshot of the machine, the system's process (server or worker) and this driver. */
function cpuSnapshot(systemPid) {
  return {
    at: nowMs(),
    machine: machineTicks(),
    system: systemPid ? processTicks(systemPid) : 0,
    driver: processTicks(process.pid),
  };
}

/** Cores kept busy between two snapshots. `rest` includes PostgreSQL or Redis. */
function cpuBetween(a, b) {
  const secs = Math.max(1e-3, (b.at - a.at) / 1000);
  const cores = (t) => t / TICKS_PER_SECOND / secs;
  const system = cores(Math.max(0, b.system - a.system));
  const driver = cores(Math.max(0, b.driver - a.driver));
  const machine = cores(Math.max(0, b.machine - a.machine));
  return {
    system: round(system, 2),
    driver: round(driver, 2),
    rest: round(Math.max(0, machine - system - driver), 2),
  };
}

function round(x, digits) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Cores busy on the whole machine over `ms` milliseconds. */
async function machineBusy(ms) {
  const a = cpuSnapshot(null);
  await sleep(ms);
  const b = cpuSnapshot(null);
  return round((b.machine - a.machine) / TICKS_PER_SECOND / ((b.at - a.at) / 1000), 2);
}

/**
 * Waits (up to `maxS` seconds) until less than `threshold` cores are busy, so that a trial does
 * not start beside another job. Returns the last reading.
 */
async function waitQuiet(maxS, threshold = 0.3) {
  const until = nowMs() + maxS * 1000;
  let busy = await machineBusy(1000);
  let said = false;
  while (busy >= threshold && nowMs() < until) {
    if (!said) {
      log(`the machine is busy (${busy} cores); waiting up to ${maxS} s for it to calm down`);
      said = true;
    }
    busy = await machineBusy(2000);
  }
  return busy;
}

// --- bookkeeping -----------------------------------------------------------------------------

/** Records a child pid so that run.sh's exit trap can end it if this driver dies. */
function notePid(cfg, pid, what) {
  if (!cfg.pidDir || !pid) return;
  try {
    fs.writeFileSync(path.join(cfg.pidDir, `${pid}.pid`), `${pid} ${what}\n`);
  } catch {
    /* best effort */
  }
}

function forgetPid(cfg, pid) {
  if (!cfg.pidDir || !pid) return;
  try {
    fs.unlinkSync(path.join(cfg.pidDir, `${pid}.pid`));
  } catch {
    /* best effort */
  }
}

function log(...args) {
  const t = new Date().toISOString().slice(11, 23);
  console.log(`[${t}]`, ...args);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `fn(i)` for i in 0..count-1 with at most `inFlight` pending at once. */
async function pool(count, inFlight, fn) {
  let next = 0;
  const lanes = [];
  for (let l = 0; l < Math.min(inFlight, count); l++) {
    lanes.push(
      (async () => {
        for (;;) {
          const i = next++;
          if (i >= count) return;
          await fn(i);
        }
      })(),
    );
  }
  await Promise.all(lanes);
}

function writeResult(cfg, record) {
  fs.mkdirSync(cfg.resultsDir, { recursive: true });
  const file = path.join(cfg.resultsDir, `trial-${record.system}-${record.mode}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  return file;
}

function machineFacts() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu_model: cpus[0] ? cpus[0].model : 'unknown',
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    kernel: os.release(),
    node: process.version,
  };
}

module.exports = {
  nowMs,
  settings,
  leadSeconds,
  dueTimes,
  Receipts,
  quantile,
  analyse,
  memoryKb,
  cpuSnapshot,
  cpuBetween,
  round,
  notePid,
  forgetPid,
  log,
  sleep,
  pool,
  writeResult,
  machineFacts,
  machineBusy,
  waitQuiet,
};

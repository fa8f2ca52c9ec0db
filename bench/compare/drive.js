'use strict';
// One trial: `node drive.js <system> <mode>`, system one of ringback-sqlite, ringback-postgres,
// pgboss, bullmq; mode bulk or single. Sets the system up, enqueues COMPARE_JOBS jobs due
// uniformly over COMPARE_SPREAD_S seconds starting a lead time after the enqueue starts, waits
// until every job has been received (or the drain time-out), and writes
// results/trial-<system>-<mode>.json. run.sh runs the trials one after another, then report.js.

const c = require('./lib/common');

const SYSTEMS = ['ringback-sqlite', 'ringback-postgres', 'pgboss', 'bullmq'];
const MODES = ['bulk', 'single'];

function adapterFor(cfg, system, mode) {
  if (system.startsWith('ringback-')) {
    const { Ringback } = require('./lib/ringback');
    return new Ringback(cfg, system, mode);
  }
  if (system === 'pgboss') {
    const { PgBossSystem } = require('./lib/pgboss');
    return new PgBossSystem(cfg, system, mode);
  }
  const { BullMqSystem } = require('./lib/bullmq');
  return new BullMqSystem(cfg, system, mode);
}

async function trial(cfg, system, mode, record) {
  const sys = adapterFor(cfg, system, mode);
  let stopping = false;
  const onSignal = async (sig) => {
    if (stopping) return;
    stopping = true;
    c.log(`${sig}: cleaning up`);
    await sys.teardown().catch(() => {});
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // How busy the machine was just before (anything above 0 competes with the trial).
    record.busy_cores_before = await c.waitQuiet(cfg.quietWaitS);
    c.log(`${system} / ${mode}: setting up (machine busy ${record.busy_cores_before} cores before)`);
    await sys.setup();
    record.info = sys.describe();

    const jobs = cfg.jobs;
    const leadS = c.leadSeconds(cfg, system, mode);
    const t0 = c.nowMs();
    const windowStart = Math.round(t0 + leadS * 1000);
    const due = c.dueTimes(windowStart, jobs, cfg.spreadS);
    const windowEnd = due[jobs - 1];
    const inFlight = mode === 'bulk' ? cfg.bulkInFlight : cfg.singleInFlight;
    c.log(`enqueueing ${jobs} jobs (${mode}, ${inFlight} in flight); first due in ${leadS.toFixed(1)} s`);

    const cpuEnq0 = c.cpuSnapshot(sys.systemPid());
    if (mode === 'bulk') {
      const batches = Math.ceil(jobs / cfg.batchSize);
      await c.pool(batches, inFlight, (b) =>
        sys.enqueueBatch(b * cfg.batchSize, Math.min(jobs, (b + 1) * cfg.batchSize), due),
      );
    } else {
      await c.pool(jobs, inFlight, (i) => sys.enqueueOne(i, due[i]));
    }
    const t1 = c.nowMs();
    const cpuEnq1 = c.cpuSnapshot(sys.systemPid());
    const accepted = sys.accepted.reduce((a, b) => a + b, 0);
    const slackS = (windowStart - t1) / 1000;
    record.enqueue = {
      in_flight: inFlight,
      batch: mode === 'bulk' ? cfg.batchSize : 1,
      seconds: c.round((t1 - t0) / 1000, 3),
      jobs_per_s: Math.round(accepted / ((t1 - t0) / 1000)),
      accepted,
      failed: sys.enqueueFailed,
      first_error: sys.firstError || undefined,
      cpu_cores: c.cpuBetween(cpuEnq0, cpuEnq1),
    };
    record.window = {
      lead_s: c.round(leadS, 2),
      slack_s: c.round(slackS, 3),
      overran: slackS < 0,
    };
    c.log(
      `enqueued ${accepted} (failed ${sys.enqueueFailed}) in ${record.enqueue.seconds} s = ` +
        `${record.enqueue.jobs_per_s} jobs/s; first due ${slackS.toFixed(2)} s later`,
    );
    if (sys.firstError) c.log(`first enqueue error: ${sys.firstError}`);
    if (slackS < 0) {
      c.log(`WARNING: the enqueue overran the first due time by ${(-slackS).toFixed(2)} s (raise COMPARE_LEAD_S)`);
    }

    // Wait for the window to open, then for every accepted job (or the time-out).
    const waitOpen = windowStart - c.nowMs();
    if (waitOpen > 0) await c.sleep(waitOpen);
    const cpuDrain0 = c.cpuSnapshot(sys.systemPid());
    const giveUp = windowEnd + cfg.drainTimeoutS * 1000;
    let lastLog = 0;
    while (sys.progress() < accepted && c.nowMs() < giveUp) {
      await c.sleep(20);
      if (c.nowMs() - lastLog > 5000) {
        lastLog = c.nowMs();
        c.log(`received ${sys.progress()} of ${accepted}`);
      }
    }
    const cpuDrain1 = c.cpuSnapshot(sys.systemPid());
    record.timed_out = sys.progress() < accepted;
    if (record.timed_out) c.log(`gave up waiting ${cfg.drainTimeoutS} s after the last due time`);
    // A little longer, to catch duplicates.
    await c.sleep(cfg.graceS * 1000);

    const mem = c.memoryKb(sys.systemPid()) || { rss_kb: 0, hwm_kb: 0 };
    const driverMem = c.memoryKb(process.pid);
    const receipts = await sys.collect();
    record.results = c.analyse(receipts, due, windowStart, sys.accepted);
    record.memory = {
      process: system.startsWith('ringback-') ? 'ringback serve' : 'node worker',
      peak_rss_kb: mem.hwm_kb,
      rss_kb: mem.rss_kb,
      driver_peak_rss_kb: driverMem ? driverMem.hwm_kb : 0,
    };
    record.cpu_cores_drain = c.cpuBetween(cpuDrain0, cpuDrain1);
    if (sys.extras) record.extras = await sys.extras();
    if (process.env.COMPARE_DUMP_DIR) dumpReceipts(process.env.COMPARE_DUMP_DIR, system, mode, due, receipts);
    const r = record.results;
    c.log(
      `received ${r.distinct} distinct (dup ${r.duplicates}, missing ${r.missing}); lateness p50 ` +
        `${r.lateness_ms.p50.toFixed(1)} p99 ${r.lateness_ms.p99.toFixed(1)} max ${r.lateness_ms.max.toFixed(1)} ms; ` +
        `drain ${(r.drain_ms / 1000).toFixed(2)} s; peak RSS ${(mem.hwm_kb / 1024).toFixed(1)} MB`,
    );
  } finally {
    await sys.teardown().catch((e) => c.log(`teardown: ${e.message}`));
  }
}

/** Every job's due time, first receipt and receipt count, as CSV (for a closer look). */
function dumpReceipts(dir, system, mode, due, receipts) {
  const fs = require('node:fs');
  const path = require('node:path');
  fs.mkdirSync(dir, { recursive: true });
  const lines = ['job,due_ms,first_receipt_ms,lateness_ms,receipts'];
  for (let i = 0; i < due.length; i++) {
    const n = receipts.count[i];
    const first = n ? receipts.first[i].toFixed(3) : '';
    const late = n ? (receipts.first[i] - due[i]).toFixed(3) : '';
    lines.push(`${i},${due[i]},${first},${late},${n}`);
  }
  const file = path.join(dir, `receipts-${system}-${mode}.csv`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  c.log(`wrote ${file}`);
}

async function main() {
  const [system, mode] = process.argv.slice(2);
  if (!SYSTEMS.includes(system) || !MODES.includes(mode)) {
    console.error(`usage: node drive.js <${SYSTEMS.join('|')}> <${MODES.join('|')}>`);
    process.exit(2);
  }
  const cfg = c.settings();
  const record = {
    system,
    mode,
    run_id: cfg.runId,
    started_at: new Date().toISOString(),
    jobs: cfg.jobs,
    spread_s: cfg.spreadS,
    note: process.env.COMPARE_NOTE || undefined,
  };
  let code = 0;
  try {
    await trial(cfg, system, mode, record);
  } catch (e) {
    const { SkipError } = require('./lib/ringback');
    const unreachable = /ECONNREFUSED/.test(String(e && e.message)) || (e && e.code === 'ECONNREFUSED');
    if (e instanceof SkipError || (unreachable && !record.enqueue && system !== 'ringback-sqlite')) {
      record.skipped = unreachable ? `${system === 'bullmq' ? 'Redis' : 'PostgreSQL'} is not reachable (${e.message})` : e.message;
      console.log(`\n*** SKIPPED: ${system}: ${e.message} ***\n`);
    } else {
      record.error = String(e && e.stack ? e.stack : e).slice(0, 2000);
      console.error(`\n*** FAILED: ${system} / ${mode}: ${e && e.message ? e.message : e} ***\n`);
      code = 1;
    }
  }
  const file = c.writeResult(cfg, record);
  c.log(`wrote ${file}`);
  process.exit(code);
}

main();

'use strict';
// pg-boss on the local PostgreSQL, in a fresh database per trial.
//
// Enqueue: `insert()` of 1,000 jobs per call (bulk) or `send()` one job per call (single), each
// with `startAfter` = its due time. The worker (worker.js, its own process) polls with
// `pollingIntervalSeconds: 0.5`, the minimum pg-boss allows.

const PgBoss = require('pg-boss');

const { log } = require('./common');
const pgadmin = require('./pgadmin');
const { ForkedWorker } = require('./forked');

const QUEUE = 'bench';

/** Worker settings (pg-boss 10 has no teamSize: concurrency is pollers x batchSize). */
function workerSettings() {
  return {
    pollers: Number(process.env.COMPARE_PGBOSS_POLLERS || 8),
    batchSize: Number(process.env.COMPARE_PGBOSS_BATCH_SIZE || 1000),
    pollingIntervalSeconds: Number(process.env.COMPARE_PGBOSS_POLLING_S || 0.5),
    pool: Number(process.env.COMPARE_PGBOSS_WORKER_POOL || 20),
    // Start the polling loops spread over one interval (0: all at once, in phase).
    stagger: process.env.COMPARE_PGBOSS_STAGGER !== '0',
  };
}

class PgBossSystem {
  constructor(cfg, system, mode) {
    this.cfg = cfg;
    this.mode = mode;
    this.dbName = `bench_pgboss_${cfg.runId}_${mode}`;
    this.accepted = new Uint8Array(cfg.jobs);
    this.enqueueFailed = 0;
    this.firstError = null;
    this.worker = null;
    this.boss = null;
    this.enqueuePool = Number(process.env.COMPARE_PGBOSS_ENQUEUE_POOL || 32);
  }

  describe() {
    return {
      'pg-boss': require('pg-boss/package.json').version,
      worker: workerSettings(),
      enqueue_pool: this.enqueuePool,
    };
  }

  systemPid() {
    return this.worker ? this.worker.pid : null;
  }

  async setup() {
    this.dbUrl = await pgadmin.createDatabase(this.cfg.pgAdminUrl, this.dbName);
    // The enqueuing side: no maintenance or cron here; the worker's instance does that.
    this.boss = new PgBoss({ connectionString: this.dbUrl, max: this.enqueuePool, supervise: false, schedule: false });
    this.boss.on('error', (e) => log(`pg-boss (enqueue) error: ${e.message}`));
    await this.boss.start();
    await this.boss.createQueue(QUEUE);
    this.worker = new ForkedWorker(this.cfg, {
      COMPARE_WORKER_SYSTEM: 'pgboss',
      COMPARE_WORKER_DB_URL: this.dbUrl,
      COMPARE_WORKER_QUEUE: QUEUE,
      COMPARE_WORKER_SETTINGS: JSON.stringify(workerSettings()),
    });
    await this.worker.start();
  }

  noteError(e) {
    if (!this.firstError) this.firstError = String(e && e.message ? e.message : e).slice(0, 300);
  }

  async enqueueBatch(lo, hi, due) {
    const jobs = [];
    for (let i = lo; i < hi; i++) jobs.push({ name: QUEUE, data: { i }, startAfter: new Date(due[i]) });
    try {
      await this.boss.insert(jobs);
      for (let i = lo; i < hi; i++) this.accepted[i] = 1;
    } catch (e) {
      this.enqueueFailed += hi - lo;
      this.noteError(e);
    }
  }

  async enqueueOne(i, dueMs) {
    try {
      const id = await this.boss.send(QUEUE, { i }, { startAfter: new Date(dueMs) });
      if (id) this.accepted[i] = 1;
      else {
        this.enqueueFailed++;
        this.noteError('send() returned no id');
      }
    } catch (e) {
      this.enqueueFailed++;
      this.noteError(e);
    }
  }

  progress() {
    return this.worker.distinct;
  }

  collect() {
    return this.worker.receipts();
  }

  async teardown() {
    if (this.worker) await this.worker.stop().catch((e) => log(`stopping the worker: ${e.message}`));
    if (this.boss) await this.boss.stop({ graceful: false, wait: true }).catch(() => {});
    await pgadmin.dropDatabase(this.cfg.pgAdminUrl, this.dbName).catch((e) => log(`could not drop ${this.dbName}: ${e.message}`));
  }
}

module.exports = { PgBossSystem, QUEUE };

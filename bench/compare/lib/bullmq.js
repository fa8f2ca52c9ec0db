'use strict';
// BullMQ on the local Redis, under a key prefix of its own that is flushed before and after.
//
// Enqueue: `addBulk()` of 1,000 jobs per call (bulk) or `add()` one job per call (single), each
// a delayed job (`delay` = due time - now, with `timestamp` = now so the due time is exact).
// The worker (worker.js, its own process) is one BullMQ Worker with `concurrency` 500.

const { Queue } = require('bullmq');
const IORedis = require('ioredis');

const { log } = require('./common');
const { ForkedWorker } = require('./forked');

const QUEUE = 'bench';

function workerSettings() {
  return { concurrency: Number(process.env.COMPARE_BULLMQ_CONCURRENCY || 500) };
}

/** Deletes every key under `prefix` (UNLINK, in pages of SCAN). */
async function flushPrefix(host, port, prefix) {
  const redis = new IORedis({ host, port, lazyConnect: true, maxRetriesPerRequest: 3, retryStrategy: () => null });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

async function redisVersion(host, port) {
  const redis = new IORedis({ host, port, lazyConnect: true, maxRetriesPerRequest: 3, retryStrategy: () => null });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const m = info.match(/redis_version:(\S+)/);
    return m ? m[1] : 'unknown';
  } finally {
    redis.disconnect();
  }
}

class BullMqSystem {
  constructor(cfg, system, mode) {
    this.cfg = cfg;
    this.mode = mode;
    this.prefix = `bench-compare-${cfg.runId}-${mode}`;
    this.connection = { host: cfg.redisHost, port: cfg.redisPort, maxRetriesPerRequest: null };
    this.accepted = new Uint8Array(cfg.jobs);
    this.enqueueFailed = 0;
    this.firstError = null;
    this.queue = null;
    this.worker = null;
  }

  describe() {
    return {
      bullmq: require('bullmq/package.json').version,
      ioredis: require('ioredis/package.json').version,
      worker: workerSettings(),
      prefix: this.prefix,
    };
  }

  systemPid() {
    return this.worker ? this.worker.pid : null;
  }

  async setup() {
    await flushPrefix(this.cfg.redisHost, this.cfg.redisPort, this.prefix);
    this.queue = new Queue(QUEUE, { connection: this.connection, prefix: this.prefix });
    this.queue.on('error', (e) => log(`BullMQ queue error: ${e.message}`));
    await this.queue.waitUntilReady();
    this.worker = new ForkedWorker(this.cfg, {
      COMPARE_WORKER_SYSTEM: 'bullmq',
      COMPARE_WORKER_QUEUE: QUEUE,
      COMPARE_WORKER_PREFIX: this.prefix,
      COMPARE_WORKER_SETTINGS: JSON.stringify({ ...workerSettings(), connection: this.connection }),
    });
    await this.worker.start();
  }

  noteError(e) {
    if (!this.firstError) this.firstError = String(e && e.message ? e.message : e).slice(0, 300);
  }

  async enqueueBatch(lo, hi, due) {
    const now = Date.now();
    const jobs = [];
    for (let i = lo; i < hi; i++) {
      jobs.push({ name: 'job', data: { i }, opts: { timestamp: now, delay: Math.max(0, due[i] - now) } });
    }
    try {
      await this.queue.addBulk(jobs);
      for (let i = lo; i < hi; i++) this.accepted[i] = 1;
    } catch (e) {
      this.enqueueFailed += hi - lo;
      this.noteError(e);
    }
  }

  async enqueueOne(i, dueMs) {
    const now = Date.now();
    try {
      await this.queue.add('job', { i }, { timestamp: now, delay: Math.max(0, dueMs - now) });
      this.accepted[i] = 1;
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
    if (this.queue) await this.queue.close().catch(() => {});
    await flushPrefix(this.cfg.redisHost, this.cfg.redisPort, this.prefix).catch((e) =>
      log(`could not flush ${this.prefix}: ${e.message}`),
    );
  }
}

module.exports = { BullMqSystem, flushPrefix, redisVersion, QUEUE };

'use strict';
// The worker process of a queue library (pg-boss or BullMQ), forked by the driver.
// A job counts as received when the library calls the handler with it; the handler records
// the time and returns at once (the job then completes as the library does by default).

const { Receipts, nowMs, settings, sleep } = require('./lib/common');

const cfg = settings();
const system = process.env.COMPARE_WORKER_SYSTEM;
const queue = process.env.COMPARE_WORKER_QUEUE;
const ws = JSON.parse(process.env.COMPARE_WORKER_SETTINGS || '{}');
const receipts = new Receipts(cfg.jobs);

let stopLibrary = async () => {};

function say(m) {
  if (process.connected) process.send(m);
}

async function startPgBoss() {
  const PgBoss = require('pg-boss');
  const boss = new PgBoss({ connectionString: process.env.COMPARE_WORKER_DB_URL, max: ws.pool });
  boss.on('error', (e) => console.error(`pg-boss (worker) error: ${e.message}`));
  await boss.start();
  const handler = async (jobs) => {
    const t = nowMs();
    for (const job of jobs) receipts.record(job.data.i, t);
  };
  // Each work() call is one polling loop; start them evenly spread over one polling interval
  // so that together they poll every interval / pollers.
  const gap = ws.stagger ? (ws.pollingIntervalSeconds * 1000) / ws.pollers : 0;
  for (let p = 0; p < ws.pollers; p++) {
    await boss.work(queue, { batchSize: ws.batchSize, pollingIntervalSeconds: ws.pollingIntervalSeconds }, handler);
    if (p + 1 < ws.pollers) await sleep(gap);
  }
  stopLibrary = () => boss.stop({ graceful: true, wait: true, timeout: 5000 });
}

async function startBullMq() {
  const { Worker } = require('bullmq');
  const worker = new Worker(
    queue,
    async (job) => {
      receipts.record(job.data.i, nowMs());
    },
    { connection: ws.connection, prefix: process.env.COMPARE_WORKER_PREFIX, concurrency: ws.concurrency },
  );
  worker.on('error', (e) => console.error(`BullMQ worker error: ${e.message}`));
  await worker.waitUntilReady();
  stopLibrary = () => worker.close(true);
}

async function main() {
  if (system === 'pgboss') await startPgBoss();
  else if (system === 'bullmq') await startBullMq();
  else throw new Error(`unknown worker system ${system}`);

  let reported = -1;
  const progress = setInterval(() => {
    if (receipts.distinct !== reported) {
      reported = receipts.distinct;
      say({ type: 'progress', distinct: receipts.distinct, total: receipts.total });
    }
  }, 100);

  process.on('message', async (m) => {
    if (m.type === 'dump') {
      say({ type: 'progress', distinct: receipts.distinct, total: receipts.total });
      say({ type: 'receipts', receipts: receipts.toTransfer() });
    } else if (m.type === 'stop') {
      clearInterval(progress);
      await Promise.race([stopLibrary().catch(() => {}), sleep(10000)]);
      process.exit(0);
    }
  });
  say({ type: 'ready' });
}

// The driver is gone: nobody will read what this process records.
process.on('disconnect', () => process.exit(1));

main().catch((e) => {
  console.error(`worker failed: ${e.stack || e}`);
  process.exit(1);
});

'use strict';
// The worker of a queue library runs in its own Node process (worker.js), so that its peak
// memory is its own. This is the driver's side of it: start, progress, receipts, stop.

const path = require('node:path');
const { fork } = require('node:child_process');

const { Receipts, notePid, forgetPid, log } = require('./common');

class ForkedWorker {
  constructor(cfg, env) {
    this.cfg = cfg;
    this.env = env;
    this.child = null;
    this.distinct = 0;
    this.waiters = new Map();
  }

  get pid() {
    return this.child ? this.child.pid : null;
  }

  start() {
    this.child = fork(path.join(__dirname, '..', 'worker.js'), [], {
      env: { ...process.env, ...this.env },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    notePid(this.cfg, this.child.pid, 'queue worker');
    this.child.on('message', (m) => {
      if (m.type === 'progress') this.distinct = m.distinct;
      const w = this.waiters.get(m.type);
      if (w) {
        this.waiters.delete(m.type);
        w.resolve(m);
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      for (const w of this.waiters.values()) w.reject(new Error(`worker exited (${code ?? signal})`));
      this.waiters.clear();
    });
    return this.waitFor('ready', 60000);
  }

  waitFor(type, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('worker has exited'));
      const t = setTimeout(() => {
        this.waiters.delete(type);
        reject(new Error(`worker did not send ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(type, {
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }

  async receipts() {
    const p = this.waitFor('receipts', 60000);
    this.child.send({ type: 'dump' });
    const m = await p;
    return Receipts.fromTransfer(m.receipts);
  }

  async stop() {
    if (!this.child) return;
    const child = this.child;
    if (!this.exited) {
      const gone = new Promise((r) => child.once('exit', r));
      try {
        child.send({ type: 'stop' });
      } catch {
        child.kill('SIGTERM');
      }
      const t = setTimeout(() => {
        log('worker did not stop within 15 s; killing it');
        child.kill('SIGKILL');
      }, 15000);
      await gone;
      clearTimeout(t);
    }
    forgetPid(this.cfg, child.pid);
  }
}

module.exports = { ForkedWorker };

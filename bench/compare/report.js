'use strict';
// Gathers the trial records of one run (results/trial-*.json), prints the comparison table and
// writes results/results.json and results/results.md.

const fs = require('node:fs');
const path = require('node:path');

const c = require('./lib/common');

const ORDER = ['ringback-sqlite', 'ringback-postgres', 'pgboss', 'bullmq'];
const MODE_ORDER = ['bulk', 'single'];

function fmtInt(n) {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

function fmtMs(n) {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? fmtInt(n) : n.toFixed(1);
}

function fmtS(n) {
  return Number.isFinite(n) ? n.toFixed(2) : '-';
}

async function versions(cfg) {
  const out = {};
  try {
    out['pg-boss'] = require('pg-boss/package.json').version;
  } catch {
    out['pg-boss'] = 'not installed';
  }
  try {
    out.bullmq = require('bullmq/package.json').version;
  } catch {
    out.bullmq = 'not installed';
  }
  try {
    out.postgresql = await require('./lib/pgadmin').serverVersion(cfg.pgAdminUrl);
  } catch (e) {
    out.postgresql = `unavailable (${e.message})`;
  }
  try {
    out.redis = await require('./lib/bullmq').redisVersion(cfg.redisHost, cfg.redisPort);
  } catch (e) {
    out.redis = `unavailable (${e.message})`;
  }
  out.ringback = process.env.COMPARE_RINGBACK_VERSION || 'unknown';
  out.ringback_commit = process.env.COMPARE_RINGBACK_COMMIT || 'unknown';
  return out;
}

function row(t) {
  const base = [t.system, t.mode];
  if (t.skipped) return [...base, `SKIPPED: ${t.skipped}`];
  if (t.error || !t.results) return [...base, `FAILED: ${(t.error || 'no results').split('\n')[0]}`];
  const r = t.results;
  const e = t.enqueue;
  return [
    ...base,
    fmtInt(e.jobs_per_s) + (e.failed ? ` (${fmtInt(e.failed)} failed)` : ''),
    fmtS(t.window.slack_s) + (t.window.overran ? ' OVERRAN' : ''),
    fmtS(r.drain_ms / 1000) + (t.timed_out ? ' (timed out)' : ''),
    fmtInt(r.drain_jobs_per_s),
    fmtMs(r.lateness_ms.p50),
    fmtMs(r.lateness_ms.p99),
    fmtMs(r.lateness_ms.max),
    fmtInt(r.distinct),
    fmtInt(r.duplicates),
    fmtInt(r.missing),
    (t.memory.peak_rss_kb / 1024).toFixed(1),
  ];
}

const HEADER = [
  'system',
  'mode',
  'enqueue jobs/s',
  'slack s',
  'drain s',
  'drain jobs/s',
  'late p50 ms',
  'late p99 ms',
  'late max ms',
  'distinct',
  'dup',
  'missing',
  'peak RSS MB',
];

function markdownTable(header, rows) {
  const width = header.length;
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = r.length < width ? [...r, ...Array(width - r.length).fill('')] : r;
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function textTable(header, rows) {
  // A skipped or failed row has one long cell after system and mode; keep it out of the widths.
  const widths = header.map((h) => h.length);
  for (const r of rows) {
    if (r.length < header.length) continue;
    r.forEach((cell, k) => {
      widths[k] = Math.max(widths[k], String(cell).length);
    });
  }
  const fmt = (r) =>
    r.length < header.length
      ? `| ${r[0].padEnd(widths[0])} | ${r[1].padEnd(widths[1])} | ${r.slice(2).join(' ')}`
      : `| ${r.map((cell, k) => (k < 2 ? String(cell).padEnd(widths[k]) : String(cell).padStart(widths[k]))).join(' | ')} |`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [fmt(header), sep, ...rows.map(fmt)].join('\n');
}

async function main() {
  const cfg = c.settings();
  const files = fs.existsSync(cfg.resultsDir)
    ? fs.readdirSync(cfg.resultsDir).filter((f) => /^trial-.*\.json$/.test(f))
    : [];
  const trials = files
    .map((f) => JSON.parse(fs.readFileSync(path.join(cfg.resultsDir, f), 'utf8')))
    .filter((t) => t.run_id === cfg.runId)
    .sort(
      (a, b) =>
        ORDER.indexOf(a.system) - ORDER.indexOf(b.system) || MODE_ORDER.indexOf(a.mode) - MODE_ORDER.indexOf(b.mode),
    );
  const machine = { ...c.machineFacts(), ...(await versions(cfg)) };
  const workload = {
    jobs: cfg.jobs,
    spread_s: cfg.spreadS,
    batch: cfg.batchSize,
    bulk_in_flight: cfg.bulkInFlight,
    single_in_flight: cfg.singleInFlight,
  };

  const rows = trials.map(row);
  const cpuRows = trials
    .filter((t) => t.results)
    .map((t) => [
      t.system,
      t.mode,
      `${t.enqueue.cpu_cores.system} / ${t.enqueue.cpu_cores.driver} / ${t.enqueue.cpu_cores.rest}`,
      `${t.cpu_cores_drain.system} / ${t.cpu_cores_drain.driver} / ${t.cpu_cores_drain.rest}`,
      String(t.busy_cores_before ?? '-'),
      (t.memory.driver_peak_rss_kb / 1024).toFixed(1),
      String(t.results.early),
      fmtMs(t.results.last_receipt_after_last_due_ms),
    ]);
  const cpuHeader = [
    'system',
    'mode',
    'CPU cores enqueue (system / driver / rest)',
    'CPU cores drain (system / driver / rest)',
    'busy cores before',
    'driver peak RSS MB',
    'early',
    'last receipt after last due ms',
  ];

  const facts =
    `Machine: ${machine.cores} cores (${machine.cpu_model}), ${machine.memory_gib} GiB, Linux ${machine.kernel}, Node ${machine.node}\n` +
    `Versions: ringback ${machine.ringback} (${machine.ringback_commit}), pg-boss ${machine['pg-boss']}, bullmq ${machine.bullmq}, ` +
    `PostgreSQL ${machine.postgresql}, Redis ${machine.redis}\n` +
    `Workload: ${fmtInt(cfg.jobs)} jobs due uniformly over ${cfg.spreadS} s; bulk = batches of ${cfg.batchSize}, ` +
    `${cfg.bulkInFlight} in flight; single = one job per request/call, ${cfg.singleInFlight} in flight`;
  const notes =
    'slack = first due time minus end of enqueue (negative: OVERRAN, the enqueue was still running when jobs fell due). ' +
    'drain = first due time to last job received. lateness = receive time minus due time (handler start / bridge receipt). ' +
    'peak RSS = VmHWM of the ringback server or of the Node worker process; PostgreSQL and Redis are external and not counted. ' +
    'CPU: cores busy in the system process (server or worker), the driver (enqueuer, and for Ringback the stand-in bridge) ' +
    'and the rest of the machine (PostgreSQL or Redis, anything else).';

  const trialNotes = [];
  for (const t of trials) {
    if (t.note) trialNotes.push(`${t.system} / ${t.mode}: ${t.note}`);
    if (t.enqueue && t.enqueue.first_error) trialNotes.push(`${t.system} / ${t.mode}: first enqueue error: ${t.enqueue.first_error}`);
    if (t.window && t.window.overran) {
      trialNotes.push(`${t.system} / ${t.mode}: the enqueue overran the first due time by ${(-t.window.slack_s).toFixed(2)} s`);
    }
    if (t.extras && t.extras.bridge_connections_opened !== undefined) {
      const x = t.extras;
      const h = x.server_dispatch_lateness;
      trialNotes.push(
        `${t.system} / ${t.mode}: the server opened ${fmtInt(x.bridge_connections_opened)} connections to the bridge` +
          (h
            ? `; its own dispatch lateness (at dispatch start, before the HTTP call): mean ${fmtMs(h.mean_ms)} ms, ` +
              `p50 <= ${fmtMs(h.p50_le_ms)} ms, p99 <= ${fmtMs(h.p99_le_ms)} ms`
            : '') +
          (x.bridge_errors || x.dispatch_resends ? `; bridge errors ${x.bridge_errors}, resends ${x.dispatch_resends}` : ''),
      );
    }
    if (t.timed_out) trialNotes.push(`${t.system} / ${t.mode}: gave up waiting for the missing jobs`);
  }
  const notesList = trialNotes.map((n) => `- ${n}`).join('\n');

  console.log('\n## Comparison\n');
  console.log(facts + '\n');
  console.log(textTable(HEADER, rows));
  console.log('');
  console.log(textTable(cpuHeader, cpuRows));
  if (notesList) console.log('\n' + notesList);
  console.log('\n' + notes + '\n');

  const md =
    `# Ringback vs pg-boss vs BullMQ (run ${cfg.runId})\n\n` +
    facts.split('\n').map((l) => `${l}  `).join('\n') +
    '\n\n' +
    markdownTable(HEADER, rows) +
    '\n\n' +
    markdownTable(cpuHeader, cpuRows) +
    '\n\n' +
    (notesList ? notesList + '\n\n' : '') +
    notes +
    '\n';
  const outDir = process.env.COMPARE_OUT_DIR || __dirname;
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'results.md'), md);
  fs.writeFileSync(
    path.join(outDir, 'results.json'),
    JSON.stringify({ run_id: cfg.runId, machine, workload, trials }, null, 2) + '\n',
  );
  console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, 'results.md')) || 'results.md'} and results.json`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// Backstop for run.sh's exit trap: drops the run's databases and deletes its Redis keys,
// whatever state the drivers left them in. Usage: node lib/cleanup.js <run id>

const runId = process.argv[2];
if (!/^[0-9]+$/.test(runId || '')) {
  console.error('usage: node lib/cleanup.js <run id>');
  process.exit(2);
}
const cfg = require('./common').settings();

async function dropDatabases() {
  const { Client } = require('pg');
  const client = new Client({ connectionString: cfg.pgAdminUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    const { rows } = await client.query(
      "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%\\_' || $1 || '\\_%'",
      [runId],
    );
    for (const { datname } of rows) {
      if (!/^[a-z0-9_]+$/.test(datname)) continue;
      await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      console.log(`cleanup: dropped database ${datname}`);
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function flushKeys() {
  const { flushPrefix } = require('./bullmq');
  for (const mode of ['bulk', 'single']) {
    const n = await flushPrefix(cfg.redisHost, cfg.redisPort, `bench-compare-${runId}-${mode}`);
    if (n) console.log(`cleanup: deleted ${n} Redis keys of bench-compare-${runId}-${mode}`);
  }
}

(async () => {
  await dropDatabases().catch((e) => console.log(`cleanup: PostgreSQL: ${e.message}`));
  await flushKeys().catch((e) => console.log(`cleanup: Redis: ${e.message}`));
})();

'use strict';
// Creating and dropping the fresh PostgreSQL databases of the trials.

const { Client } = require('pg');

function dbUrl(adminUrl, database) {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withAdmin(adminUrl, fn) {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function checkName(name) {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name ${name}`);
}

async function createDatabase(adminUrl, name) {
  checkName(name);
  await withAdmin(adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  return dbUrl(adminUrl, name);
}

async function dropDatabase(adminUrl, name) {
  checkName(name);
  await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

async function serverVersion(adminUrl) {
  return withAdmin(adminUrl, async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
}

module.exports = { createDatabase, dropDatabase, serverVersion, dbUrl };

/**
 * The services the apps use: PostgreSQL (the admin connection, the apps' databases created and dropped,
 * those left by killed runs dropped) and Redis (a client, a namespace's keys listed and deleted), and
 * the check that both answer before the apps run.
 */
import { PG, PG_ADMIN_DB, REDIS_URL, pg, repoRequire, usesDatabase } from './config.mjs';
import { report } from './output.mjs';
import { pidAlive } from './processes.mjs';

export async function withAdmin(fn) {
  const client = new pg.Client({ ...PG, database: PG_ADMIN_DB, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const createdDatabases = new Set();

export async function createDatabase(name) {
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  createdDatabases.add(name);
}

export async function dropDatabase(name) {
  await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  createdDatabases.delete(name);
}

/** Databases left by runs that were killed (their pid is gone). */
export async function dropStaleDatabases() {
  const { rows } = await withAdmin((client) => client.query(`SELECT datname FROM pg_database WHERE datname LIKE 'consumer\\_%'`));
  for (const { datname } of rows) {
    const pid = Number(/_(\d+)(?:_empty)?$/.exec(datname)?.[1]);
    if (!pid || pid === process.pid) continue;
    if (!pidAlive(pid)) {
      await dropDatabase(datname);
      report('INFO', 'setup', `dropped ${datname}, left by an earlier run (pid ${pid} is gone)`);
    }
  }
}

export async function redisClient() {
  const { createClient } = repoRequire('redis');
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

export async function redisKeys(namespace) {
  const client = await redisClient();
  try {
    const keys = [];
    for await (const batch of client.scanIterator({ MATCH: `${namespace}*`, COUNT: 500 }))
      keys.push(...(Array.isArray(batch) ? batch : [batch]));
    return keys;
  } finally {
    await client.quit().catch(() => {});
  }
}

export async function redisDeleteNamespace(namespace) {
  const keys = await redisKeys(namespace);
  if (keys.length === 0) return 0;
  const client = await redisClient();
  try {
    for (let i = 0; i < keys.length; i += 500) await client.del(keys.slice(i, i + 500));
  } finally {
    await client.quit().catch(() => {});
  }
  return keys.length;
}

export async function checkServices(apps) {
  const problems = { pg: undefined, redis: undefined };
  if (apps.some(usesDatabase)) {
    try {
      const { rows } = await withAdmin((client) => client.query('SHOW server_version'));
      report('PASS', 'setup', `PostgreSQL ${rows[0].server_version} at ${PG.host}:${PG.port} (database ${PG_ADMIN_DB})`);
    } catch (error) {
      problems.pg = error.message;
    }
  }
  if (apps.some((app) => app.redis)) {
    try {
      const client = await redisClient();
      const info = await client.info('server');
      await client.quit();
      report('PASS', 'setup', `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'} at ${REDIS_URL}`);
    } catch (error) {
      problems.redis = error.message || String(error);
    }
  }
  return problems;
}

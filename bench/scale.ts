/**
 * The at-scale table of `npm run bench` (bench/run.ts): Django's `django_session` with
 * a million live and a million expired sessions, and the plans PostgreSQL gives the `db` engine's
 * statements on it.
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { SESSION_KEY_SALT, signing } from 'nest-django-sessions';
import { databaseUrl, recreateDatabase, SECRET_KEY, startServer, type ServerSpec } from './support';

export const SCALE_DATABASE = 'sessions_bench_scale';

export interface ScaleTable {
  live: number;
  expired: number;
  /** How many of the live sessions the load goes to, spread evenly over the table. */
  loaded: number;
}

/** PostgreSQL's `md5(text)`: the session keys are made on both sides (32 hex digits, a valid Django key). */
const sessionKey = (name: string) => createHash('md5').update(name).digest('hex');

/**
 * Creates the table in a database of its own (the app's migrations, run by starting `server`, a
 * server on that database, once), fills it with generate_series, and returns the keys of the
 * loaded sessions, once every one of them has been read back through the app and decoded. Every
 * row holds the same session data, `{"count": 0}` signed with the bench's SECRET_KEY as Django
 * signs it (the sessions of the small-table systems hold `{"count": n}`): the figures differ by the
 * table alone.
 */
export async function createScaleTable(admin: Client, server: ServerSpec, table: ScaleTable): Promise<string[]> {
  await recreateDatabase(admin, SCALE_DATABASE);
  const migrated = await startServer(server);
  await migrated.stop();
  const sessionData = signing.dumps({ count: 0 }, { secret: SECRET_KEY, salt: SESSION_KEY_SALT, compress: true });
  const client = new Client({ connectionString: databaseUrl(SCALE_DATABASE) });
  await client.connect();
  try {
    // Live ones expire 1 to 13 days from now, expired ones expired 1 hour to 13 days ago: the
    // expire_date index holds both kinds, as clearsessions would find them.
    await client.query(
      `INSERT INTO django_session (session_key, session_data, expire_date)
       SELECT md5('live-' || i), $1, now() + interval '1 day' + (i % 13) * interval '1 day' FROM generate_series(1, $2::int) i`,
      [sessionData, table.live],
    );
    await client.query(
      `INSERT INTO django_session (session_key, session_data, expire_date)
       SELECT md5('expired-' || i), $1, now() - interval '1 hour' - (i % 14) * interval '1 day' FROM generate_series(1, $2::int) i`,
      [sessionData, table.expired],
    );
    await client.query('VACUUM ANALYZE django_session');
    const { rows } = await client.query<{ heap: string; indexes: string }>(
      "SELECT pg_size_pretty(pg_table_size('django_session')) AS heap, pg_size_pretty(pg_indexes_size('django_session')) AS indexes",
    );
    console.error(`  at-scale table: ${rows[0].heap} of rows, ${rows[0].indexes} of indexes`);
  } finally {
    await client.end();
  }
  const step = Math.max(1, Math.floor(table.live / table.loaded));
  const keys = Array.from({ length: Math.min(table.loaded, table.live) }, (_, j) => sessionKey(`live-${(j + 1) * step}`));
  await checkSessionsDecode(server, keys);
  return keys;
}

/** Every loaded session read once through the app: a row whose data did not decode reads as an empty session. */
async function checkSessionsDecode(server: ServerSpec, keys: string[]): Promise<void> {
  const app = await startServer(server);
  try {
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++];
        const response = await fetch(`${app.url}/session`, { headers: { cookie: `sessionid=${key}` } });
        const body = (await response.json()) as { count?: unknown };
        if (!response.ok || typeof body.count !== 'number')
          throw new Error(`the generated session ${key} did not load: ${response.status} ${JSON.stringify(body)}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    await app.stop();
  }
}

/**
 * Collects, while a load runs, the statements the servers run on `database`, as PostgreSQL shows
 * them (pg_stat_activity: a backend's current or last statement, the text of the prepared
 * statement). Returns the function that stops it.
 */
export function sampleStatements(admin: Client, database: string, into: Set<string>, everyMs = 200): () => Promise<void> {
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      const { rows } = await admin.query<{ query: string }>(
        `SELECT DISTINCT query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND query ~* '^\\s*(SELECT|UPDATE)\\M.*django_session'`,
        [database],
      );
      for (const { query } of rows) into.add(query);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return async () => {
    sampling = false;
    await done;
  };
}

export interface StatementPlan {
  statement: string;
  /** EXPLAIN ANALYZE of the plan a prepared statement settles on (generic), and of one for the parameters (custom). */
  plans: { generic: string[]; custom: string[] };
  indexLookup: boolean;
}

const INDEX_LOOKUP = /(Index Scan|Index Only Scan) using \S+ on django_session|Bitmap Index Scan on django_session/;

/** A plan reads django_session through an index, never by a sequential scan. */
function isIndexLookup(plan: string[]): boolean {
  const text = plan.join('\n');
  return INDEX_LOOKUP.test(text) && !/Seq Scan on django_session/.test(text);
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of each statement as a prepared statement, with values of its
 * parameters' types (keys of loaded sessions, ten in an array), in a transaction rolled back.
 */
export async function explainStatements(statements: Iterable<string>, keys: string[]): Promise<StatementPlan[]> {
  const client = new Client({ connectionString: databaseUrl(SCALE_DATABASE) });
  await client.connect();
  const sample = (type: string): string => {
    const some = keys.slice(0, 10).map((key) => client.escapeLiteral(key));
    if (type === 'character varying' || type === 'text') return some[0];
    if (type === 'character varying[]' || type === 'text[]') return `ARRAY[${some.join(', ')}]::${type}`;
    if (type === 'timestamp with time zone') return 'now()';
    if (type === 'timestamp with time zone[]') return `array_fill(now() + interval '14 days', ARRAY[${some.length}])`;
    return 'NULL';
  };
  try {
    const result: StatementPlan[] = [];
    for (const statement of statements) {
      await client.query(`PREPARE bench_plan AS ${statement}`);
      try {
        const { rows } = await client.query<{ types: string[] }>(
          `SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = 'bench_plan'`,
        );
        const execute = `EXECUTE bench_plan(${rows[0].types.map(sample).join(', ')})`;
        const explain = async (mode: string) => {
          await client.query('BEGIN');
          try {
            await client.query(`SET LOCAL plan_cache_mode = ${mode}`);
            const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${execute}`);
            return plan.rows.map((row) => row['QUERY PLAN']);
          } finally {
            await client.query('ROLLBACK');
          }
        };
        const plans = { generic: await explain('force_generic_plan'), custom: await explain('force_custom_plan') };
        result.push({ statement, plans, indexLookup: isIndexLookup(plans.generic) && isIndexLookup(plans.custom) });
      } finally {
        await client.query('DEALLOCATE bench_plan');
      }
    }
    return result;
  } finally {
    await client.end();
  }
}

/**
 * The repository's TypeORM CLI set-up as CONTRIBUTING.md documents it: `ormconfig.ts` at the root is the
 * DataSource `npm run migration:run` / `migration:revert` use (typeorm-ts-node-commonjs), migrating the
 * example app's database with the migrations the package ships (migrations/). Runs the built package
 * (`npm test` builds it first), as the example app does.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/databases';

const ROOT = resolve(__dirname, '../..');

function typeormCli(command: 'migration:run' | 'migration:revert', databaseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const bin = resolve(ROOT, 'node_modules/.bin/typeorm-ts-node-commonjs');
    const child = spawn(bin, [command, '-d', 'ormconfig.ts'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, TS_NODE_TRANSPILE_ONLY: 'true' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

async function tables(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

describe('ormconfig.ts: the TypeORM CLI migrates the example database with the shipped migrations', () => {
  let database: TestDatabase;
  beforeAll(async () => (database = await createTestDatabase('postgres')));
  afterAll(() => database.drop());

  it('migration:run creates django_session and user_session; migration:revert drops the last one', async () => {
    const run = await typeormCli('migration:run', database.url);
    expect(run).toMatchObject({ code: 0 });
    expect(await tables(database.url)).toEqual(['django_session', 'typeorm_migrations', 'user_session']);

    const revert = await typeormCli('migration:revert', database.url);
    expect(revert).toMatchObject({ code: 0 });
    expect(await tables(database.url)).toEqual(['django_session', 'typeorm_migrations']);
  }, 120_000);
});

/**
 * `npm run bench:login-timing`: how long a failed login (a wrong password) takes for each kind of
 * user, with Django 5.2's 1 000 000 PBKDF2 iterations. Each sample is DjangoAuthService.authenticate
 * as `POST /auth/login` calls it: the user read from Django's `auth_user` (SQLite, a private file),
 * the password-check slots, the hashing. Prints the median per kind and its ratio to an unknown
 * user's; it asserts nothing. The kinds are sampled in turn, from a rotating start, so drift (CPU
 * frequency, other load) hits them alike; a first round warms up and is not counted.
 *
 * Options (env): BENCH_SAMPLES (default 15 per kind).
 */
import { DjangoAuthModule, DjangoAuthService, DjangoUserEntity, makePassword } from '../src/sessions/auth';
import { createTestApp } from '../test/support/app';
import { createTestDatabase } from '../test/support/databases';
import { createDjangoUserTable, insertDjangoUser } from '../test/support/django-users';
import { median } from './support';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);

interface Kind {
  label: string;
  username: string;
  /** The stored password, or none for a user who does not exist. */
  encoded?: () => Promise<string>;
}

const KINDS: Kind[] = [
  { label: 'unknown user', username: 'nobody' },
  { label: 'real user, 1 000 000 iterations', username: 'current', encoded: () => makePassword('pw') },
  { label: 'real user, 600 000 iterations', username: 'django42', encoded: () => makePassword('pw', { iterations: 600_000 }) },
  { label: 'real user, 260 000 iterations', username: 'django32', encoded: () => makePassword('pw', { iterations: 260_000 }) },
  { label: 'real user, 10 iterations', username: 'ten', encoded: () => makePassword('pw', { iterations: 10 }) },
  {
    label: 'pbkdf2_sha1, 260 000 iterations',
    username: 'sha1',
    encoded: () => makePassword('pw', { algorithm: 'pbkdf2_sha1', iterations: 260_000 }),
  },
  { label: 'unusable password (!…)', username: 'unusable', encoded: () => Promise.resolve('!QvNb2rA7xJk0tMe4LzW9cYh1sPd8uFg3oRiTyE5w') },
  {
    label: 'unknown hasher (argon2)',
    username: 'argon2',
    encoded: () => Promise.resolve('argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$aGFzaA'),
  },
  { label: 'username holding a NUL', username: 'cur\u0000rent' },
];

async function main(): Promise<void> {
  const database = await createTestDatabase('sqlite');
  await createDjangoUserTable(database);
  for (const kind of KINDS) if (kind.encoded) await insertDjangoUser(database, { username: kind.username, encoded: await kind.encoded() });
  const app = await createTestApp({
    database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), DjangoUserEntity] } },
    imports: [DjangoAuthModule.forRoot({})],
  });
  const auth = app.app.get(DjangoAuthService);
  const request = { ip: '192.0.2.1' }; // as Express or Fastify would pass it
  const times = new Map<Kind, number[]>(KINDS.map((kind) => [kind, []]));
  try {
    for (let round = 0; round <= SAMPLES; round++) {
      for (let i = 0; i < KINDS.length; i++) {
        const kind = KINDS[(round + i) % KINDS.length];
        const started = performance.now();
        const user = await auth.authenticate(kind.username, 'a wrong password', request);
        const elapsed = performance.now() - started;
        if (user !== null) throw new Error(`${kind.label}: a wrong password signed in`);
        if (round > 0) times.get(kind)!.push(elapsed);
      }
    }
  } finally {
    await app.close();
  }
  const reference = median(times.get(KINDS[0])!);
  console.log(`Wrong-password login, median of ${SAMPLES} per kind (Node ${process.version}, DjangoAuthModule defaults):`);
  const ratios: number[] = [];
  for (const kind of KINDS) {
    const value = median(times.get(kind)!);
    ratios.push(value / reference);
    console.log(`  ${kind.label.padEnd(34)} ${value.toFixed(1).padStart(7)} ms  ${(value / reference).toFixed(3)}x`);
  }
  console.log(`Ratios to the unknown user's median: ${Math.min(...ratios).toFixed(3)}x to ${Math.max(...ratios).toFixed(3)}x`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

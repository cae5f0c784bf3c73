/**
 * test/fixtures/django-auth-vectors.json (session auth hashes, PBKDF2 encodings) is what a real Django
 * computes: auth_vectors.py recomputes it with the Django at hand on every run.
 */
import { execFile } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeWithDjango, DJANGO_PYTHON, DJANGO_VERSION } from './django-peer';

interface AuthVectors {
  django: string;
  sessionAuthHash: { password: string; secret: string; hash: string }[];
  passwords: { algorithm: string; password: string; salt: string; iterations: number; encoded: string }[];
  defaultPasswords: { password: string; encoded: string }[];
}

const FIXTURE = join(__dirname, '..', 'fixtures', 'django-auth-vectors.json');
const ENCODED = /^(pbkdf2_sha256|pbkdf2_sha1)\$(\d+)\$([^$]+)\$([^$]+)$/;

describeWithDjango('Django auth vectors (test/fixtures/django-auth-vectors.json)', () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as AuthVectors;
  let computed: AuthVectors;

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(DJANGO_PYTHON, [join(__dirname, 'auth_vectors.py')], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
    });
    computed = JSON.parse(stdout) as AuthVectors;
  });

  it('session auth hashes and fixed-salt encodings are identical', () => {
    expect(computed.sessionAuthHash).toEqual(fixture.sessionAuthHash);
    expect(computed.passwords).toEqual(fixture.passwords);
  });

  it("make_password's defaults: PBKDF2 of the password, and the fixture's algorithm and iterations on the fixture's Django", () => {
    expect(computed.defaultPasswords.map((v) => v.password)).toEqual(fixture.defaultPasswords.map((v) => v.password));
    const sameDjango = DJANGO_VERSION?.slice(0, 2).join('.') === fixture.django.split('.').slice(0, 2).join('.');
    computed.defaultPasswords.forEach(({ password, encoded }, index) => {
      const [, algorithm, iterations, salt, hash] = ENCODED.exec(encoded) ?? [];
      expect(algorithm).toBeDefined();
      const digest = algorithm === 'pbkdf2_sha1' ? 'sha1' : 'sha256';
      const derived = pbkdf2Sync(
        Buffer.from(password, 'utf8'),
        Buffer.from(salt, 'utf8'),
        Number(iterations),
        digest === 'sha1' ? 20 : 32,
        digest,
      );
      expect(derived.toString('base64')).toBe(hash);
      // Another Django version may have other defaults (5.2: 1 000 000 iterations).
      if (sameDjango) expect(encoded.split('$', 2)).toEqual(fixture.defaultPasswords[index].encoded.split('$', 2));
    });
  });
});

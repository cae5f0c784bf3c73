/**
 * Django's password hashers (`django.contrib.auth.hashers`) for the formats a Node process can
 * check without native add-ons: PBKDF2 with SHA-256 (Django's default) and SHA-1, in Django's
 * `<algorithm>$<iterations>$<salt>$<base64 hash>` format. The key derivation runs in libuv's thread
 * pool, never on the event loop.
 */
import { pbkdf2, randomInt, timingSafeEqual } from 'node:crypto';

/** Django's `UNUSABLE_PASSWORD_PREFIX`: `set_unusable_password()` stores `!` and random text. */
export const UNUSABLE_PASSWORD_PREFIX = '!';

/** Django 5.2's PBKDF2 iterations (3.2: 260 000; every release raises it). */
export const DEFAULT_PBKDF2_ITERATIONS = 1_000_000;

/** Longest password checked; longer ones are wrong without being hashed (a client sets the length, Django once capped it at 4096 too). */
export const MAX_PASSWORD_LENGTH = 4096;

const DIGESTS = { pbkdf2_sha256: 'sha256', pbkdf2_sha1: 'sha1' } as const;
export type PasswordAlgorithm = keyof typeof DIGESTS;
type Digest = (typeof DIGESTS)[PasswordAlgorithm];

/** PBKDF2 in libuv's thread pool; the key is as long as the digest, as Django's `pbkdf2` makes it. */
function derive(password: string, salt: string, iterations: number, digest: Digest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), iterations, digest === 'sha256' ? 32 : 20, digest, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Django's `RANDOM_STRING_CHARS`; 22 of them carry the 128 bits of salt entropy Django asks for. */
const SALT_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SALT_LENGTH = 22;

function randomSalt(): string {
  let salt = '';
  for (let i = 0; i < SALT_LENGTH; i++) salt += SALT_CHARS[randomInt(SALT_CHARS.length)];
  return salt;
}

export interface MakePasswordOptions {
  algorithm?: PasswordAlgorithm;
  iterations?: number;
  salt?: string;
}

/** Django's `hasher.encode(password, salt, iterations)` / `make_password(password)`. */
export async function makePassword(password: string, options: MakePasswordOptions = {}): Promise<string> {
  const { algorithm = 'pbkdf2_sha256', iterations = DEFAULT_PBKDF2_ITERATIONS, salt = randomSalt() } = options;
  if (!salt || salt.includes('$')) throw new RangeError('A password salt must be non-empty and hold no "$"');
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('PBKDF2 iterations must be a positive integer');
  const hash = await derive(password, salt, iterations, DIGESTS[algorithm]);
  return `${algorithm}$${iterations}$${salt}$${hash.toString('base64')}`;
}

interface DecodedPassword {
  algorithm: PasswordAlgorithm;
  iterations: number;
  salt: string;
}

/** Django's `identify_hasher` + `decode` for the PBKDF2 formats; null for anything else. */
function decodePassword(encoded: string): DecodedPassword | null {
  const [algorithm, iterations, salt, hash] = encoded.split('$');
  if (!(algorithm in DIGESTS) || !/^\d{1,10}$/.test(iterations ?? '') || Number(iterations) < 1 || !salt || !hash) return null;
  return { algorithm: algorithm as PasswordAlgorithm, iterations: Number(iterations), salt };
}

/** Whether Django's `check_password` can say yes to this stored value with these hashers. */
export function isCheckablePassword(encoded: string | null | undefined): encoded is string {
  return typeof encoded === 'string' && !encoded.startsWith(UNUSABLE_PASSWORD_PREFIX) && decodePassword(encoded) !== null;
}

export interface CheckPasswordOptions {
  /**
   * The work factor: iterations of the default hasher (pbkdf2_sha256), Django's
   * `PBKDF2PasswordHasher.iterations` (`verify_password`'s `preferred`). A wrong password costs at
   * least this much whatever is stored. Default DEFAULT_PBKDF2_ITERATIONS.
   */
  iterations?: number;
}

/**
 * Django's `check_password(password, encoded)` (`verify_password`): false for unusable passwords
 * and for algorithms these hashers do not know (argon2, bcrypt, scrypt: as in Django with the hasher
 * not installed). Unlike Django it never rewrites an outdated hash: the Django site upgrades it at
 * its next login.
 *
 * A wrong password costs the work factor's derivation whatever is stored, so the time of a failed
 * login tells neither which users exist nor how their passwords are stored:
 * - nothing to check against (unusable `!…`, null, an unknown or unparsable hash): the default
 *   hasher runs once, as `verify_password`'s `fake_runtime` does since CVE-2024-39329;
 * - a PBKDF2 hash with fewer iterations: the missing ones run after the mismatch
 *   (`PBKDF2PasswordHasher.harden_runtime`). Django skips this when the hash's algorithm is not the
 *   default one; a pbkdf2_sha1 hash is padded here too, with SHA-256 iterations (one costs about
 *   what a SHA-1 one does), so a legacy hash does not single its user out either.
 * A password over MAX_PASSWORD_LENGTH (or no string) is wrong at once: its length is the client's,
 * so its timing tells nothing about the user.
 */
export async function checkPassword(
  password: string,
  encoded: string | null | undefined,
  options: CheckPasswordOptions = {},
): Promise<boolean> {
  const { iterations = DEFAULT_PBKDF2_ITERATIONS } = options;
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH) return false;
  if (!isCheckablePassword(encoded)) {
    await derive(password, randomSalt(), iterations, 'sha256');
    return false;
  }
  const decoded = decodePassword(encoded)!;
  const candidate = Buffer.from(await makePassword(password, decoded), 'utf8');
  const stored = Buffer.from(encoded, 'utf8');
  const correct = candidate.length === stored.length && timingSafeEqual(candidate, stored);
  if (!correct && decoded.iterations < iterations) await derive(password, decoded.salt, iterations - decoded.iterations, 'sha256');
  return correct;
}

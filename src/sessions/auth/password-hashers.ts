/**
 * Django's password hashers (`django.contrib.auth.hashers`) for the formats a Node process can
 * check without native add-ons: PBKDF2 with SHA-256 (Django's default) and SHA-1, in Django's
 * `<algorithm>$<iterations>$<salt>$<base64 hash>` format. The key derivation runs in libuv's thread
 * pool, never on the event loop.
 */
import { pbkdf2, randomInt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Django's `UNUSABLE_PASSWORD_PREFIX`: `set_unusable_password()` stores `!` and random text. */
export const UNUSABLE_PASSWORD_PREFIX = '!';

/** Django 5.2's PBKDF2 iterations (3.2: 260 000; every release raises it). */
export const DEFAULT_PBKDF2_ITERATIONS = 1_000_000;

/** Longest password checked; longer ones are wrong without being hashed (a client sets the length, Django once capped it at 4096 too). */
export const MAX_PASSWORD_LENGTH = 4096;

const DIGESTS = { pbkdf2_sha256: 'sha256', pbkdf2_sha1: 'sha1' } as const;
export type PasswordAlgorithm = keyof typeof DIGESTS;

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
  const digest = DIGESTS[algorithm];
  const hash = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), iterations, digest === 'sha256' ? 32 : 20, digest);
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
  if (!(algorithm in DIGESTS) || !/^\d{1,10}$/.test(iterations ?? '') || !salt || !hash) return null;
  return { algorithm: algorithm as PasswordAlgorithm, iterations: Number(iterations), salt };
}

/** Whether Django's `check_password` can say yes to this stored value with these hashers. */
export function isCheckablePassword(encoded: string | null | undefined): encoded is string {
  return typeof encoded === 'string' && !encoded.startsWith(UNUSABLE_PASSWORD_PREFIX) && decodePassword(encoded) !== null;
}

/**
 * Django's `check_password(password, encoded)`: false for unusable passwords and for algorithms
 * these hashers do not know (argon2, bcrypt, scrypt: as in Django with the hasher not installed).
 * Unlike Django it never rewrites an outdated hash: the Django site upgrades it at its next login.
 */
export async function checkPassword(password: string, encoded: string | null | undefined): Promise<boolean> {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH || !isCheckablePassword(encoded)) return false;
  const decoded = decodePassword(encoded)!;
  const candidate = Buffer.from(await makePassword(password, decoded), 'utf8');
  const stored = Buffer.from(encoded, 'utf8');
  return candidate.length === stored.length && timingSafeEqual(candidate, stored);
}

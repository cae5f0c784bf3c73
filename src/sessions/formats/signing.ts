/**
 * Django's `django.core.signing` (3.1+, sha256), byte for byte: `dumps` produces exactly what
 * `signing.dumps(obj, salt=..., compress=True)` produces and `loads` accepts what Django wrote.
 * Layout: `[.]base64url(payload):base62(timestamp):base64url(HMAC-SHA256)` (`TimestampSigner.sign_object`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { SessionTooLargeException } from '../session.errors';

export class BadSignature extends Error {
  override name = 'BadSignature';
}

export class SignatureExpired extends BadSignature {
  override name = 'SignatureExpired';
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function b62encode(value: number): string {
  if (value === 0) return '0';
  const sign = value < 0 ? '-' : '';
  let n = Math.abs(Math.trunc(value));
  let out = '';
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return sign + out;
}

export function b62decode(text: string): number {
  if (text === '0') return 0;
  const negative = text.startsWith('-');
  const digits = negative ? text.slice(1) : text;
  if (digits === '') throw new Error('Invalid base62 value');
  let n = 0;
  for (const ch of digits) {
    const d = BASE62.indexOf(ch);
    if (d < 0) throw new Error(`Invalid base62 character ${JSON.stringify(ch)}`);
    n = n * 62 + d;
  }
  return negative ? -n : n;
}

/**
 * Python's `json.dumps(obj, separators=(",", ":"))` with `ensure_ascii=True`: every UTF-16 code
 * unit outside printable ASCII is escaped as `\uXXXX` in lowercase hex, so Django reads our bytes
 * exactly as its own (Django 5.2 decodes them as latin-1).
 */
export function pythonJsonDumps(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** `sha256` (Django 3.1+), or `sha1`: the signatures of Django < 3.1, still accepted by 3.1/3.2. */
export type SigningAlgorithm = 'sha256' | 'sha1';

/** Derived keys by algorithm, key salt and secret: a handful live (one per salt and configured key). */
const derivedKeys = new Map<SigningAlgorithm, Map<string, Map<string, Buffer>>>();

/** `salted_hmac`'s derived key: HASH(key_salt + secret), memoised. */
function derivedKey(keySalt: string, secret: string, algorithm: SigningAlgorithm): Buffer {
  let bySalt = derivedKeys.get(algorithm);
  if (!bySalt) derivedKeys.set(algorithm, (bySalt = new Map<string, Map<string, Buffer>>()));
  let bySecret = bySalt.get(keySalt);
  if (!bySecret) bySalt.set(keySalt, (bySecret = new Map<string, Buffer>()));
  let key = bySecret.get(secret);
  if (!key) {
    key = createHash(algorithm)
      .update(keySalt + secret, 'utf8')
      .digest();
    bySecret.set(secret, key);
  }
  return key;
}

/** Django's `django.utils.crypto.salted_hmac(key_salt, value, secret, algorithm=...)`, as its digest. */
export function saltedHmac(keySalt: string, value: string, secret: string, algorithm: SigningAlgorithm = 'sha256'): Buffer {
  return createHmac(algorithm, derivedKey(keySalt, secret, algorithm))
    .update(value, 'utf8')
    .digest();
}

/** Django `Signer(key, salt=salt, algorithm=algorithm).signature(value)`: `salted_hmac(salt + "signer", …)`. */
export function signature(value: string, secret: string, salt: string, algorithm: SigningAlgorithm = 'sha256'): string {
  return saltedHmac(salt + 'signer', value, secret, algorithm).toString('base64url');
}

export interface DumpsOptions {
  secret: string;
  salt: string;
  compress?: boolean;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** The largest JSON to sign (`maxSessionBytes`). */
  maxBytes?: number;
}

/**
 * True when zlib cannot shrink these bytes by the 2 bytes `dumps` asks of it, so the attempt can be
 * skipped: its result would be thrown away. For payloads under 33 bytes (a counter, a flag: many
 * sessions) with no 3-byte sequence twice, deflate has no match to use and codes every byte as a
 * literal, in one block: stored or fixed-Huffman cost at least 8 bits a byte; a dynamic-Huffman
 * block at least 30 bits of header and end code plus, by Shannon, n·H bits for the literals (H:
 * the bytes' entropy). The stream with its 6 bytes of zlib framing is then at least n - 1 bytes
 * whenever 30 + n·H > 8n - 64. Longer payloads are always attempted: up to ~180 bytes that bound
 * cannot hold anyway (H ≤ log2 n), and no JSON beyond is random enough for it.
 */
export function incompressible(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n >= 33) return false;
  const trigrams = new Set<number>();
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    counts.set(bytes[i], (counts.get(bytes[i]) ?? 0) + 1);
    if (i + 2 < n) {
      const trigram = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      if (trigrams.has(trigram)) return false;
      trigrams.add(trigram);
    }
  }
  let entropyBits = 0;
  for (const count of counts.values()) entropyBits -= count * Math.log2(count / n);
  return 30 + entropyBits > 8 * n - 64;
}

/** Stored data over a size bound: read as corrupt, never inflated or parsed. */
export class OversizedPayload extends Error {
  override name = 'OversizedPayload';
}

/**
 * The longest signed value whose JSON fits in `maxBytes`: base64 of the JSON (4/3) plus the
 * timestamp and signature. Anything longer was not written under the bound.
 */
export function maxSignedLength(maxBytes: number): number {
  return Math.ceil((maxBytes * 4) / 3) + 128;
}

/** `signing.dumps(obj, key=secret, salt=salt, compress=compress)`; SessionTooLargeException when the JSON exceeds `maxBytes`. */
export function dumps(obj: unknown, options: DumpsOptions): string {
  const json = Buffer.from(pythonJsonDumps(obj), 'latin1');
  if (options.maxBytes !== undefined && json.length > options.maxBytes) throw new SessionTooLargeException(json.length, options.maxBytes);
  let payload: string;
  if (options.compress && !incompressible(json)) {
    // An output buffer sized for this payload (one chunk for anything that compresses) instead of
    // zlib's 16 KiB default, allocated afresh on every call: same bytes, a quarter less time.
    const compressed = deflateSync(json, { chunkSize: Math.max(64, json.length + 64) });
    payload = compressed.length < json.length - 1 ? '.' + compressed.toString('base64url') : json.toString('base64url');
  } else {
    payload = json.toString('base64url');
  }
  const ts = b62encode(Math.floor(options.timestamp ?? Date.now() / 1000));
  const value = `${payload}:${ts}`;
  return `${value}:${signature(value, options.secret, options.salt)}`;
}

export interface LoadsOptions {
  /** The current key first, then the fallbacks (`SECRET_KEY_FALLBACKS`). */
  secrets: readonly string[];
  salt: string;
  /** Seconds; only the signed_cookies engine passes one. */
  maxAge?: number;
  /** Also accept HMAC-SHA1 signatures (Django < 3.1 cookies, still read by 3.1/3.2's `Signer.unsign`): the `acceptLegacyFormat` option. */
  acceptSha1?: boolean;
  /** The largest JSON accepted (`maxSessionBytes`): longer values are not verified, inflation stops there. */
  maxBytes?: number;
}

/** Verifies the signature against every key (constant time) and returns the signed value. */
export function unsign(
  token: string,
  secrets: readonly string[],
  salt: string,
  algorithms: readonly SigningAlgorithm[] = ['sha256'],
): string {
  const sep = token.lastIndexOf(':');
  if (sep < 0) throw new BadSignature('No ":" found in value');
  const value = token.slice(0, sep);
  const given = Buffer.from(token.slice(sep + 1), 'utf8');
  for (const secret of secrets) {
    for (const algorithm of algorithms) {
      const expected = Buffer.from(signature(value, secret, salt, algorithm), 'utf8');
      if (expected.length === given.length && timingSafeEqual(expected, given)) return value;
    }
  }
  throw new BadSignature(`Signature "${token.slice(sep + 1)}" does not match`);
}

/** `signing.loads(token, key=..., fallback_keys=..., salt=..., max_age=...)`. */
export function loads<T = unknown>(token: string, options: LoadsOptions): T {
  const { maxBytes } = options;
  if (maxBytes !== undefined && token.length > maxSignedLength(maxBytes))
    throw new OversizedPayload(`Signed value of ${token.length} characters, over the bound`);
  const value = unsign(token, options.secrets, options.salt, options.acceptSha1 ? ['sha256', 'sha1'] : ['sha256']);
  const sep = value.lastIndexOf(':');
  if (sep < 0) throw new BadSignature('No timestamp found in value');
  const timestamp = b62decode(value.slice(sep + 1));
  if (options.maxAge !== undefined) {
    const age = Date.now() / 1000 - timestamp;
    if (age > options.maxAge) throw new SignatureExpired(`Signature age ${age} > ${options.maxAge} seconds`);
  }
  let payload = value.slice(0, sep);
  let bytes: Buffer;
  if (payload.startsWith('.')) {
    payload = payload.slice(1);
    try {
      bytes = inflateSync(Buffer.from(payload, 'base64url'), maxBytes === undefined ? {} : { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw new OversizedPayload(`Compressed data inflating past ${maxBytes} bytes`);
      throw error;
    }
  } else {
    bytes = Buffer.from(payload, 'base64url');
    if (maxBytes !== undefined && bytes.length > maxBytes) throw new OversizedPayload(`Data of ${bytes.length} bytes, over ${maxBytes}`);
  }
  return JSON.parse(bytes.toString('utf8')) as T;
}

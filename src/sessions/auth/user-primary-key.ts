/**
 * A session's `_auth_user_id` read as the user table's primary key, as Django's `get_user` reads it
 * with `pk.to_python()` (`django/contrib/auth/__init__.py`; IntegerField, BigIntegerField, UUIDField).
 */

const INTEGER_COLUMN_TYPES = new Set<unknown>([Number, 'int', 'int2', 'int4', 'integer', 'smallint', 'mediumint', 'tinyint']);
const BIGINT_COLUMN_TYPES = new Set<unknown>(['bigint', 'int8']);

/**
 * Django's `pk.to_python()` of a session's user id, for a primary key column of `columnType`: an
 * integer for integer keys, a canonical UUID for UUID keys; null when it cannot be one, or holds a
 * NUL (PostgreSQL refuses it in text: the session would answer 503 instead of anonymous).
 */
export function primaryKeyToPython(value: unknown, columnType: unknown): string | number | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const text = String(value).trim();
  if (INTEGER_COLUMN_TYPES.has(columnType)) {
    const id = /^[+-]?\d{1,16}$/.test(text) ? Number(text) : NaN;
    return Number.isSafeInteger(id) ? id : null;
  }
  if (BIGINT_COLUMN_TYPES.has(columnType)) return /^[+-]?\d{1,19}$/.test(text) ? BigInt(text).toString() : null;
  if (columnType === 'uuid') return canonicalUuid(text);
  return text === '' || text.length > 255 || text.includes('\0') ? null : text;
}

/**
 * UUIDField.to_python's `uuid.UUID(hex=…)`: braces, a `urn:uuid:` prefix and hyphens dropped, 32
 * hex digits; written back as PostgreSQL's `uuid` reads and writes it. Null for anything else, which
 * PostgreSQL would refuse ("invalid input syntax for type uuid").
 */
function canonicalUuid(text: string): string | null {
  const hex = text
    .replace(/^urn:/i, '')
    .replace(/^uuid:/i, '')
    .replace(/^\{|\}$/g, '')
    .replaceAll('-', '')
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

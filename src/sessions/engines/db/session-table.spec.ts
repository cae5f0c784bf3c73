/** The db engines' dates as their columns take and give them, and the key column's digest (`hashKeysAtRest`). */
import { createHash } from 'node:crypto';
import { fromDatabaseDate, hashSessionKey, toDatabaseDate } from './session-table';

describe('toDatabaseDate', () => {
  const date = new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 67));

  it("is ISO 8601 in UTC for PostgreSQL's timestamptz, UTC text with milliseconds for SQLite", () => {
    expect(toDatabaseDate(date, true)).toBe('2030-01-02T03:04:05.067Z');
    expect(toDatabaseDate(date, false)).toBe('2030-01-02 03:04:05.067');
  });
});

describe('fromDatabaseDate', () => {
  it.each([
    ['SQLite text, read as UTC', '2030-01-02 03:04:05.067', '2030-01-02T03:04:05.067Z'],
    ["Django's six digits", '2030-01-02 03:04:05.067000', '2030-01-02T03:04:05.067Z'],
    ['with Z', '2030-01-02T03:04:05Z', '2030-01-02T03:04:05.000Z'],
    ['with z', '2030-01-02 03:04:05z', '2030-01-02T03:04:05.000Z'],
    ['with an offset', '2030-01-02 03:04:05+02:00', '2030-01-02T01:04:05.000Z'],
    ['with a negative offset', '2030-01-02 03:04:05-05:30', '2030-01-02T08:34:05.000Z'],
    ['with an offset without colon', '2030-01-02 03:04:05+0200', '2030-01-02T01:04:05.000Z'],
  ])('%s: %s', (_label, stored, iso) => {
    expect(fromDatabaseDate(stored).toISOString()).toBe(iso);
  });

  it('a Date is kept as the driver made it', () => {
    const date = new Date(Date.UTC(2030, 0, 1));
    expect(fromDatabaseDate(date)).toBe(date);
  });

  it.each([
    ["the driver's Infinity", Infinity],
    ['a number', 1893456000000],
    ['null', null],
    ['garbage text', 'not a date'],
  ])('%s is an invalid Date (no JavaScript date holds it)', (_label, value) => {
    expect(Number.isNaN(fromDatabaseDate(value).getTime())).toBe(true);
  });
});

describe('hashSessionKey', () => {
  it("is SHA-256's first 30 bytes in base64url: 40 characters, the size of Django's session_key column", () => {
    const key = 'abcdefghijklmnopqrstuvwxyz012345';
    const digest = hashSessionKey(key);
    expect(digest).toBe(createHash('sha256').update(key).digest().subarray(0, 30).toString('base64url'));
    expect(digest).toHaveLength(40);
    expect(hashSessionKey('é'.repeat(32))).toBe(
      createHash('sha256')
        .update(Buffer.from('é'.repeat(32), 'utf8'))
        .digest()
        .subarray(0, 30)
        .toString('base64url'),
    );
  });
});

/** `_session_expiry` as Django stores it: the forms a stored value may take, and what setExpiry stores or refuses. */
import { SessionExpiryError } from './session.errors';
import { isValidStoredExpiry, MAX_EXPIRY_SECONDS, storableExpiry } from './session-expiry';

describe('isValidStoredExpiry', () => {
  it.each([
    [undefined, true],
    [null, true],
    [0, true],
    [MAX_EXPIRY_SECONDS, true],
    [-MAX_EXPIRY_SECONDS, true],
    [MAX_EXPIRY_SECONDS + 1, false],
    [Number.NaN, false],
    [Number.POSITIVE_INFINITY, false],
    ['2026-12-06T10:00:00.123456+00:00', true],
    // Python's datetime range, in UTC: years 1 to 9999, offsets included.
    ['0001-01-01T00:00:00', true],
    ['9999-12-31T23:59:59.999000', true],
    ['0001-01-01T00:00:00+01:00', false],
    ['9999-12-31T23:59:59-01:00', false],
    ['not a date', false],
    [true, false],
    [{}, false],
  ])('%p → %p', (value, valid) => {
    expect(isValidStoredExpiry(value)).toBe(valid);
  });
});

describe('storableExpiry', () => {
  it('stores seconds and null as they are, a Date as the ISO string Django reads', () => {
    expect(storableExpiry(300)).toBe(300);
    expect(storableExpiry(null)).toBeNull();
    expect(storableExpiry(new Date('2026-12-06T10:00:00.123Z'))).toBe('2026-12-06T10:00:00.123000+00:00');
  });

  it.each([
    ['x'.repeat(50), JSON.stringify('x'.repeat(50))],
    [new Date(Number.NaN), 'an invalid Date'],
    [1e11, '100000000000'],
    [true, 'true'],
  ])('refuses %p, naming it (%s)', (value, shown) => {
    expect(() => storableExpiry(value)).toThrow(SessionExpiryError);
    expect(() => storableExpiry(value)).toThrow(
      `Session expiry must be a number of seconds within ±${MAX_EXPIRY_SECONDS}, a Date or an ISO date of years 1 to 9999, or null; got ${shown}`,
    );
  });
});

/** Python's `datetime.fromisoformat` as the port reads `_session_expiry` dates: what Python refuses is refused. */
import { parseIsoDatetime } from './python-datetime';

describe('parseIsoDatetime', () => {
  it.each([
    ['2026-12-06T10:00:00', '2026-12-06T10:00:00.000Z'],
    ['2026-12-06T10:00:00.5+01:30', '2026-12-06T08:30:00.500Z'],
    ['2026-12-06T10:00:00-00:00:30', '2026-12-06T10:00:30.000Z'],
    ['2024-02-29T23:59:59', '2024-02-29T23:59:59.000Z'],
  ])('%s is %s', (value, utc) => {
    expect(parseIsoDatetime(value).toISOString()).toBe(utc);
  });

  // Each is a ValueError in Python: a day the month lacks, hour 24, second 60, minute 60.
  it.each(['2026-02-30T00:00:00', '2026-12-06T24:00:00', '2026-12-06T10:00:60', '2026-12-06T10:60:00', 'tomorrow'])(
    '%s is refused, naming the value',
    (value) => {
      expect(() => parseIsoDatetime(value)).toThrow(new RangeError(`Invalid isoformat string: ${JSON.stringify(value)}`));
    },
  );
});

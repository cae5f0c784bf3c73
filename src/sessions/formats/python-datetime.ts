/** Python's `datetime` ISO 8601 text, as Django writes and reads session expiries. */

/** Python's `datetime.isoformat()` of an aware UTC datetime: `2030-01-01T00:00:00.123000+00:00`. */
export function isoformat(date: Date): string {
  const iso = date.toISOString();
  const ms = date.getUTCMilliseconds();
  return (ms === 0 ? iso.slice(0, 19) : `${iso.slice(0, 23)}000`) + '+00:00';
}

/**
 * What Python's `datetime.fromisoformat` reads in the extended format: `isoformat()` output of any
 * Django (fractions of 1–6+ digits, offsets `±HH[:MM[:SS[.ffffff]]]`), plus `Z` and a space separator.
 */
const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?)?$/;

/** Python's `datetime.fromisoformat`; a naive value is taken as UTC (the port is UTC-only). */
export function parseIsoDatetime(value: string): Date {
  const match = ISO_DATETIME.exec(value);
  if (match) {
    const [year, month, day, hours, minutes, seconds] = match.slice(1, 7).map((part) => Number(part ?? 0));
    const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
    const [sign, offsetHours, offsetMinutes = '0', offsetSeconds = '0', offsetFraction = '0'] = match.slice(9, 14);
    const offset = sign
      ? (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(`${offsetSeconds}.${offsetFraction}`))
      : 0;
    const date = new Date(0);
    date.setUTCFullYear(year, month - 1, day);
    date.setUTCHours(hours, minutes, seconds, millis);
    if (
      date.getUTCMonth() === month - 1 &&
      date.getUTCDate() === day &&
      hours < 24 &&
      minutes < 60 &&
      seconds < 60 &&
      Math.abs(offset) < 86400
    ) {
      return new Date(date.getTime() - offset * 1000);
    }
  }
  throw new RangeError(`Invalid isoformat string: ${JSON.stringify(value)}`);
}

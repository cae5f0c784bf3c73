/** Which session keys a client may send: Django's `_validate_session_key`, and what a key-based store can hold. */
import { isStorableSessionKey, isValidSessionKey, newSessionKey } from './session-key';

describe('session keys', () => {
  it('Django takes a key of 8 characters or more, never a shorter one', () => {
    expect([isValidSessionKey('abcdefgh'), isValidSessionKey('abcdefg'), isValidSessionKey(null)]).toEqual([true, false, false]);
  });

  it('a store holds 8 to 40 characters of [a-z0-9]', () => {
    expect(['abcdefgh', 'a'.repeat(40), 'a'.repeat(41), 'abcdefg', 'ABCDEFGH', 'abcd efgh'].map(isStorableSessionKey)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('new keys are 32 characters of [a-z0-9], storable', () => {
    const key = newSessionKey();
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    expect(isStorableSessionKey(key)).toBe(true);
  });
});

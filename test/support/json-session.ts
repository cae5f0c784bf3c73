/** A session whose store is one JSON string, for unit specs of what sits on SessionBase (the request's session, its view). */
import { emptyData, SessionBase, type SessionData } from '../../src/sessions/session';

export class JsonSession extends SessionBase {
  /** The stored data. Parsed JSON keeps `__proto__` an own key, as data from any store does. */
  stored = '{}';

  override load(): Promise<SessionData> {
    return Promise.resolve(Object.assign(emptyData(), JSON.parse(this.stored) as SessionData));
  }

  override save(): Promise<void> {
    this.stored = JSON.stringify(this.toJSON());
    return Promise.resolve();
  }
}

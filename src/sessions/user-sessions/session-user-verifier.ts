/**
 * Who a session really belongs to. Without an auth layer, the user index believes the data at
 * `userKey`. With the auth bridge (`nest-django-sessions/auth`), data naming a user is not enough:
 * Django's `get_user` also wants an allowed backend and the hash of the user's current password
 * (`django/contrib/auth/__init__.py`). The bridge registers itself here, so the index lists, counts
 * against the cap and revokes only sessions that `get_user` would sign in — never a session whose
 * password changed, nor one whose data an anonymous request filled with a user id.
 */
import type { AnySession, SessionData } from '../session';
import { userOfData } from './user-session-index';

/** What an auth layer offers the user index. */
export interface SessionUserVerifier {
  /** The session's user as the auth layer resolves it (Django's `get_user`: it may flush the session), as text; null when anonymous. */
  userOf(session: AnySession): Promise<string | null>;
  /** A test of stored session data: whether it signs in as `userId` now. Prepared once per listing, revocation or cap check. */
  signedInTest(userId: string): Promise<(data: SessionData) => boolean>;
}

/**
 * What an auth layer offers the open WebSockets: which sign-in a session's data holds, and which
 * still hold for a set of users, in one batched look-up. A socket whose sign-in stopped holding (the
 * password changed, the user was deactivated or deleted) is closed as Django's `get_user` would sign
 * its session out at the next request.
 */
export interface SignInCheck {
  /** The sign-in the data holds: the user and what must still match (Django: the password's session hash); null when anonymous. */
  signInOf(data: SessionData): { userId: string; proof: string } | null;
  /** For each of these users who can still sign in, the proofs that do. */
  validProofs(userIds: readonly string[]): Promise<Map<string, ReadonlySet<string>>>;
}

/** The user index's verifier: the data's own claim, unless an auth layer registered one. */
export class SessionUsers {
  #verifier: SessionUserVerifier | undefined;

  constructor(private readonly userKeyPath: readonly string[] | null) {}

  /** Called by an auth layer at start-up. */
  useVerifier(verifier: SessionUserVerifier): void {
    this.#verifier = verifier;
  }

  /** The sign-in check of the auth layer (for WebSockets), undefined without one. */
  signInCheck: SignInCheck | undefined;

  get verified(): boolean {
    return this.#verifier !== undefined;
  }

  userOf(session: AnySession): Promise<string | null> {
    if (this.#verifier) return this.#verifier.userOf(session);
    return Promise.resolve(this.userKeyPath ? userOfData(session.toJSON() as SessionData, this.userKeyPath) : null);
  }

  signedInTest(userId: string): Promise<(data: SessionData) => boolean> {
    return this.#verifier ? this.#verifier.signedInTest(userId) : Promise.resolve(() => true);
  }
}

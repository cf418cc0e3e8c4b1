import { addressKey } from '../net/addr.js';
import { WindowLimiter } from './rate-limiter.js';

const WINDOW_MS = 15 * 60_000;
/**
 * Failed logins allowed in 15 minutes, per key. One address gets a few tries at one user, so a
 * guesser elsewhere cannot lock the real user out of their own machine; a user has a higher
 * ceiling across all addresses, which bounds guessing from many machines; an address has a
 * ceiling across all user names, which bounds password spraying.
 */
export const LOGIN_LIMITS = { userAtAddress: 5, user: 50, address: 20, windowMs: WINDOW_MS } as const;

/** A login in progress: counted as failed until it says otherwise. */
export interface LoginAttempt {
  /** The credentials were right: the attempt no longer counts, and this address starts afresh for the user. */
  succeeded(): void;
  /** Ended before the credentials were checked (a code was missing): not a failure. */
  withdrawn(): void;
}

/**
 * Decides whether a login may be tried, and counts it *before* the password is verified: a burst
 * of parallel attempts (one HTTP/2 connection carries hundreds) meets the limit at the first
 * attempts over it, instead of all being checked against a count that has not moved yet.
 */
export class LoginLimiter {
  private readonly userAtAddress = new WindowLimiter(LOGIN_LIMITS.userAtAddress, WINDOW_MS);
  private readonly user = new WindowLimiter(LOGIN_LIMITS.user, WINDOW_MS);
  private readonly address = new WindowLimiter(LOGIN_LIMITS.address, WINDOW_MS);

  /** Milliseconds to wait when a limit is reached, else the attempt, already counted. */
  begin(user: string, clientAddress: string, now = Date.now()): number | LoginAttempt {
    const address = addressKey(clientAddress);
    const pairKey = `${user}\0${address}`;
    const wait = Math.max(this.userAtAddress.retryAfter(pairKey, now), this.user.retryAfter(user, now), this.address.retryAfter(address, now));
    if (wait > 0) return wait;
    this.userAtAddress.record(pairKey, now);
    this.user.record(user, now);
    this.address.record(address, now);
    const takeBack = () => {
      this.userAtAddress.unrecord(pairKey, now);
      this.user.unrecord(user, now);
      this.address.unrecord(address, now);
    };
    return {
      succeeded: () => {
        takeBack();
        this.userAtAddress.reset(pairKey);
      },
      withdrawn: takeBack,
    };
  }
}

import { randomUUID } from 'node:crypto';
import { addressKey } from '../net/addr.js';
import type { Backend } from '../storage/backend.js';
import { LOGIN_LIMITS } from './login-limiter.js';

const PREFIX = '/login-failures/';

/** The three counts a login is limited by (see LOGIN_LIMITS), as key prefixes in the store. */
function prefixes(user: string, clientAddress: string): { prefix: string; max: number }[] {
  const address = encodeURIComponent(addressKey(clientAddress));
  const name = encodeURIComponent(user);
  return [
    { prefix: `${PREFIX}pair/${name}@${address}/`, max: LOGIN_LIMITS.userAtAddress },
    { prefix: `${PREFIX}user/${name}/`, max: LOGIN_LIMITS.user },
    { prefix: `${PREFIX}address/${address}/`, max: LOGIN_LIMITS.address },
  ];
}

/**
 * Failed logins as the whole cluster saw them: each is recorded in the store, one item per count
 * it belongs to, expiring when it leaves the window, so a guesser spreading attempts over several
 * proxies behind a load balancer meets the same limits as one using one proxy. Each proxy's own
 * LoginLimiter still counts attempts in flight, which a burst on one connection needs.
 */
export class LoginFailures {
  constructor(private readonly backend: Backend) {}

  /** Milliseconds until a login may be tried for the user from the address, or 0 when it may now. */
  async retryAfter(user: string, clientAddress: string, now = Date.now()): Promise<number> {
    let wait = 0;
    for (const { prefix, max } of prefixes(user, clientAddress)) {
      const failures = await this.backend.range(prefix);
      if (failures.length < max) continue;
      // The oldest to leave the window that would bring the count under the limit.
      const leaving = failures.map((f) => f.expires!.getTime()).sort((a, b) => a - b)[failures.length - max]!;
      wait = Math.max(wait, leaving - now);
    }
    return wait;
  }

  async record(user: string, clientAddress: string, now = Date.now()): Promise<void> {
    const expires = new Date(now + LOGIN_LIMITS.windowMs);
    const id = randomUUID();
    for (const { prefix } of prefixes(user, clientAddress)) await this.backend.put(prefix + id, '', { expires });
  }

  /** The user logged in from the address: that address starts afresh for them. */
  async forgetPair(user: string, clientAddress: string): Promise<void> {
    const [pair] = prefixes(user, clientAddress);
    for (const item of await this.backend.range(pair!.prefix)) await this.backend.delete(item.key);
  }
}

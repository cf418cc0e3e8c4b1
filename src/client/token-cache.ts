import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { HostPort } from '../net/addr.js';
import { writeSecretFile } from '../storage/secret-file.js';
import { ProfileStore } from './profile-store.js';

export interface CachedToken {
  token: string;
  user: string;
  expires: string;
}

/**
 * Bearer tokens from browser or device logins, one per proxy, in `$POSTERN_HOME/tokens/` (0600):
 * reused until they expire, dropped when the proxy refuses one.
 */
export class TokenCache {
  constructor(private readonly home = new ProfileStore().home) {}

  private file(proxy: HostPort): string {
    return join(this.home, 'tokens', `${ProfileStore.nameFor(proxy)}.json`);
  }

  get(proxy: HostPort): CachedToken | undefined {
    const file = this.file(proxy);
    if (!existsSync(file)) return undefined;
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as CachedToken;
      return Date.parse(cached.expires) > Date.now() + 30_000 ? cached : undefined;
    } catch {
      return undefined;
    }
  }

  put(proxy: HostPort, token: CachedToken): void {
    writeSecretFile(this.file(proxy), JSON.stringify(token) + '\n');
  }

  drop(proxy: HostPort): void {
    rmSync(this.file(proxy), { force: true });
  }
}

import { z } from 'zod';
import { newSecretToken, tokenHash } from './secret-token.js';
import type { Backend } from '../storage/backend.js';
import { Collection } from '../storage/collection.js';

/** The app session cookie and the launch flow's state cookie, both on the app's own domain. */
export const APP_SESSION_COOKIE = '__Host-postern_app';
export const APP_STATE_COOKIE = '__Host-postern_app_state';
/** A launch code is exchanged for a session within this time, once. */
const CODE_TTL_MS = 60_000;

export const appSessionSchema = z.object({
  /** Non-secret handle (the first 12 hex digits of the cookie's hash). */
  id: z.string(),
  app: z.string(),
  user: z.string(),
  /** The hash of the web session it came from: the app session ends with it. */
  web_session: z.string(),
  created: z.string(),
  expires: z.string(),
});
export type AppSession = z.output<typeof appSessionSchema>;

const launchCodeSchema = z.object({
  app: z.string(),
  user: z.string(),
  web_session: z.string(),
  web_session_expires: z.string(),
  /** The hash of the state the app domain set in the browser that started the launch. */
  state: z.string(),
  /** Where to land on the app after the exchange. */
  path: z.string(),
});
export type LaunchCode = z.output<typeof launchCodeSchema>;

/**
 * App sessions: a browser's pass to one app's domain, handed over from the proxy's domain by a
 * single-use code (so no session secret ever travels in a URL) and bound to the web session it
 * came from. Secrets are stored only as hashes.
 */
export class AppSessions {
  /** Keyed by the hash of the cookie's secret. */
  readonly collection: Collection<typeof appSessionSchema>;
  private readonly codes: Collection<typeof launchCodeSchema>;

  constructor(backend: Backend) {
    this.collection = new Collection(backend, '/sessions/app/', appSessionSchema, 'app session');
    this.codes = new Collection(backend, '/sessions/appcode/', launchCodeSchema, 'launch code');
  }

  async createCode(code: Omit<LaunchCode, 'state'> & { state: string }): Promise<string> {
    const secret = newSecretToken();
    await this.codes.create(tokenHash(secret), { ...code, state: tokenHash(code.state) }, new Date(Date.now() + CODE_TTL_MS));
    return secret;
  }

  /** Uses a code up; undefined when it is unknown, expired, used, for another app, or from another browser's launch. */
  async redeem(secret: string, app: string, state: string): Promise<LaunchCode | undefined> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(secret)) return undefined;
    const hash = tokenHash(secret);
    const code = await this.codes.get(hash);
    if (!code || !(await this.codes.delete(hash))) return undefined;
    return code.app === app && code.state === tokenHash(state) ? code : undefined;
  }

  async create(code: LaunchCode): Promise<{ secret: string; session: AppSession }> {
    const secret = newSecretToken(32);
    const hash = tokenHash(secret);
    const session: AppSession = { id: hash.slice(0, 12), app: code.app, user: code.user, web_session: code.web_session, created: new Date().toISOString(), expires: code.web_session_expires };
    await this.collection.create(hash, session, new Date(session.expires));
    return { secret, session };
  }

  get(secret: string): Promise<AppSession | undefined> {
    return /^[A-Za-z0-9_-]{20,64}$/.test(secret) ? this.collection.get(tokenHash(secret)) : Promise.resolve(undefined);
  }

  end(secret: string): Promise<boolean> {
    return this.collection.delete(tokenHash(secret));
  }
}

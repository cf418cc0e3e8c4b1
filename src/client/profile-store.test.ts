import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProfileStore, type Profile } from './profile-store.js';

const profile = (proxy: string, user: string): Profile => ({ proxy, user, cluster: 'c', roles: [], logins: [], traits: {}, expires: new Date(Date.now() + 3_600_000).toISOString() });
const secrets = { keyPem: 'key', certPem: 'cert', trustedPem: 'ca' };

describe('ProfileStore.resolve', () => {
  const saved = process.env.POSTERN_PROXY;
  afterEach(() => {
    if (saved === undefined) delete process.env.POSTERN_PROXY;
    else process.env.POSTERN_PROXY = saved;
  });

  it('uses --proxy, else $POSTERN_PROXY, else the current profile', () => {
    const store = new ProfileStore(mkdtempSync(join(tmpdir(), 'postern-profiles-')));
    store.save(profile('one.example:3080', 'ann'), secrets);
    store.save(profile('two.example:3080', 'bob'), secrets); // now current
    delete process.env.POSTERN_PROXY;
    expect(store.resolve().user).toBe('bob');
    process.env.POSTERN_PROXY = 'one.example:3080';
    expect(store.resolve().user).toBe('ann');
    expect(store.resolve('two.example:3080').user).toBe('bob');
    process.env.POSTERN_PROXY = 'three.example:3080';
    expect(() => store.resolve()).toThrow(/you are not logged in to three\.example:3080/);
  });
});

import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthority, loadAuthority } from '../../pki/authority.js';
import { JwtSigner } from './jwt.js';

describe('JWT assertions', () => {
  it('are signed once per session and verify against the JWKS, and re-signed when roles or traits change', async () => {
    const signer = new JwtSigner(await loadAuthority(await createAuthority('jwt', 'example')), 'example');
    const alice = { username: 'alice', roles: ['access'], traits: { logins: ['root'] } };
    const first = await signer.assertion('session:1:grafana', alice, 'http://10.0.0.5:3000');
    expect(await signer.assertion('session:1:grafana', { ...alice }, 'http://10.0.0.5:3000')).toBe(first);
    const { payload } = await jwtVerify(first, createLocalJWKSet(signer.jwks() as never), { issuer: 'example', audience: 'http://10.0.0.5:3000' });
    expect(payload).toMatchObject({ sub: 'alice', username: 'alice', roles: ['access'], traits: { logins: ['root'] } });
    const demoted = await signer.assertion('session:1:grafana', { ...alice, roles: ['auditor'] }, 'http://10.0.0.5:3000');
    expect(demoted).not.toBe(first);
    expect(decodeJwt(demoted).roles).toEqual(['auditor']);
  });
});

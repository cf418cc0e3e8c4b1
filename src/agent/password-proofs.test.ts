import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cachingSha2Proof, mysqlNativeProof, postgresMd5Proof, ScramSha256 } from './password-proofs.js';

const scramble = Buffer.from(Array.from({ length: 20 }, (_, i) => i + 1));
const sha = (algorithm: string, ...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash(algorithm)).digest();

describe('password proofs', () => {
  it('computes mysql_native_password as the server checks it (vector: Python hashlib and mysql2 agree)', () => {
    const proof = mysqlNativeProof('secret', scramble);
    expect(proof.toString('hex')).toBe('b32bb3a583e1340c0a1108d58b1be49781ad8c2f');
    // The server holds SHA1(SHA1(password)) and recovers SHA1(password) from the proof.
    const stored = sha('sha1', sha('sha1', Buffer.from('secret')));
    const stage1 = Buffer.from(proof.map((b, i) => b ^ sha('sha1', scramble, stored)[i]!));
    expect(sha('sha1', stage1)).toEqual(stored);
    expect(mysqlNativeProof('', scramble)).toEqual(Buffer.alloc(0));
  });

  it("computes caching_sha2_password's fast-path proof (MariaDB has no caching_sha2_password, so this vector from Python's hashlib is its test)", () => {
    const proof = cachingSha2Proof('secret', scramble);
    expect(proof.toString('hex')).toBe('746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9');
    const stored = sha('sha256', sha('sha256', Buffer.from('secret')));
    const stage1 = Buffer.from(proof.map((b, i) => b ^ sha('sha256', stored, scramble)[i]!));
    expect(sha('sha256', stage1)).toEqual(stored);
    expect(cachingSha2Proof('', scramble)).toEqual(Buffer.alloc(0));
  });

  it("computes PostgreSQL's md5 answer from the stored md5(password + user)", () => {
    // PostgreSQL stores md53175bce1d3201d16594cebf9d7eb3f9d for postgres/postgres; the vector is Python's md5 of that hex and the salt.
    expect(postgresMd5Proof('postgres', 'postgres', Buffer.from([1, 2, 3, 4]))).toBe('md568be9ed08db75f318087ab337aaea044');
  });

  it("follows RFC 7677's SCRAM-SHA-256 example exchange", async () => {
    const scram = new ScramSha256('pencil', 'rOprNGfwEbeRWgbNEkqO', 'user');
    expect(scram.first()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await scram.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    expect(final).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => scram.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
    expect(() => scram.verify('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/signature is wrong/);
  });

  it('refuses a SCRAM server message that does not extend the nonce or lacks an attribute', async () => {
    const scram = new ScramSha256('pencil', 'abc');
    expect(scram.first()).toBe('n,,n=,r=abc');
    await expect(scram.final('r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).rejects.toThrow(/nonce does not extend/);
    await expect(scram.final('r=abc123,i=4096')).rejects.toThrow(/no s= attribute/);
    await expect(scram.final('r=abc123,s=W22Z,i=0')).rejects.toThrow(/asks for 0 SCRAM iterations/);
    expect(() => scram.verify('e=invalid-proof')).toThrow(/ended SCRAM with the error invalid-proof/);
  });
});

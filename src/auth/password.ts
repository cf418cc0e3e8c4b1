import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { PosternError } from '../errors/postern-error.js';

/**
 * Password hashes: scrypt with N=2^15, r=8, p=1 (32 MiB, the long-standing recommendation for
 * interactive logins). That makes a hash cost tens of milliseconds of one core, on purpose: it is
 * what keeps a stolen database from giving up its passwords. Logins are rate-limited separately.
 *
 * Stored form: `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`, so the parameters can be raised
 * later without breaking existing hashes.
 */
const PARAMS = { log2N: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;

function scrypt(password: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  const opts: ScryptOptions = { N: 2 ** log2N, r, p, maxmem: 256 * 2 ** log2N * r + (1 << 20) };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, KEY_LENGTH, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Says what is wrong with a new password, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `the password is too short: use at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `the password is too long: use at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

export async function hashPassword(password: string): Promise<string> {
  const problem = passwordProblem(password);
  if (problem) throw new PosternError('BAD_REQUEST', problem);
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, PARAMS.log2N, PARAMS.r, PARAMS.p);
  return ['scrypt', PARAMS.log2N, PARAMS.r, PARAMS.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Compares in constant time. A malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, log2N, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash || password.length > MAX_PASSWORD_LENGTH) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), Number(log2N), Number(r), Number(p));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A hash of a random password, verified against when the user does not exist, so that an unknown
 * user name costs the same time as a wrong password and response times do not reveal who exists.
 */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  return (decoy ??= hashPassword(randomBytes(24).toString('base64')));
}

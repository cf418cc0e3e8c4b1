import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * What a database client sends to prove it knows a password, for the password methods the agent
 * answers when a database is configured with `password_file`: MySQL's mysql_native_password and
 * caching_sha2_password, PostgreSQL's md5 and SCRAM-SHA-256. Each is what the database's own
 * client library computes; none sends the password itself.
 */

const pbkdf2Async = promisify(pbkdf2);

/**
 * mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))). An empty
 * password is an empty answer (how a certificate-only login answers every plugin).
 */
export function mysqlNativeProof(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const stage1 = hash('sha1', password);
  return xor(stage1, hash('sha1', scramble, hash('sha1', stage1)));
}

/** caching_sha2_password's fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble). */
export function cachingSha2Proof(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const stage1 = hash('sha256', password);
  return xor(stage1, hash('sha256', hash('sha256', stage1), scramble));
}

/** PostgreSQL's md5 method: `md5` + hex MD5(hex MD5(password + user) + salt), as PasswordMessage carries it. */
export function postgresMd5Proof(user: string, password: string, salt: Buffer): string {
  const stored = hash('md5', password, user).toString('hex');
  return `md5${hash('md5', stored, salt).toString('hex')}`;
}

/** RFC 5802's GS2 header for a client without channel binding: the agent's TLS is its own, checked against the db CA. */
const GS2_HEADER = 'n,,';

/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677): `first()`, then `final()` with the
 * server's first message, then `verify()` with its final one, which proves the server knew the
 * password too. PostgreSQL ignores the SCRAM user name (the StartupMessage names the user), so
 * it is empty unless given.
 */
export class ScramSha256 {
  private readonly firstBare: string;
  private serverSignature: Buffer | undefined;

  constructor(
    private readonly password: string,
    private readonly nonce = randomBytes(18).toString('base64'),
    user = '',
  ) {
    this.firstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  }

  first(): string {
    return GS2_HEADER + this.firstBare;
  }

  /** The client-final-message for the server-first-message; throws when the server's message is malformed. */
  async final(serverFirst: string): Promise<string> {
    const { r: nonce, s: salt, i: iterations } = attributes(serverFirst, ['r', 's', 'i']);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new Error("the database's SCRAM nonce does not extend the agent's");
    const rounds = Number(iterations);
    if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`the database asks for ${iterations.slice(0, 20)} SCRAM iterations`);
    // PostgreSQL normalizes a password (SASLprep, RFC 4013) when it stores it; NFKC is the part that changes real passwords, and ASCII not at all.
    const salted = await pbkdf2Async(this.password.normalize('NFKC'), Buffer.from(salt, 'base64'), rounds, 32, 'sha256');
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${nonce}`;
    const authMessage = `${this.firstBare},${serverFirst},${withoutProof}`;
    const clientKey = hmac(salted, 'Client Key');
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${xor(clientKey, hmac(hash('sha256', clientKey), authMessage)).toString('base64')}`;
  }

  /** Checks the server-final-message: a server that does not hold the password's verifier cannot sign it. */
  verify(serverFinal: string): void {
    if (serverFinal.startsWith('e=')) throw new Error(`the database ended SCRAM with the error ${serverFinal.slice(2, 100)}`);
    const signature = Buffer.from(attributes(serverFinal, ['v']).v, 'base64');
    if (!this.serverSignature || signature.length !== this.serverSignature.length || !timingSafeEqual(signature, this.serverSignature)) {
      throw new Error("the database's SCRAM signature is wrong: it does not know the password it claims to check");
    }
  }
}

/** The `name=value` attributes of a SCRAM message that the caller needs; throws naming one that is missing. */
function attributes<K extends string>(message: string, needed: readonly K[]): Record<K, string> {
  const found = new Map(message.split(',').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]));
  const out = {} as Record<K, string>;
  for (const name of needed) {
    const value = found.get(name);
    if (!value) throw new Error(`the database's SCRAM message has no ${name}= attribute`);
    out[name] = value;
  }
  return out;
}

function hash(algorithm: 'sha1' | 'sha256' | 'md5', ...parts: (string | Buffer)[]): Buffer {
  const h = createHash(algorithm);
  for (const part of parts) h.update(part);
  return h.digest();
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((byte, i) => byte ^ b[i]!));
}

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * OpenSSH keys and certificates (PROTOCOL.certkeys), Ed25519 only: Postern's SSH certificate
 * authorities are Ed25519, and so are the keys its clients make. Encoded here because no Node
 * package signs OpenSSH certificates.
 */
const KEY_TYPE = 'ssh-ed25519';
const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
export const SSH_CERT_USER = 1;
export const SSH_CERT_HOST = 2;

/** Everything a user certificate lets a session do (the defaults ssh-keygen gives user certificates). */
const USER_EXTENSIONS = ['permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'];

export interface SshKeyPair {
  privateKey: KeyObject;
  /** The public key in authorized_keys form: `ssh-ed25519 AAAA… comment`. */
  publicLine: string;
}

export function newSshKeyPair(comment = ''): SshKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicLine: publicKeyLine(publicKey, comment) };
}

/** `ssh-ed25519 AAAA… comment` for a Node Ed25519 public (or private) key. */
export function publicKeyLine(key: KeyObject, comment = ''): string {
  return `${KEY_TYPE} ${publicKeyBlob(key).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The SSH wire form of an Ed25519 public key: string "ssh-ed25519", string key (32 bytes). */
export function publicKeyBlob(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const raw = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
  return Buffer.concat([sshString(KEY_TYPE), sshString(raw)]);
}

/** Parses an `ssh-ed25519 AAAA…` line; throws with what is wrong. */
export function parsePublicKeyLine(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (type !== KEY_TYPE || !b64) throw new Error(`not an Ed25519 SSH public key (${type ?? 'empty'}); Postern signs ssh-ed25519 keys, e.g. /etc/ssh/ssh_host_ed25519_key.pub`);
  const blob = Buffer.from(b64, 'base64');
  const reader = new SshReader(blob);
  if (reader.string().toString() !== KEY_TYPE || reader.string().length !== 32) throw new Error('the SSH public key is malformed');
  return blob;
}

export interface SshCertRequest {
  /** The key being certified, as its SSH wire blob. */
  publicKeyBlob: Buffer;
  type: typeof SSH_CERT_USER | typeof SSH_CERT_HOST;
  /** Shown in sshd's logs: who and why. */
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
}

/** Signs an OpenSSH certificate with an Ed25519 CA key; returns it in `*-cert.pub` line form. */
export function signSshCertificate(ca: KeyObject, req: SshCertRequest): string {
  const key = new SshReader(req.publicKeyBlob);
  if (key.string().toString() !== KEY_TYPE) throw new Error('only ssh-ed25519 keys can be certified');
  const pk = key.string();
  const extensions = req.type === SSH_CERT_USER ? Buffer.concat(USER_EXTENSIONS.sort().flatMap((name) => [sshString(name), sshString(Buffer.alloc(0))])) : Buffer.alloc(0);
  const body = Buffer.concat([
    sshString(CERT_TYPE),
    sshString(randomBytes(32)),
    sshString(pk),
    uint64(BigInt('0x' + randomBytes(8).toString('hex'))),
    uint32(req.type),
    sshString(req.keyId),
    sshString(Buffer.concat(req.principals.map((p) => sshString(p)))),
    uint64(BigInt(Math.floor(req.validAfter.getTime() / 1000))),
    uint64(BigInt(Math.floor(req.validBefore.getTime() / 1000))),
    sshString(Buffer.alloc(0)), // critical options
    sshString(extensions),
    sshString(Buffer.alloc(0)), // reserved
    sshString(publicKeyBlob(ca)),
  ]);
  const signature = Buffer.concat([sshString(KEY_TYPE), sshString(sign(null, body, ca))]);
  return `${CERT_TYPE} ${Buffer.concat([body, sshString(signature)]).toString('base64')} ${req.keyId}`;
}

/** The private key in OpenSSH's own file format (unencrypted), for IdentityFile. */
export function opensshPrivateKey(key: KeyObject, comment = ''): string {
  const jwk = key.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString(KEY_TYPE), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const padding = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), uint32(1), sshString(publicKeyBlob(key)), sshString(secret)]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A signature in SSH form (for an agent answering sign requests with an Ed25519 key). */
export function sshSignature(key: KeyObject, data: Buffer): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(sign(null, data, key))]);
}

/** An Ed25519 private key from PEM (PKCS#8), as kept in storage and profiles. */
export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

export function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function uint64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** Reads SSH wire types in order, and refuses to read past the end. */
export class SshReader {
  private offset = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  byte(): number {
    if (this.remaining < 1) throw new Error('truncated SSH message');
    return this.buf[this.offset++]!;
  }

  uint32(): number {
    if (this.remaining < 4) throw new Error('truncated SSH message');
    const n = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return n;
  }

  string(): Buffer {
    const length = this.uint32();
    if (this.remaining < length) throw new Error('truncated SSH message');
    const s = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return s;
  }
}

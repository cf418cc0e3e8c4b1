import { createRequire } from 'node:module';
import type { KeyObject } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { opensshPrivateKey, sshSignature, sshString } from '../../pki/ssh.js';

const require = createRequire(import.meta.url);
/** ssh2's packet sender (not in its public API); see presentCertificate. */
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: unknown, packet: Buffer): void };

const USERAUTH_REQUEST = 50;
/** The SSH handshake and authentication must be done this soon after the node is reached. */
const READY_TIMEOUT_MS = 20_000;

/** A shell the proxy opened on a node, for the browser terminal. */
export interface NodeShell {
  channel: ClientChannel;
  /** Ends the SSH connection (the shell with it). */
  close(): void;
}

export interface ShellRequest {
  /** The byte stream to the node's sshd (one end of the relay that access.serveStream holds). */
  sock: Duplex;
  node: string;
  login: string;
  /** The node's host keys the cluster signed (SshHostKeys): the node must present one of them. */
  hostKeys: Buffer[];
  /** The key this one connection signs in with; it never leaves the process. */
  privateKey: KeyObject;
  /** Its certificate (`ssh-ed25519-cert-v01@openssh.com AAAA…`), bound to the node and login. */
  certificate: string;
  cols: number;
  rows: number;
  /** Told once, when the connection ends or fails before the shell opened (with the error). */
  onClose(err?: Error): void;
}

/**
 * SSH from the proxy itself, for the browser terminal: an ssh2 client over `sock` that signs in
 * with a node-bound certificate and opens an interactive shell with a PTY. ssh2 cannot negotiate
 * host certificates, so the node's plain Ed25519 host key (the one `ctl auth sign-host` signs)
 * is asked for and must be one the cluster signed for this node: the trust OpenSSH gets from
 * the host certificate, checked from the cluster's record instead.
 */
export function openShell(req: ShellRequest): Promise<NodeShell> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let closed = false;
    const close = (err?: Error) => {
      if (closed) return;
      closed = true;
      req.sock.destroy();
      if (!settled) {
        settled = true;
        reject(err ?? new Error('the node closed the connection before the shell opened'));
      }
      req.onClose(err);
    };
    client.on('error', (err) => close(describe(err, req)));
    client.on('close', () => close());
    client.on('ready', () => {
      client.shell({ term: 'xterm-256color', cols: req.cols, rows: req.rows }, (err, channel) => {
        if (err) return close(new Error(`the node would not open a shell: ${err.message}`));
        settled = true;
        channel.on('close', () => client.end());
        resolve({ channel, close: () => client.end() });
      });
    });
    client.connect({
      sock: req.sock as never,
      username: req.login,
      readyTimeout: READY_TIMEOUT_MS,
      keepaliveInterval: 30_000,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => req.hostKeys.some((signed) => signed.equals(key)),
      authHandler: [{ type: 'publickey', username: req.login, key: opensshPrivateKey(req.privateKey) }] as never,
    });
    presentCertificate(client, req.login, req.privateKey, req.certificate);
  });
}

/** What an ssh2 client error means for the person at the terminal. */
function describe(err: Error & { level?: string }, { node, login }: { node: string; login: string }): Error {
  if (err.message.startsWith('Host denied')) {
    return new Error(`${node}'s host key is not one the cluster signed for ${node}: the connection was closed before signing in, as someone may be in the way. If ${node}'s key changed, sign the new one: postern ctl auth sign-host --host=${node} --key=/etc/ssh/ssh_host_ed25519_key.pub`);
  }
  if (err.level === 'handshake' && /host key/i.test(err.message)) {
    return new Error(`${node}'s sshd offers no Ed25519 host key, the kind the cluster signs: ${err.message}`);
  }
  if (err.level === 'client-authentication') {
    return new Error(`the node refused the Postern certificate for ${login}: there may be no such user on it, or its sshd does not trust the cluster's user CA (postern ctl auth sign-host prints the sshd_config lines)`);
  }
  if (err.level === 'client-timeout') return new Error('the node did not finish the SSH handshake in time');
  return new Error(`SSH to the node failed: ${err.message}`);
}

interface Ssh2Protocol {
  _kex: { sessionID: Buffer };
  _packetRW: { write: { alloc(size: number): Buffer; allocStart: number; finalize(packet: Buffer): Buffer } };
  _authsQueue: string[];
  authPK(username: string, pubKey: unknown, keyAlgo?: unknown, cbSign?: unknown): void;
}

/**
 * ssh2 signs in with plain keys only: it writes the key's type in the signature too, where a
 * certificate's signature must say `ssh-ed25519` (PROTOCOL.certkeys). This connection's
 * publickey requests are therefore written here (RFC 4252 §7): the certificate as the key, and
 * the signature made with its private key. ssh2 still runs the exchange (query, PK_OK, signed
 * request, success or failure). Checked against ssh2 1.17 (package.json pins ^1.17); the e2e
 * test signs in to a real sshd.
 */
function presentCertificate(client: InstanceType<typeof ssh2.Client>, login: string, key: KeyObject, certificate: string): void {
  const proto = (client as unknown as { _protocol: Ssh2Protocol })._protocol;
  const [certType, b64] = certificate.split(' ');
  const certBlob = Buffer.from(b64!, 'base64');
  proto.authPK = (username: string, _pubKey: unknown, keyAlgo?: unknown, cbSign?: unknown) => {
    const signed = typeof keyAlgo === 'function' || typeof cbSign === 'function';
    if (username !== login) throw new Error('unexpected login in SSH authentication');
    const body = Buffer.concat([Buffer.from([USERAUTH_REQUEST]), sshString(username), sshString('ssh-connection'), sshString('publickey'), Buffer.from([signed ? 1 : 0]), sshString(certType!), sshString(certBlob)]);
    const payload = signed ? Buffer.concat([body, sshString(sshSignature(key, Buffer.concat([sshString(proto._kex.sessionID), body])))]) : body;
    const writer = proto._packetRW.write;
    const packet = writer.alloc(payload.length);
    packet.set(payload, writer.allocStart);
    proto._authsQueue.push('publickey');
    sendPacket(proto, writer.finalize(packet));
  };
}

import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { SshReader, sshSignature, sshString, uint32 } from '../pki/ssh.js';

const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_SIGN_REQUEST = 13;
const SSH_AGENT_SIGN_RESPONSE = 14;
/** Larger requests are not ones OpenSSH sends an agent; refuse them instead of buffering. */
const MAX_MESSAGE = 256 * 1024;

export interface AgentIdentity {
  /** The certificate, as its `*-cert.pub` line. */
  certificate: string;
  privateKey: KeyObject;
}

/**
 * The smallest ssh-agent OpenSSH needs: it lists one identity (a certificate) and signs with its
 * key; everything else is refused. `postern proxy ssh` serves one on a socket only its user can
 * open, for the life of one connection, so that plain `ssh` (IdentityAgent in its config) signs
 * in with a certificate issued for exactly the node and login of that connection. The identity
 * may arrive after the socket opens: requests wait for it.
 */
export class OneShotAgent {
  private readonly server: Server;
  private identity: Promise<AgentIdentity>;
  private provide: (id: AgentIdentity) => void = () => {};
  private fail: (err: Error) => void = () => {};
  /** The socket file this agent made, to remove it and nothing else. */
  private inode = -1;

  /**
   * `onSign` is told when ssh asks for a signature: ssh asks only once sshd has accepted the key it
   * offered, so it is the one sign that the node's sshd took the certificate (its CA, its principal
   * and the login).
   */
  constructor(
    private readonly path: string,
    private readonly onSign: () => void = () => {},
  ) {
    this.identity = new Promise((resolve, reject) => {
      this.provide = resolve;
      this.fail = reject;
    });
    this.identity.catch(() => {}); // a failed connection never gets to use its agent
    this.server = createServer((socket) => this.serve(socket));
  }

  /**
   * Listens on a name of its own, then renames it onto the path ssh knows (IdentityAgent): two
   * connections to the same login@host at once never delete each other's socket, and the path
   * always leads to a live agent whose certificate is for that login@host.
   */
  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const own = `${this.path}.${process.pid}`;
    rmSync(own, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(own, () => resolve());
    });
    renameSync(own, this.path);
    this.inode = statSync(this.path).ino;
    // However the process ends (ssh closing the ProxyCommand, a signal), the socket goes with it.
    process.once('exit', () => this.close());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(130));
  }

  /** Gives the agent its identity (or tells waiting requests there will be none). */
  set(identity: AgentIdentity | Error): void {
    if (identity instanceof Error) this.fail(identity);
    else this.provide(identity);
  }

  close(): void {
    if (!this.server.listening) return;
    this.server.close();
    // Only our own socket: a newer connection's agent may have taken the path since.
    try {
      if (statSync(this.path).ino === this.inode) rmSync(this.path, { force: true });
    } catch {
      // gone already
    }
  }

  private serve(socket: Socket): void {
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0);
        if (length > MAX_MESSAGE) return void socket.destroy();
        if (buffered.length < 4 + length) return;
        const message = buffered.subarray(4, 4 + length);
        buffered = buffered.subarray(4 + length);
        // Answers go out in the order the requests came in.
        chain = chain.then(async () => {
          socket.write(frame(await this.answer(message)));
        });
      }
    });
  }

  private async answer(message: Buffer): Promise<Buffer> {
    try {
      const reader = new SshReader(message);
      const type = reader.byte();
      if (type === SSH_AGENTC_REQUEST_IDENTITIES) {
        const { certificate } = await this.identity;
        const [, blob, comment = ''] = certificate.split(' ');
        return Buffer.concat([Buffer.from([SSH_AGENT_IDENTITIES_ANSWER]), uint32(1), sshString(Buffer.from(blob!, 'base64')), sshString(comment)]);
      }
      if (type === SSH_AGENTC_SIGN_REQUEST) {
        const { certificate, privateKey } = await this.identity;
        const key = reader.string();
        const data = reader.string();
        if (!key.equals(Buffer.from(certificate.split(' ')[1]!, 'base64'))) return Buffer.from([SSH_AGENT_FAILURE]);
        const signed = Buffer.concat([Buffer.from([SSH_AGENT_SIGN_RESPONSE]), sshString(sshSignature(privateKey, data))]);
        this.onSign();
        return signed;
      }
    } catch {
      // malformed request, or no identity: a refusal is the answer
    }
    return Buffer.from([SSH_AGENT_FAILURE]);
  }
}

function frame(body: Buffer): Buffer {
  return Buffer.concat([uint32(body.length), body]);
}

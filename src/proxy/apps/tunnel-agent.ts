import { Agent, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** Opens a byte stream to the app (through its agent's tunnel). */
export type Dialer = () => Promise<Duplex>;

/**
 * An HTTP keep-alive pool whose "sockets" are streams through an agent's tunnel: requests to an
 * app reuse open streams instead of dialling for each one. For https:// apps, TLS to the app runs
 * inside the stream (verified against the system's CAs unless the app says otherwise).
 */
export class TunnelAgent extends Agent {
  constructor(
    private readonly dial: Dialer,
    private readonly tls?: { servername: string; verify: boolean },
  ) {
    super({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, timeout: 60_000, scheduling: 'lifo' });
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback!;
    this.dial().then(
      (stream) => {
        asSocket(stream);
        if (!this.tls) return done(null, stream);
        const secure = tlsConnect({ socket: stream, servername: this.tls.servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: this.tls.verify });
        secure.once('secureConnect', () => done(null, secure));
        secure.once('error', (err) => done(err, secure));
      },
      (err: Error) => done(err, undefined as never),
    );
    return undefined;
  }
}

/**
 * The pool treats its streams as TCP sockets (keep-alive probes, ref/unref). A tunnel stream has
 * no TCP of its own: those calls become no-ops, and everything else is the stream's.
 */
function asSocket(stream: Duplex): void {
  const s = stream as Duplex & Record<string, unknown>;
  for (const method of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) if (typeof s[method] !== 'function') s[method] = () => stream;
}

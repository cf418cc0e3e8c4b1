import { Agent, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { PosternError } from '../../errors/postern-error.js';

/** Opens a byte stream to the app (through its agent's tunnel). */
export type Dialer = () => Promise<Duplex>;

/** TLS to an https:// app, inside the tunnel stream. */
export interface AppTls {
  servername: string;
  verify: boolean;
}

/**
 * A byte stream to the app: a tunnel stream, with TLS to the app inside it for https:// apps
 * (verified against the system's CAs and the app's host name).
 */
export async function openAppStream(dial: Dialer, tls: AppTls | undefined): Promise<Duplex> {
  const stream = await dial();
  if (!tls) return stream;
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ socket: stream, servername: tls.servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: tls.verify });
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', (err: NodeJS.ErrnoException) => {
      stream.destroy();
      reject(untrusted(err, tls.servername) ?? err);
    });
  });
}

/** A certificate the proxy could not verify: say so, and what the app's owner can do. */
function untrusted(err: NodeJS.ErrnoException, servername: string): PosternError | undefined {
  if (!err.code || !/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/.test(err.code)) return undefined;
  return new PosternError(
    'TARGET_UNREACHABLE',
    `the app's certificate is not trusted (${err.code}: ${err.message}). If ${servername} uses a self-signed certificate, set insecure_skip_verify: true for this app in the agent's configuration (the connection stays encrypted, but the app is not authenticated)`,
  );
}

/**
 * An HTTP keep-alive pool whose "sockets" are streams through an agent's tunnel (openAppStream):
 * requests to an app reuse open streams instead of dialling for each one.
 */
export class TunnelAgent extends Agent {
  constructor(
    private readonly dial: Dialer,
    private readonly tls?: AppTls,
  ) {
    super({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, timeout: 60_000, scheduling: 'lifo' });
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback!;
    openAppStream(this.dial, this.tls).then(
      (stream) => done(null, asSocket(stream)),
      (err: Error) => done(err, undefined as never),
    );
    return undefined;
  }
}

/**
 * The pool treats its streams as TCP sockets (keep-alive probes, ref/unref). A tunnel stream has
 * no TCP of its own: those calls become no-ops, and everything else is the stream's.
 */
function asSocket(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const method of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) if (typeof s[method] !== 'function') s[method] = () => stream;
  return stream;
}

import { connect as connectHttp2, constants, sensitiveHeaders, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import { bulkSettings, widenSessionWindow } from '../net/h2-flow.js';
import { connectionError, connectToProxy, type ProxyEndpoint } from './api-client.js';
import { ANSWER_TIMEOUT_MS, MAX_HEAD, noAnswer, oversizedAnswer, refusal } from './connect-tunnel.js';

/** The tunnels this side opens on one connection; the proxy's own limit applies when lower. */
const MAX_STREAMS = 100;

/** The connection went away before the proxy answered: the CONNECT was never processed, and may be tried again. */
class ConnectionLost extends PosternError {}

interface Session {
  h2: ClientHttp2Session;
  /** Resolves once the TLS and HTTP/2 handshakes are done; rejects (with what to check) if they fail. */
  ready: Promise<void>;
  /** Tunnels open, or being opened, on it. */
  streams: number;
}

/**
 * Tunnels as HTTP/2 CONNECT streams (RFC 9113 §8.5) over one TLS connection to the proxy. A new
 * tunnel costs one round trip and no handshake, and leaves no handshake behind to slow the next
 * one. Each tunnel is its own flow-controlled stream (net/h2-flow.ts), so a stalled or bulk tunnel
 * does not stall the others; but they share one TCP connection, and a bulk copy reaches about
 * 0.6–1.0x of what a connection of its own carries here. So `postern tcp --listen` uses this for
 * the tunnels that find no spare connection ready (see SpareConnections), not for all.
 *
 * One connection is kept ready: made at once, and again whenever the proxy closes it (it closes
 * connections idle for two minutes, and all of them when it restarts), unless it never came up.
 * A tunnel asked for just as its connection went away is opened once more on a new one. A CONNECT
 * that gets no answer in time gives up its connection too, which may be dead without a word
 * (a NAT that forgot it, a laptop that slept).
 */
export class MultiplexedTunnels {
  private readonly sessions: Session[] = [];
  private readonly where: string;
  private readonly answerTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly endpoint: ProxyEndpoint,
    opts: { answerTimeoutMs?: number } = {},
  ) {
    this.where = formatHostPort(endpoint.proxy);
    this.answerTimeoutMs = opts.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.open();
  }

  /** A tunnel to a route (its `host:port`), with the endpoint's certificate or this bearer token. */
  async connectRoute(authority: string, bearer?: string): Promise<ClientHttp2Stream> {
    if (this.closed) throw new PosternError('PROXY_UNREACHABLE', 'the listener is closing: it opens no more tunnels');
    const session = this.pick();
    try {
      return await this.request(session, authority, bearer);
    } catch (err) {
      // The proxy's answer stands, and so does a timeout; a connection lost before any answer is tried once more.
      if (!(err instanceof ConnectionLost) || this.closed) throw err;
      return this.request(this.pick(), authority, bearer);
    }
  }

  /** Closes the connections once their tunnels have ended, and makes no more. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions.splice(0)) s.h2.close();
  }

  /** A live connection with room for another tunnel; a new one when there is none. */
  private pick(): Session {
    const room = (s: Session) => s.streams < Math.min(MAX_STREAMS, s.h2.remoteSettings?.maxConcurrentStreams ?? MAX_STREAMS);
    return this.sessions.find((s) => !s.h2.closed && !s.h2.destroyed && room(s)) ?? this.open();
  }

  private open(): Session {
    const h2 = connectHttp2(`https://${this.where}`, {
      createConnection: () => connectToProxy(this.endpoint, { ALPNProtocols: ['h2'] }),
      settings: bulkSettings(MAX_STREAMS),
    });
    widenSessionWindow(h2);
    h2.unref(); // what keeps the process alive is the listener, not a connection held ready
    h2.on('error', () => {}); // a failure reaches the tunnel waiting on `ready`, and otherwise only ends this connection
    let up = false;
    const session: Session = {
      h2,
      streams: 0,
      ready: new Promise((resolve, reject) => {
        h2.once('connect', () => {
          up = true;
          resolve();
        });
        h2.once('error', (err: NodeJS.ErrnoException) => reject(err instanceof PosternError ? err : connectionError(err, this.where)));
        h2.once('close', () => reject(new PosternError('PROXY_UNREACHABLE', `${this.where} closed the connection before it was ready`)));
      }),
    };
    session.ready.catch(() => {});
    h2.once('close', () => {
      const at = this.sessions.indexOf(session);
      if (at >= 0) this.sessions.splice(at, 1);
      // Kept ready for the next burst of tunnels; but not made again and again while the proxy is down.
      if (!this.closed && up && this.sessions.length === 0) this.open();
    });
    this.sessions.push(session);
    return session;
  }

  /** CONNECT on `session`: waits for it to be up, then for the answer, within the answer timeout in all. */
  private request(session: Session, authority: string, bearer: string | undefined): Promise<ClientHttp2Stream> {
    return new Promise<ClientHttp2Stream>((resolve, reject) => {
      let stream: ClientHttp2Stream | undefined;
      let done = false;
      const settle = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stream?.off('error', onError).off('close', onLost);
        if (!err) return resolve(stream!);
        if (stream && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        reject(err);
      };
      const gone = () => session.h2.closed || session.h2.destroyed;
      const onError = (err: NodeJS.ErrnoException) => settle(gone() ? new ConnectionLost('PROXY_UNREACHABLE', `the connection to ${this.where} ended before it answered CONNECT (${err.code ?? err.message})`) : connectionError(err, this.where));
      const onLost = () => settle(new (gone() ? ConnectionLost : PosternError)('PROXY_UNREACHABLE', `${this.where} closed the tunnel to ${authority} without answering CONNECT`));
      const timer = setTimeout(() => {
        // No answer at all: the connection itself is likely dead, and the next tunnel gets a new one.
        settle(noAnswer(this.where, this.answerTimeoutMs));
        session.h2.destroy();
      }, this.answerTimeoutMs);
      session.ready.then(() => {
        if (done) return;
        stream = session.h2.request({ ':method': 'CONNECT', ':authority': authority, ...(bearer ? { 'proxy-authorization': `Bearer ${bearer}`, [sensitiveHeaders]: ['proxy-authorization'] } : {}) });
        session.streams++;
        stream.once('close', () => session.streams--);
        stream.once('error', onError).once('close', onLost);
        stream.once('response', (headers: IncomingHttpHeaders) => {
          const status = Number(headers[':status']);
          if (status === 200) {
            stream!.pause(); // handed over paused, as a socket would be, for the relay to start
            return settle();
          }
          // A refusal: its body says why, and the stream closes after it.
          stream!.off('close', onLost);
          let body = '';
          stream!.setEncoding('utf8');
          stream!.on('data', (d: string) => {
            body += d;
            if (body.length > MAX_HEAD) settle(oversizedAnswer());
          });
          stream!.once('close', () => settle(refusal(status, body, this.where)));
        });
      }, settle);
    });
  }
}

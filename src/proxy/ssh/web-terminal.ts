import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Access, Authorization, StreamStats } from '../../access/access.js';
import { nodePrincipal, SSH_SESSION_CERT_TTL_MS, sshUserCertificate } from '../../auth/ssh-certificates.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import { routeScopeProblem } from '../../auth/verifier.js';
import { PosternError, toPosternError } from '../../errors/postern-error.js';
import { newSshKeyPair } from '../../pki/ssh.js';
import type { NodeAnnouncement } from '../../resources/node.js';
import type { RoutedConnection } from '../router.js';
import type { Principal, WebAuthenticator } from '../web/principal.js';
import type { NodeCatalog } from './node-catalog.js';
import type { SshHostKeys } from '../../auth/ssh-host-keys.js';
import { openShell, type NodeShell } from './ssh-client.js';
import { LOGIN } from './ssh-handler.js';

export const TERMINAL_PATH = '/webapi/terminal';
/** Output the browser has not acknowledged (xterm has not yet drawn) past which the shell is paused, and below which it goes on. */
const PAUSE_AT = 1024 * 1024;
const RESUME_AT = 256 * 1024;
/** A browser's input or control message larger than this is not typing. */
const MAX_MESSAGE = 64 * 1024;
const MAX_SIZE = 1000;

/** Close codes the page shows the message of (4000-4999 are the application's, RFC 6455 §7.4.2). */
export const CLOSE = { ended: 4000, refused: 4003, revoked: 4001, failed: 4002 } as const;

/**
 * The browser terminal: `GET /webapi/terminal?node=web-1&login=root&cols=80&rows=24` upgraded to a
 * WebSocket. The caller is the browser's session cookie (refused before the upgrade without one,
 * or from a page of another origin), and the node and login are decided by the same access
 * pipeline as `postern ssh` (authorizeLookup, then serveStream: the ssh.session.start/end audit
 * events and a live grant that a lock ends). A refusal completes the upgrade only to say why.
 *
 * The proxy is the SSH client here: it makes a key pair for this one connection (the private
 * key never leaves the process), has the user CA certify it for exactly `login@node` (two
 * minutes, as for `postern ssh`), and signs in over the stream serveStream dialled to the node.
 *
 * Frames: binary both ways are the terminal's bytes; text frames are JSON control messages.
 * From the browser: {"type":"resize","cols","rows"}, {"type":"ack","bytes"} (output drawn, for
 * flow control). From the proxy: {"type":"connected","node","login"}, then
 * {"type":"closed","message"} just before the WebSocket closes.
 */
export class WebTerminal {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, perMessageDeflate: false });

  constructor(private readonly deps: { authn: WebAuthenticator; access: Access; nodes: NodeCatalog; cluster: ClusterState; hostKeys: SshHostKeys }) {}

  /** Whether an upgrade request is for the terminal (the proxy's own host; app hosts are the apps'). */
  claims(req: IncomingMessage): boolean {
    return (req.url ?? '').split('?')[0] === TERMINAL_PATH;
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, conn: RoutedConnection): Promise<void> {
    const refuse = (status: number, reason: string): void => {
      conn.log.info('refused a terminal WebSocket', { status, reason });
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${reason}\n`);
    };
    // Cross-site WebSocket hijacking: a browser sends the page's origin, and it must be this host.
    const origin = req.headers.origin;
    if (origin === undefined || origin !== `https://${req.headers.host ?? ''}`) return refuse(403, 'the terminal opens only from this proxy\'s own pages');
    const url = new URL(req.url ?? '/', 'https://proxy.invalid');
    const node = url.searchParams.get('node') ?? '';
    const login = url.searchParams.get('login') ?? '';
    const size = (name: string, fallback: number) => Math.min(MAX_SIZE, Math.max(1, Number.parseInt(url.searchParams.get(name) ?? '', 10) || fallback));
    const cols = size('cols', 80);
    const rows = size('rows', 24);
    if (!node || !LOGIN.test(login)) return refuse(400, 'say which node and login: ?node=NAME&login=LOGIN');
    let caller: Principal | undefined;
    try {
      caller = await this.deps.authn.identify(conn, req.headers);
    } catch (err) {
      return refuse(401, toPosternError(err).message);
    }
    if (!caller) return refuse(401, 'sign in first, at /web');
    if (caller.tunnelsOnly) return refuse(403, 'a token from `postern tcp` opens TCP tunnels only');
    const outside = routeScopeProblem(caller.route, undefined);
    if (outside) return refuse(403, outside);

    const log = conn.log.child({ terminal: `${login}@${node}` });
    let resource: NodeAnnouncement | undefined;
    let authorization: Authorization;
    try {
      authorization = await this.deps.access.authorizeLookup({
        caller,
        target: { kind: 'node', name: node },
        find: async () => {
          resource = await this.deps.nodes.online(node);
          return { kind: 'node', name: node, labels: resource.labels };
        },
        current: () => this.deps.nodes.current(node),
        request: { login },
        clientAddr: conn.clientAddr.address,
        log,
      });
    } catch (err) {
      // No such node, its agent offline: the person is signed in, so the page says which.
      return this.accept(req, socket, head, (ws) => closeWith(ws, CLOSE.refused, toPosternError(err).message));
    }
    if (!authorization.allowed || !resource) {
      const refusal = await this.refusal(authorization, caller, node, login);
      return this.accept(req, socket, head, (ws) => closeWith(ws, CLOSE.refused, refusal));
    }
    const found = resource;
    this.accept(req, socket, head, (ws) => void this.run(ws, authorization, { node, login, cols, rows, found, username: caller.username, expires: caller.expires }));
  }

  /** Completes the upgrade; `then` gets the WebSocket. */
  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, then: (ws: WebSocket) => void): void {
    this.wss.handleUpgrade(req, socket, head, then);
  }

  /** The refusal's message, with the logins the roles do allow on the node when roles decided it (as `postern ssh` says). */
  private async refusal(authorization: Authorization, caller: Principal, node: string, login: string): Promise<string> {
    const err = authorization.error(`may not log in to ${node} as ${login}`);
    if (authorization.subject === undefined || err.code !== 'ACCESS_DENIED') return err.message;
    const logins = (await this.deps.access.view(caller)).checker.allowedLogins({ kind: 'node', name: node, labels: authorization.input.target.labels });
    return `${err.message}; ${logins.length ? `you may log in to ${node} as: ${logins.join(', ')}` : `no role of yours allows any login on ${node}`}`;
  }

  private async run(ws: WebSocket, authorization: Authorization, s: { node: string; login: string; cols: number; rows: number; found: NodeAnnouncement; username: string; expires: Date }): Promise<void> {
    const { access, nodes, cluster } = this.deps;
    const hostKeys = await this.deps.hostKeys.signed(s.node);
    const keys = newSshKeyPair();
    const certificate = sshUserCertificate(cluster.ssh.user, {
      publicKey: keys.publicLine,
      username: s.username,
      principals: [nodePrincipal(s.login, s.node)],
      validBefore: new Date(Math.min(Date.now() + SSH_SESSION_CERT_TTL_MS, s.expires.getTime())),
      purpose: `web terminal ${s.login}@${s.node}`,
    });
    let failure: string | undefined;
    let shell: NodeShell | undefined;
    /** The relay's SSH end: what serveStream holds (counts, grant) is the other. */
    const [relayEnd, sshEnd] = duplexPair();
    ws.on('close', () => sshEnd.destroy());
    const started = access.serveStream(authorization, {
      // Without a key the cluster signed for the node, the terminal could not tell it from an
      // impostor: the session fails before it opens (and is audited so, by serveStream).
      dial: async () => {
        if (hostKeys.length === 0) {
          throw new PosternError('TARGET_UNREACHABLE', `the cluster has signed no host key for ${s.node}, so the terminal cannot tell ${s.node} from an impostor: sign its key with postern ctl auth sign-host --host=${s.node} --key=/etc/ssh/ssh_host_ed25519_key.pub (keys signed before this version of Postern were not recorded: sign again)`);
        }
        return nodes.dial(s.node, s.found);
      },
      accept: () => {
        openShell({
          sock: sshEnd,
          node: s.node,
          login: s.login,
          hostKeys,
          privateKey: keys.privateKey,
          certificate,
          cols: s.cols,
          rows: s.rows,
          onClose: (err) => {
            if (err) failure ??= err.message;
          },
        }).then(
          (opened) => {
            shell = opened;
            this.relay(ws, opened);
            send(ws, { type: 'connected', node: s.node, login: s.login });
          },
          () => undefined, // onClose has the reason, and onEnd says it
        );
        return relayEnd;
      },
      fields: { login: s.login, node: s.node, client: 'web-terminal' },
      // A failure before the shell opened (the host key, the login refused); after, the session ended.
      failure: () => (shell ? undefined : failure),
      onEnd: (stats: StreamStats) => {
        shell?.close();
        if (stats.revoked) closeWith(ws, CLOSE.revoked, `access was revoked: ${stats.revoked}`);
        else if (failure) closeWith(ws, CLOSE.failed, failure);
        else closeWith(ws, CLOSE.ended, 'the session ended');
      },
    });
    await started.catch((err: unknown) => {
      sshEnd.destroy();
      closeWith(ws, CLOSE.failed, toPosternError(err).message);
    });
  }

  /** Shell output to the browser (paused while too much is not yet drawn), input and control messages to the shell. */
  private relay(ws: WebSocket, shell: NodeShell): void {
    const { channel } = shell;
    let sent = 0;
    let acked = 0;
    let paused = false;
    const output = (data: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(data, { binary: true });
      sent += data.length;
      if (!paused && sent - acked > PAUSE_AT) {
        paused = true;
        channel.pause();
      }
    };
    channel.on('data', output);
    channel.stderr.on('data', output);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) return void channel.write(bytes);
      let message: { type?: unknown; cols?: unknown; rows?: unknown; bytes?: unknown };
      try {
        message = JSON.parse(bytes.toString('utf8')) as typeof message;
      } catch {
        return;
      }
      if (message.type === 'resize' && isSize(message.cols) && isSize(message.rows)) channel.setWindow(message.rows, message.cols, 0, 0);
      if (message.type === 'ack' && typeof message.bytes === 'number' && message.bytes > 0) {
        acked = Math.min(sent, acked + message.bytes);
        if (paused && sent - acked < RESUME_AT) {
          paused = false;
          channel.resume();
        }
      }
    });
  }
}

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= MAX_SIZE;
}

function send(ws: WebSocket, message: Record<string, unknown>): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

/** Says why, then closes (a close frame's reason is cut at 123 bytes; the message is not). */
function closeWith(ws: WebSocket, code: number, message: string): void {
  if (ws.readyState !== ws.OPEN) return;
  send(ws, { type: 'closed', message });
  ws.close(code, Buffer.from(message).subarray(0, 120).toString('utf8').replace(/\uFFFD$/, ''));
}

/**
 * Two connected in-memory byte streams: what one end is written, the other reads. Destroying
 * one end closes the other (a revoked grant's abortStream ends the SSH client's stream too).
 */
function duplexPair(): [Duplex, Duplex] {
  let left: Duplex;
  let right: Duplex;
  const end = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        other().push(chunk);
        callback();
      },
      final(callback) {
        other().push(null);
        callback();
      },
      destroy(err, callback) {
        const peer = other();
        if (!peer.destroyed) peer.destroy();
        callback(err);
      },
    });
  left = end(() => right);
  right = end(() => left);
  return [left, right];
}


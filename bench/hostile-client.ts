/**
 * The attacker of the hostile-load scenario, in its own process: its sockets, timers and client
 * TLS work stay off the event loop that times the real client's requests. A worker thread would
 * do that too, but would share the measuring process's memory and fate (an attacker stuck or
 * crashed there takes the measurement with it); a process shares only the cores, as a
 * co-located attacker would. Every socket binds to `source`, a loopback address other than the
 * real client's, so per-address limits tell the two apart as they would on a network.
 *
 * argv: <proxy port> <source address>. Speaks the line protocol of server-process.ts: prints
 * {"ready": 1}, then answers "start NAME COUNT [EVERY_MS]" (once the attack is launched, not
 * once it is set up) with {"started": 1}, and "stop" with what it saw (AttackStats), after
 * destroying every socket. Every attack is bounded: a fixed number of slots, a held connection
 * the server closes is opened again only after a wait (longer while the server keeps refusing
 * it), and repeated actions start at a set pace.
 */
import { once } from 'node:events';
import { Agent, request } from 'node:https';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

const [portText, source] = process.argv.slice(2) as [string, string];
const port = Number(portText);
const HOST = 'postern.localhost';
/** tls.connect passes localAddress on to net.connect (Node 20's _tls_wrap.js), though @types/node leaves it out. */
const FROM_SOURCE = { localAddress: source } as ConnectionOptions;

/** One byte per connection this often: slow enough never to finish a hello or header in a phase. */
const TRICKLE_MS = 300;
/**
 * A held connection the server closed is opened again after RECONNECT_MS; when the server keeps
 * refusing a slot at once, its wait doubles up to MAX_RECONNECT_MS. So the attack stays what it
 * says (connections held) rather than turning into a flood of new connections from one address.
 */
const RECONNECT_MS = 500;
const MAX_RECONNECT_MS = 8_000;
/** A held connection that ends sooner than this counts as refused. */
const REFUSED_WITHIN_MS = 1_000;
/**
 * Slots open over this long rather than all at once, as a real attacker's do: a few hundred
 * handshakes in the same instant would measure a connection burst, which no attack here is about.
 */
const RAMP_MS = 1_000;
/** A repeated action (one oversized hello, one login) that takes longer is abandoned. */
const ACTION_TIMEOUT_MS = 5_000;
/** ~56 KB of ALPN names (4,000 × 14 bytes); the hello still fits OpenSSL's 128 KiB hello limit. */
const HUGE_ALPN = [...Array.from({ length: 4_000 }, (_, i) => `x-proto-${String(i).padStart(5, '0')}`), 'http/1.1'];
const HUGE_HEADER = `GET /webapi/ping HTTP/1.1\r\nHost: ${HOST}:${port}\r\nX-Pad: ${'a'.repeat(100 * 1024)}\r\n\r\n`;
/** The HTTP/2 client preface and an empty SETTINGS frame: a session as a browser opens it, then silence. */
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

export interface AttackStats {
  /** Connections the attacker opened. */
  opened: number;
  /** Of those, how many got as far as TCP connected (plain) or a finished handshake (TLS). */
  established: number;
  /** Most attacker connections open at once. */
  peak: number;
  /**
   * Connections that ended while the attack ran: for held connections, those the server closed or
   * refused; for repeated actions, every one that finished.
   */
  closedEarly: number;
  /** HTTP answers by method and status ("POST 429"), for the login burst. */
  statuses: Record<string, number>;
}

/**
 * One attack from start to stop: its sockets, timers and counts. Slots and sockets keep the run
 * they belong to, so a slot still winding down cannot leak into the next attack.
 */
class Run {
  active = true;
  private readonly started = performance.now();
  readonly stats: AttackStats = { opened: 0, established: 0, peak: 0, closedEarly: 0, statuses: {} };
  private readonly sockets = new Set<Socket>();
  /** Pending waits, each with how to end it early (a slot waiting on one must not hang when the run stops). */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly agents: Agent[] = [];

  /**
   * Counts a socket (once, however often an agent hands it out) and makes sure it can never
   * throw: resets and refusals are what attacks meet. `ready` is the event that makes it established.
   */
  track<S extends Socket>(socket: S, ready: 'connect' | 'secureConnect'): S {
    if (this.sockets.has(socket)) return socket;
    this.stats.opened++;
    socket.once(ready, () => this.stats.established++);
    this.sockets.add(socket);
    this.stats.peak = Math.max(this.stats.peak, this.sockets.size);
    socket.on('error', () => {});
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.active) this.stats.closedEarly++;
    });
    // Stopped while it was still connecting: nothing is left behind.
    if (!this.active) socket.destroy();
    return socket;
  }

  tcp(): Socket {
    return this.track(tcpConnect({ port, host: '127.0.0.1', localAddress: source }), 'connect');
  }

  tls(alpn: string[]): TLSSocket {
    return this.track(tlsConnect({ ...FROM_SOURCE, port, host: '127.0.0.1', servername: HOST, ALPNProtocols: alpn, rejectUnauthorized: false }), 'secureConnect');
  }

  /** A keep-alive agent whose sockets are this run's. */
  agent(maxSockets: number): Agent {
    const agent = new Agent({ keepAlive: true, maxSockets, localAddress: source, rejectUnauthorized: false });
    this.agents.push(agent);
    return agent;
  }

  /** Calls `fn` after `ms` if the run is still going; resolves either way (at the latest when it stops). */
  later(ms: number, fn: () => void = () => {}): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.active) fn();
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }

  /** Keeps `count` connections open: each slot opens one, and opens another when the server closes it. */
  hold(count: number, open: () => Socket): void {
    const slot = (backoff: number): void => {
      const opened = performance.now();
      open().once('close', () => {
        const wait = performance.now() - opened < REFUSED_WITHIN_MS ? backoff : RECONNECT_MS;
        void this.later(wait, () => slot(Math.min(wait * 2, MAX_RECONNECT_MS)));
      });
    };
    for (let i = 0; i < count; i++) void this.later((i * RAMP_MS) / count, () => slot(RECONNECT_MS));
  }

  /**
   * Runs `action(slot)` over and over in `count` slots until the run stops, each slot starting one
   * at most every `everyMs` (so the rate is bounded even when the server refuses at once); a
   * failure is just the next try. With `prepare`, each slot runs it during the ramp and then all
   * start their first action in the same instant: a burst, then a steady rate.
   */
  repeat(count: number, everyMs: number, action: (slot: number) => Promise<void>, prepare?: (slot: number) => Promise<void>): void {
    const slot = async (i: number) => {
      if (prepare) {
        await prepare(i).catch(() => {});
        await this.later(RAMP_MS - (performance.now() - this.started));
      }
      while (this.active) {
        const started = performance.now();
        await action(i).catch(() => {});
        const rest = everyMs - (performance.now() - started);
        if (rest > 0) await this.later(rest);
      }
    };
    for (let i = 0; i < count; i++) void this.later((i * RAMP_MS) / count, () => void slot(i));
  }

  stop(): AttackStats {
    this.active = false;
    for (const [timer, resolve] of this.timers) {
      clearTimeout(timer);
      resolve();
    }
    this.timers.clear();
    for (const agent of this.agents) agent.destroy();
    for (const s of this.sockets) s.destroy();
    return this.stats;
  }
}

/** Resolves when the socket closes, destroying it after ACTION_TIMEOUT_MS if it has not. */
function closed(socket: Socket): Promise<void> {
  const timer = setTimeout(() => socket.destroy(), ACTION_TIMEOUT_MS);
  return new Promise((resolve) =>
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    }),
  );
}

/** Writes `bytes` one at a time, TRICKLE_MS apart, for as long as the socket is open. */
function trickle(socket: Socket, bytes: Buffer): void {
  let next = 0;
  const timer = setInterval(() => {
    if (next < bytes.length) socket.write(bytes.subarray(next, ++next));
  }, TRICKLE_MS);
  socket.once('close', () => clearInterval(timer));
}

/**
 * A real ClientHello as Node sends it to the proxy (SNI, ALPN http/1.1), caught by a listener of
 * our own: the trickle must be a hello OpenSSL takes as the start of a good handshake.
 */
async function clientHello(): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, source, r));
  const caught = once(server, 'connection') as Promise<[Socket]>;
  const client = tlsConnect({ port: (server.address() as { port: number }).port, host: source, servername: HOST, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
  client.on('error', () => {});
  const [peer] = await caught;
  const [hello] = (await once(peer, 'data')) as [Buffer];
  client.destroy();
  peer.destroy();
  server.close();
  return hello;
}

/** One HTTPS request on `agent`; its answer is counted by method and status. */
function send(run: Run, agent: Agent, method: string, path: string, json?: unknown): Promise<void> {
  const body = json === undefined ? '' : JSON.stringify(json);
  const headers = { host: `${HOST}:${port}`, ...(json === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: HOST, path, method, agent, headers }, (res) => {
      const answer = `${method} ${res.statusCode}`;
      run.stats.statuses[answer] = (run.stats.statuses[answer] ?? 0) + 1;
      res.resume();
      res.once('end', resolve);
      res.once('error', reject);
    });
    req.once('socket', (s) => run.track(s, 'secureConnect'));
    req.once('error', reject);
    req.setTimeout(ACTION_TIMEOUT_MS, () => req.destroy());
    req.end(body);
  });
}

/** A CLI login with a wrong password (and a code, so a cluster that asks for one checks the password too). */
const wrongLogin = (run: Run, agent: Agent) => send(run, agent, 'POST', '/webapi/login', { user: 'bench', password: `not the password ${Math.random()}`, otp: '000000' });

const hello = await clientHello();

/**
 * The attacks by name; each starts its slots on `run` and returns at once. `count` is how many
 * connections are held (or actions in flight); `everyMs`, for repeated actions, how often each
 * slot may start one.
 */
const attacks: Record<string, (run: Run, count: number, everyMs: number) => void> = {
  /** Slowloris before the handshake: TCP connections trickling a ClientHello. */
  'hello-trickle': (run, count) =>
    run.hold(count, () => {
      const s = run.tcp();
      return s.once('connect', () => trickle(s, hello));
    }),
  /** Slowloris after the handshake: an HTTP/1.1 request header that never ends. */
  'header-trickle': (run, count) =>
    run.hold(count, () => {
      const s = run.tls(['http/1.1']);
      return s.once('secureConnect', () => {
        s.write(`GET /webapi/ping HTTP/1.1\r\nHost: ${HOST}:${port}\r\nX-Slow: `);
        trickle(s, Buffer.alloc(1024, 'a'));
      });
    }),
  /** HTTP/2 sessions opened properly, then left idle. */
  'h2-idle': (run, count) =>
    run.hold(count, () => {
      const s = run.tls(['h2']);
      return s.once('secureConnect', () => s.write(H2_PREFACE));
    }),
  /** Connections that send nothing at all: half plain TCP, half with a finished TLS handshake. */
  'idle-flood': (run, count) => {
    run.hold(Math.ceil(count / 2), () => run.tcp());
    run.hold(Math.floor(count / 2), () => run.tls(['http/1.1']));
  },
  /**
   * Full handshakes with a ~56 KB hello (thousands of ALPN names, http/1.1 last). Each ends with
   * a FIN, not a reset, so the proxy finishes the handshake before it sees the close.
   */
  'huge-hello': (run, count, everyMs) =>
    run.repeat(count, everyMs, () => {
      const s = run.tls(HUGE_ALPN);
      s.once('secureConnect', () => s.end());
      return closed(s);
    }),
  /** HTTP/1.1 requests with a 100 KB header, each on a new connection (the server closes it). */
  'huge-header': (run, count, everyMs) =>
    run.repeat(count, everyMs, () => {
      const s = run.tls(['http/1.1']);
      s.once('secureConnect', () => s.write(HUGE_HEADER));
      s.resume(); // reads the answer (431), so the server's close is seen at once
      return closed(s);
    }),
  /**
   * Wrong-password logins for a real user: each slot opens its keep-alive connection during the
   * ramp (with a ping), then every slot sends a login in the same instant, then one every `everyMs`.
   */
  'login-burst': (run, count, everyMs) => {
    const agents = Array.from({ length: count }, () => run.agent(1));
    run.repeat(
      count,
      everyMs,
      (i) => wrongLogin(run, agents[i]!),
      (i) => send(run, agents[i]!, 'GET', '/webapi/ping'),
    );
  },
};

let current: Run | undefined;
const commands: Record<string, (args: string) => unknown> = {
  start: (args) => {
    const [name, count, everyMs] = args.split(' ');
    const attack = attacks[name!];
    if (!attack) return { error: `no attack named ${name}` };
    current?.stop();
    current = new Run();
    attack(current, Number(count), Number(everyMs ?? 0));
    return { started: 1 };
  },
  stop: () => current?.stop() ?? { error: 'no attack is running' },
};

process.stdout.write(JSON.stringify({ ready: 1 }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command = '', ...args] = line.split(' ');
  process.stdout.write(JSON.stringify(commands[command]?.(args.join(' ')) ?? { error: `unknown command ${line}` }) + '\n');
});
process.stdin.on('end', () => {
  current?.stop();
  process.exit(0);
});

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { lookup } from '../../src/net/localhost.js';
import { eventually } from '../harness/eventually.js';
import { freePort } from '../harness/ports.js';
import type { Sshd } from '../harness/sshd.js';
import { TestCluster, type Person } from './cluster.js';
import { CLI, run, tempDir, type PosternProcess, type RunResult } from './postern.js';
import { posternNode } from './ssh-node.js';
import { TestApp } from './test-app.js';

export const PASSWORD = 'correct horse battery staple';

/** The protocols whose open sessions the access layer must end: one of each per person. */
export const PROTOCOLS = ['CONNECT route', 'SSH session', 'TCP app', 'app WebSocket', 'app HTTP stream'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** An open session and how it ended: when (epoch ms) and what the client saw. */
export interface OpenSession {
  protocol: Protocol;
  closed: Promise<{ at: number; seen: string }>;
}

/** A role that reaches everything the fixture serves, as whichever labels it is given (env=dev reaches it all). */
export function reachRole(name: string, env: string, options = ''): string {
  return `kind: role\nversion: v1\nmetadata: { name: ${name} }\nspec:\n${options ? `  options: { ${options} }\n` : ''}  allow:\n    logins: [root]\n    node_labels: { env: ${env} }\n    app_labels: { env: ${env} }\n    route_labels: { env: ${env} }\n`;
}

/**
 * A cluster with one resource of each streamed kind, all labelled env=dev: a TCP route to an echo
 * server, an SSH node behind an agent (a real sshd that trusts the cluster), a TCP app (the same
 * echo server) and a web app with a WebSocket endpoint, both behind the agent. People get a role
 * of their own, a login certificate and a browser session, and open one session of each kind with
 * the real clients: `postern tcp`, `postern ssh` (OpenSSH), `postern proxy app` and a WebSocket.
 */
export class AccessFixture {
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly cluster: TestCluster,
    private readonly sshd: Sshd,
    private readonly agent: PosternProcess,
    private readonly app: TestApp,
    private readonly echo: Server,
    readonly caFile: string,
  ) {}

  static async start(): Promise<AccessFixture> {
    const echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const echoPort = (echo.address() as { port: number }).port;
    const config = join(tempDir(), 'postern.yaml');
    writeFileSync(
      config,
      `auth:\n  second_factor: off\nproxy:\n  routes:\n` +
        `    - { from: "tcp+https://echo.example.com:7", to: "tcp://127.0.0.1:${echoPort}", labels: { env: dev } }\n` +
        // A route whose inline policy lets any signed-in user in; its labels let roles deny it.
        `    - { from: "tcp+https://vault.example.com:7", to: "tcp://127.0.0.1:${echoPort}", labels: { env: secret }, policy: [{ allow: { and: [{ authenticated_user: true }] } }] }\n`,
    );
    const cluster = await TestCluster.start(['--config', config]);
    const caFile = join(tempDir(), 'ca.pem');
    writeFileSync(caFile, (await cluster.ctl(['auth', 'export'])).stdout);
    const sshd = await posternNode(cluster, 'web-1');
    const app = await TestApp.start({ proxyPort: cluster.server.proxyPort, caPem: readFileSync(caFile, 'utf8'), issuer: 'postern.localhost' });
    const agent = await cluster.startAgent(
      ['--ssh', `name=web-1,addr=127.0.0.1:${sshd.port},labels=env=dev`, '--app', `name=echo,uri=tcp://127.0.0.1:${echoPort},labels=env=dev`, '--app', `name=chat,uri=${app.uri},labels=env=dev`],
      { token: await cluster.token('app,ssh') },
    );
    return new AccessFixture(cluster, sshd, agent, app, echo, caFile);
  }

  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await this.agent.stop();
    await this.sshd.stop();
    this.app.close();
    this.echo.close();
    await this.cluster.stop();
  }

  /** A person with a role of their own (`role-<name>`), logged in with the CLI and signed in to the chat app in a browser-like cookie jar. */
  async person(name: string, role = reachRole(`role-${name}`, 'dev')): Promise<Member> {
    const file = join(tempDir(), 'role.yaml');
    writeFileSync(file, role);
    const created = await this.cluster.ctl(['create', '-f', file]);
    if (created.code !== 0) throw new Error(created.stderr);
    await this.cluster.addUser(name, PASSWORD, `role-${name}`);
    const person = this.cluster.person();
    const login = await person.login(name, PASSWORD, '');
    if (login.code !== 0) throw new Error(login.stderr);
    const jar = join(tempDir(), 'cookies');
    const signedIn = await run('curl', ['-sS', '--cacert', this.caFile, '-c', jar, '-H', 'content-type: application/json', '--data', JSON.stringify({ user: name, password: PASSWORD }), this.cluster.server.url('/webapi/sessions')]);
    const sessionExpires = Date.parse((JSON.parse(signedIn.stdout) as { expires: string }).expires);
    await run('curl', ['-sS', '--cacert', this.caFile, '-b', jar, '-c', jar, '-L', '-H', 'accept: text/html', '-o', '/dev/null', this.chatUrl('/')]);
    const cookie = /__Host-postern_app\t(\S+)/.exec(readFileSync(jar, 'utf8'))?.[1];
    if (!cookie) throw new Error(`${name} got no app session for chat`);
    const listenerPort = await freePort();
    const listener = this.spawn(person, ['proxy', 'app', 'echo', '--port', String(listenerPort)]);
    await eventually(() => (listener.out().includes('Proxying') ? true : undefined), () => listener.out(), 10_000);
    const [profile] = JSON.parse((await person.run(['status', '--format', 'json'])).stdout) as { expires: string }[];
    const certExpires = Date.parse(profile!.expires);
    return new Member(this, name, person, cookie, listenerPort, listener.out, { certificate: certExpires, session: sessionExpires });
  }

  /** The proxy's gauge of live grants (sessions, tunnels, connections it re-decides on every change). */
  async grantsHeld(): Promise<number> {
    const r = await run('curl', ['-sS', `http://127.0.0.1:${this.cluster.server.diagPort}/metrics?name=postern_access_grants`]);
    const value = /^postern_access_grants (\d+)$/m.exec(r.stdout)?.[1];
    if (value === undefined) throw new Error(`no postern_access_grants in: ${r.stdout}`);
    return Number(value);
  }

  chatUrl(path: string): string {
    return `https://chat.postern.localhost:${this.cluster.server.proxyPort}${path}`;
  }

  /** Runs `postern ARGS` as the person in the background; `out()` is what it printed so far (stdout and stderr). */
  spawn(person: Person, args: string[]): { child: ChildProcess; out: () => string } {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, POSTERN_HOME: person.home } });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    return { child, out: () => out };
  }
}

/** A person of the fixture, with one session of each kind to open and try again. */
export class Member {
  constructor(
    private readonly fixture: AccessFixture,
    readonly name: string,
    readonly person: Person,
    private readonly appCookie: string,
    private readonly listenerPort: number,
    /** What the person's `postern proxy app echo` listener printed. */
    readonly listenerOutput: () => string,
    /** When the login certificate and the browser session expire (epoch ms). */
    readonly expires: { certificate: number; session: number },
  ) {}

  /** Opens one session of each kind and waits until bytes flow in each. */
  async open(): Promise<OpenSession[]> {
    return Promise.all([this.route(), this.ssh(), this.tcpApp(), this.webSocket(), this.httpStream()]);
  }

  /** One new connection of each kind (or of those given); what each client got back. */
  async tryAgain(protocols: readonly Protocol[] = PROTOCOLS): Promise<Partial<Record<Protocol, string>>> {
    const attempts: Record<Protocol, () => Promise<string>> = {
      'CONNECT route': () => run(process.execPath, [CLI, 'tcp', '--listen', '-', 'echo.example.com:7'], { input: 'ping\n', env: { POSTERN_HOME: this.person.home } }).then(described),
      'SSH session': () => this.person.run(['ssh', 'root@web-1', 'echo in']).then(described),
      'TCP app': () => this.tcpExchange(),
      'app WebSocket': () => this.wsOutcome(),
      'app HTTP stream': () => this.httpOutcome(),
    };
    return Object.fromEntries(await Promise.all(protocols.map(async (p) => [p, await attempts[p]()] as const)));
  }

  private async route(): Promise<OpenSession> {
    const { child, out } = this.fixture.spawn(this.person, ['tcp', '--listen', '-', 'echo.example.com:7']);
    child.stdin!.write('ping\n');
    await eventually(() => (out().includes('ping') ? true : undefined), () => `no echo through the route: ${out()}`, 10_000);
    return { protocol: 'CONNECT route', closed: exited(child, out) };
  }

  private async ssh(): Promise<OpenSession> {
    const { child, out } = this.fixture.spawn(this.person, ['ssh', 'root@web-1', 'echo started; sleep 300']);
    await eventually(() => (out().includes('started') ? true : undefined), () => `the SSH session never started: ${out()}`, 15_000);
    return { protocol: 'SSH session', closed: exited(child, out) };
  }

  private async tcpApp(): Promise<OpenSession> {
    const socket = connect(this.listenerPort, '127.0.0.1');
    let seen = '';
    socket.on('data', (d: Buffer) => (seen += d));
    socket.write('ping\n');
    await eventually(() => (seen.includes('ping') ? true : undefined), () => `no echo through the TCP app: ${this.listenerOutput()}`, 10_000);
    return { protocol: 'TCP app', closed: socketClosed(socket) };
  }

  private async webSocket(): Promise<OpenSession> {
    const ws = this.ws();
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(String(m)));
    await once(ws, 'open');
    await eventually(() => (messages.includes(`hello ${this.name}`) ? true : undefined), () => `no greeting over the WebSocket: ${JSON.stringify(messages)}`);
    return {
      protocol: 'app WebSocket',
      closed: new Promise((resolve) => ws.once('close', (code: number) => resolve({ at: Date.now(), seen: `closed with ${code}` }))),
    };
  }

  private async httpStream(): Promise<OpenSession> {
    const req = this.appRequest('/stream');
    const res = (await once(req, 'response')) as [IncomingMessage];
    let seen = '';
    res[0].on('data', (d: Buffer) => (seen += d));
    await eventually(() => (seen.includes('tick') ? true : undefined), () => `no ticks from the stream: ${seen}`);
    return { protocol: 'app HTTP stream', closed: new Promise((resolve) => res[0].once('close', () => resolve({ at: Date.now(), seen: `closed after ${seen.length} bytes` }))) };
  }

  private async httpOutcome(): Promise<string> {
    const [res] = (await once(this.appRequest('/stream'), 'response')) as [IncomingMessage];
    res.destroy();
    return `HTTP ${res.statusCode}`;
  }

  /** A request to the chat app with the person's app session cookie, as their browser's script would send it. */
  private appRequest(path: string): ClientRequest {
    const req = httpsGet(this.fixture.chatUrl(path), { ca: readFileSync(this.fixture.caFile), headers: { cookie: `__Host-postern_app=${this.appCookie}` }, lookup: lookup as never });
    req.on('error', () => {});
    return req;
  }

  private ws(): WebSocket {
    const ws = new WebSocket(this.fixture.chatUrl('/ws').replace('https:', 'wss:'), { ca: readFileSync(this.fixture.caFile), headers: { cookie: `__Host-postern_app=${this.appCookie}` }, lookup: lookup as never });
    ws.on('error', () => {});
    return ws;
  }

  private async tcpExchange(): Promise<string> {
    const socket = connect(this.listenerPort, '127.0.0.1');
    socket.on('error', () => {});
    let seen = '';
    socket.on('data', (d: Buffer) => (seen += d));
    socket.write('ping\n');
    await socketClosed(socket).catch(() => undefined);
    return seen ? `echoed ${JSON.stringify(seen)}` : `refused; the listener said: ${this.listenerOutput().split('\n').filter((l) => l.includes('failed')).at(-1) ?? '(nothing)'}`;
  }

  private wsOutcome(): Promise<string> {
    const ws = this.ws();
    return new Promise((resolve) => {
      ws.once('open', () => {
        ws.close();
        resolve('opened');
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve(`HTTP ${res.statusCode}: ${body.trim()}`));
      });
    });
  }
}

function exited(child: ChildProcess, out: () => string): Promise<{ at: number; seen: string }> {
  return new Promise((resolve) => child.once('exit', (code) => resolve({ at: Date.now(), seen: `exit ${code}: ${out().trim()}` })));
}

function socketClosed(socket: Socket): Promise<{ at: number; seen: string }> {
  let error = '';
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  return new Promise((resolve) => socket.once('close', () => resolve({ at: Date.now(), seen: error ? `reset (${error})` : 'closed' })));
}

function described(r: RunResult): string {
  return `exit ${r.code}: ${r.stdout}${r.stderr}`.trim();
}

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IPty } from 'node-pty';
import type { WebSocket } from 'ws';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import type { ConnectTerminal, TerminalSpec } from '../wire/connect.js';
import { whyUnreachable, type EndpointOf } from './reachability.js';
import type { Workspace } from './workspace.js';

/** The CLI's entry point, which the tabs run as `postern`. */
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** Output not yet acknowledged by the page beyond this pauses the process (as the proxy's browser terminal does). */
const MAX_UNACKED = 1 << 20;
/** How long a failed SSH tab waits for its cluster to say why, before it shows how its process ended alone. */
const DIAGNOSIS_TIMEOUT_MS = 3000;
/**
 * Output kept per tab for a page that attaches later: a reloaded page, a tab re-rendered, a
 * Reconnect. Without it, a client that printed its prompt before the page attached (psql) shows
 * an empty screen until something else is printed.
 */
const RECENT_BYTES = 64 * 1024;

interface Tab {
  terminal: ConnectTerminal;
  pty: IPty;
  /** Output since the page last acknowledged. */
  unacked: number;
  /** The latest output, whole chunks up to RECENT_BYTES: what a page that attaches (again) sees first. */
  recent: Buffer[];
  recentBytes: number;
  socket?: WebSocket;
  exited?: string;
}

/**
 * Connect's terminal tabs: a PTY on this machine per tab (node-pty), streamed to its xterm over a
 * WebSocket with the browser terminal's frames (binary both ways, JSON `resize` / `ack` from the
 * page, `connected` / `closed` to it). A local shell has `postern` first on PATH and the tab's
 * cluster selected for it (POSTERN_PROXY); an SSH tab runs `postern ssh --proxy=… login@node`
 * and a database tab `postern db connect --proxy=… DB` (psql, mysql or mariadb), so they go
 * through the proxy as the CLI does, with the profile's certificate; when that fails or ends badly, the tab says why as its cluster sees it
 * (reasonFor), and Reconnect starts it again. Closing a tab ends its process; the open tabs are kept in the workspace
 * and opened again at the next start.
 */
export class Terminals {
  private readonly tabs = new Map<string, Tab>();
  private readonly bin: string;

  constructor(
    home: string,
    private readonly workspace: Workspace,
    private readonly proxyOf: (cluster: string) => string,
    private readonly endpointOf: EndpointOf,
    private readonly log: Logger,
  ) {
    // `postern` for the shells: this very CLI, with the same Node.
    this.bin = join(home, 'connect', 'bin');
    mkdirSync(this.bin, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.bin, 'postern'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, { mode: 0o700 });
    chmodSync(join(this.bin, 'postern'), 0o700);
  }

  list(): ConnectTerminal[] {
    return [...this.tabs.values()].map((t) => t.terminal);
  }

  /** Opens the tabs of the last run again (new processes: a shell's state is not kept). */
  async restore(saved: unknown[]): Promise<void> {
    for (const spec of saved) {
      await Promise.resolve()
        .then(() => this.open(checkTerminal(spec)))
        .catch((err: unknown) => this.log.warn('could not open a saved terminal tab again', { err, tab: spec }));
    }
  }

  async open(spec: TerminalSpec): Promise<ConnectTerminal> {
    const terminal = await this.spawn(spec);
    this.save();
    return terminal;
  }

  private async spawn(spec: TerminalSpec): Promise<ConnectTerminal> {
    const id = randomBytes(6).toString('hex');
    const title = spec.kind === 'ssh' ? `${spec.login}@${spec.node}` : spec.kind === 'db' ? (spec.db_user ? `${spec.db_user}@${spec.db}` : spec.db!) : `shell (${spec.cluster})`;
    const tab: Tab = { terminal: { ...spec, id, title }, pty: await this.start(spec), unacked: 0, recent: [], recentBytes: 0 };
    this.tabs.set(id, tab);
    this.follow(tab);
    this.log.info('opened a terminal tab', { id, title });
    return tab.terminal;
  }

  /** The tab's process: a shell, `postern ssh` or `postern db connect` through the cluster's proxy. */
  private async start(spec: TerminalSpec): Promise<IPty> {
    const { spawn } = await import('node-pty');
    const proxy = this.proxyOf(spec.cluster);
    // POSTERN_PROXY: `postern` commands in the tab use this cluster's profile, whichever is current.
    const env = { ...process.env, PATH: `${this.bin}:${process.env.PATH ?? ''}`, TERM: 'xterm-256color', POSTERN_PROXY: proxy } as Record<string, string>;
    // --proxy right after the command: `postern ssh` passes what follows its destination to ssh.
    const postern = (command: string[], args: string[]): [string, string[]] => [process.execPath, [CLI, ...command, `--proxy=${proxy}`, ...args]];
    const [file, args] =
      spec.kind === 'ssh'
        ? postern(['ssh'], [`${spec.login}@${spec.node}`])
        : spec.kind === 'db'
          ? postern(['db', 'connect'], [...(spec.db_user ? [`--db-user=${spec.db_user}`] : []), ...(spec.db_name ? [`--db-name=${spec.db_name}`] : []), spec.db!])
          : [process.env.SHELL || '/bin/sh', []];
    return spawn(file, args, { name: 'xterm-256color', cols: spec.cols ?? 80, rows: spec.rows ?? 24, cwd: process.env.HOME ?? process.cwd(), env });
  }

  /** Streams the tab's process to its page, and says how it ended. */
  private follow(tab: Tab): void {
    const { pty } = tab;
    pty.onData((data) => {
      const bytes = Buffer.from(data, 'utf8');
      keepRecent(tab, bytes);
      tab.unacked += bytes.length;
      tab.socket?.send(bytes);
      if (tab.unacked > MAX_UNACKED) pty.pause();
    });
    pty.onExit(({ exitCode, signal }) => {
      const ended = signal ? `the process ended on signal ${signal}` : `the process exited with status ${exitCode}`;
      void this.reasonFor(tab, exitCode).then((reason) => {
        tab.exited = reason ? `${reason} (${ended}). Reconnect once that has passed.` : ended;
        tab.socket?.send(JSON.stringify({ type: 'closed', message: tab.exited }));
        tab.socket?.close(1000);
      });
    });
  }

  /**
   * Why an SSH or database tab's session failed or ended, as its cluster says now (the node offline or no
   * longer allowed, the login expired, the proxy out of reach, a lock): its state, shown with the
   * process's end. Asked for at most DIAGNOSIS_TIMEOUT_MS, so that the tab never hangs on it.
   */
  private async reasonFor(tab: Tab, exitCode: number): Promise<string | undefined> {
    const { kind, cluster, node, db } = tab.terminal;
    if (kind === 'shell' || exitCode === 0 || !this.tabs.has(tab.terminal.id)) return undefined;
    const target = kind === 'ssh' ? { kind: 'node' as const, name: node! } : { kind: 'db' as const, name: db! };
    const reasons = whyUnreachable(this.endpointOf, cluster, [target]).then((r) => (typeof r === 'string' ? r : r.get(target)));
    return Promise.race([reasons, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), DIAGNOSIS_TIMEOUT_MS).unref())]);
  }

  /**
   * The page's WebSocket for a tab: one at a time (a reloaded page takes it over). A tab whose
   * process ended starts it again: the page's Reconnect is the tab's Retry (an SSH tab after the
   * node or its agent came back, or after logging in again).
   */
  async attach(id: string, socket: WebSocket): Promise<void> {
    const tab = this.tabs.get(id);
    if (!tab) return socket.close(4004, 'no such terminal');
    tab.socket?.close(4000, 'opened elsewhere');
    tab.socket = socket;
    tab.unacked = 0;
    if (tab.exited) {
      try {
        tab.pty = await this.start(tab.terminal);
      } catch (err) {
        socket.send(JSON.stringify({ type: 'closed', message: `the tab's process could not start again: ${(err as Error).message}` }));
        return socket.close(1000);
      }
      tab.exited = undefined;
      this.follow(tab);
    }
    tab.pty.resume();
    socket.send(JSON.stringify({ type: 'connected' }));
    if (tab.recentBytes > 0) {
      tab.unacked += tab.recentBytes;
      socket.send(Buffer.concat(tab.recent));
    }
    socket.on('message', (data: Buffer, binary: boolean) => {
      if (binary) return tab.pty.write(data.toString('utf8'));
      let message: { type?: string; cols?: number; rows?: number; bytes?: number };
      try {
        message = JSON.parse(data.toString('utf8')) as typeof message;
      } catch {
        return;
      }
      if (message.type === 'resize' && isSize(message.cols) && isSize(message.rows)) tab.pty.resize(message.cols, message.rows);
      if (message.type === 'ack' && typeof message.bytes === 'number') {
        tab.unacked = Math.max(0, tab.unacked - message.bytes);
        if (tab.unacked <= MAX_UNACKED) tab.pty.resume();
      }
    });
    socket.on('close', () => {
      if (tab.socket === socket) tab.socket = undefined;
    });
  }

  /** Closes the tab: its process ends. */
  close(id: string): void {
    const tab = this.tabs.get(id);
    if (!tab) throw new PosternError('NOT_FOUND', `there is no terminal ${id}`);
    this.tabs.delete(id);
    this.end(tab);
    this.save();
  }

  /** Ends every tab's process, keeping them in the workspace for the next start. */
  closeAll(): void {
    for (const tab of this.tabs.values()) this.end(tab);
    this.tabs.clear();
  }

  private end(tab: Tab): void {
    tab.socket?.close(1000);
    if (!tab.exited) tab.pty.kill();
  }

  private save(): void {
    this.workspace.save(
      'terminals',
      this.list().map(({ id: _id, title: _title, cols: _cols, rows: _rows, ...spec }) => spec),
    );
  }
}

/** Keeps `bytes` as the tab's latest output, dropping the oldest whole chunks past RECENT_BYTES. */
function keepRecent(tab: Tab, bytes: Buffer): void {
  tab.recent.push(bytes);
  tab.recentBytes += bytes.length;
  while (tab.recentBytes > RECENT_BYTES && tab.recent.length > 1) tab.recentBytes -= tab.recent.shift()!.length;
}

function isSize(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) > 0 && (n as number) <= 1000;
}

/** A tab as asked for (by the page, or as the workspace file holds it): what it runs is built from these, so each is checked. */
export function checkTerminal(value: unknown): TerminalSpec {
  const { cluster, kind, node, login, db, db_user, db_name, cols, rows } = (value ?? {}) as Record<string, unknown>;
  if (typeof cluster !== 'string' || !cluster) throw new PosternError('BAD_REQUEST', 'give the cluster');
  const size = { ...(isSize(cols) ? { cols } : {}), ...(isSize(rows) ? { rows } : {}) };
  if (kind === 'shell') return { cluster, kind, ...size };
  if (kind === 'ssh') {
    if (!isName(node) || !(typeof login === 'string' && /^[a-z_][a-z0-9_.-]{0,31}$/i.test(login))) throw new PosternError('BAD_REQUEST', 'an SSH tab needs a node and a login');
    return { cluster, kind, node, login, ...size };
  }
  if (kind === 'db') {
    if (!isName(db) || (db_user !== undefined && !isName(db_user)) || (db_name !== undefined && !isName(db_name))) throw new PosternError('BAD_REQUEST', 'a database tab needs the database, and may name the database user and the database to open');
    return { cluster, kind, db, ...(db_user !== undefined ? { db_user } : {}), ...(db_name !== undefined ? { db_name } : {}), ...size };
  }
  throw new PosternError('BAD_REQUEST', 'kind is shell, ssh or db');
}

/** A node's, database's or database user's name as it may go on a command line: no spaces, no leading dash. */
function isName(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,252}$/.test(value);
}

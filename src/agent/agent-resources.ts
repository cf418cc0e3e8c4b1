import { generateKeyPairSync } from 'node:crypto';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { AgentConfig } from '../config/schema.js';
import { PosternError } from '../errors/postern-error.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { joinStreams } from '../net/pipe.js';
import { AGENT_KINDS, AGENT_ROLES, joinRoleOf, type AgentRole, type AnnouncedKind, type AnnouncedResource } from '../resources/table.js';
import type { TunnelService } from '../tunnel/tunnel-client.js';
import type { DbAnnouncement, DbEntry } from '../resources/db.js';
import type { MysqlClientHello } from '../wire/mysql.js';
import { HEADER_DB_CA, HEADER_DB_CERT, HEADER_DB_CONNECTION_ID, HEADER_DB_MYSQL_CLIENT, HEADER_DB_SERVER_VERSION, HEADER_ERROR, type ResourcesMessage } from '../wire/tunnel.js';
import { errorResponse } from '../wire/postgres.js';
import { openMysql, openPostgres, type DbCredentials } from './db-connector.js';
import { checkPasswordFile, readCaFile, readPasswordFile } from './db-passwords.js';
import { loginPostgres, type LoginResult } from './postgres-login.js';
import { VERSION } from '../version.js';

const CONNECT_TIMEOUT_MS = 10_000;

/** A database's connection, and how its session begins once the proxy's stream is answered. */
interface OpenDatabase {
  socket: TLSSocket;
  begin(stream: Duplex): Promise<LoginResult>;
  /** Told to the proxy with the stream's answer. */
  headers?: Record<string, string>;
}

/** What an agent serves: each announced resource and the target it forwards to. */
interface Served {
  resource: AnnouncedResource;
  target: HostPort;
}

/**
 * The agent's resources: announced to the proxy (by long poll: the proxy asks after the version
 * it has, and the agent holds the answer as a heartbeat) and the only targets the agent will
 * connect to. A stream for anything else is
 * refused: an agent is never an open relay into its network.
 */
export class AgentResources implements TunnelService {
  private readonly served = new Map<string, Served>();
  private readonly version = 1;
  /** Made here and never sent (PEM, exported once): databases see it with a certificate per session from the proxy. */
  private readonly dbKeyPem: string | undefined;
  /** Each database's password and CA files, by name (`password_file`, `ca_file`): they stay here, never announced. */
  private readonly dbFiles = new Map<string, Pick<DbEntry, 'password_file' | 'ca_file'>>();

  constructor(
    config: AgentConfig,
    private readonly agentName: string,
    private readonly log: Logger,
  ) {
    for (const { agent } of AGENT_KINDS) {
      // Each list was checked by that kind's own entry schema when the config was loaded.
      for (const entry of config[agent.configKey as keyof AgentConfig] as never[]) {
        const { resource, target } = agent.serve(entry) as { resource: AnnouncedResource; target: HostPort };
        this.add(resource, target);
      }
    }
    if ([...this.served.values()].some((s) => s.resource.kind === 'db')) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      this.dbKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const clientKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      for (const s of this.served.values()) if (s.resource.kind === 'db') s.resource = { ...s.resource, client_key: clientKey };
    }
    for (const db of config.databases) {
      this.dbFiles.set(db.name, db);
      if (db.password_file !== undefined) checkPasswordFile(db.password_file, db.name, log);
    }
  }

  /** The token roles this agent needs: app for apps, ssh for nodes, db for databases. */
  roles(): AgentRole[] {
    const needed = new Set([...this.served.values()].map((s) => joinRoleOf(s.resource.kind)));
    return AGENT_ROLES.filter((r) => needed.has(r));
  }

  list(): AnnouncedResource[] {
    return [...this.served.values()].map((s) => s.resource);
  }

  /** Answers at once when the proxy has an older version, else holds the poll as the heartbeat. */
  async resources(after: number, waitMs: number, signal: AbortSignal): Promise<ResourcesMessage> {
    if (after === this.version) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { version: this.version, agent: { name: this.agentName, version: VERSION }, resources: this.list() };
  }

  connect(kind: AnnouncedKind, name: string, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const served = this.served.get(`${kind}/${name}`);
    if (!served) {
      this.log.warn('refused a stream for a resource this agent does not serve', { kind, name });
      refuse(stream, 404, `this agent does not serve ${kind} "${name}"`);
      return;
    }
    if (served.resource.kind === 'db') return this.connectDatabase(served, served.resource, stream, headers);
    const target = connect({ host: served.target.host, port: served.target.port, noDelay: true, allowHalfOpen: true, timeout: CONNECT_TIMEOUT_MS });
    const fail = (err: Error) => {
      this.log.warn(`cannot reach ${kind} ${name} at ${formatHostPort(served.target)}`, { err });
      refuse(stream, 502, `${formatHostPort(served.target)}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      target.destroy();
    };
    target.once('error', fail);
    target.once('timeout', () => fail(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    target.once('connect', () => {
      target.off('error', fail);
      target.setTimeout(0);
      if (stream.closed) return target.destroy();
      stream.respond({ ':status': 200 });
      joinStreams(stream, target);
    });
  }

  /** A database session: TLS to the database with the certificate the proxy made for its user (and the password, with a password file). */
  private connectDatabase(served: Served, db: DbAnnouncement, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const cert = fromBase64(headers[HEADER_DB_CERT]);
    const ca = fromBase64(headers[HEADER_DB_CA]);
    if (!cert || !ca || !this.dbKeyPem) return refuse(stream, 400, "a database stream needs the database user's certificate and CA");
    if (db.protocol !== 'postgres' && db.protocol !== 'mysql') return refuse(stream, 501, `this version of Postern does not connect to ${db.protocol} databases`);
    const creds = { keyPem: this.dbKeyPem, certPem: cert, caPem: ca };
    this.openDatabase(served.target, db, creds, headers).then(
      async ({ socket, begin, headers: told }) => {
        if (stream.closed) return socket.destroy();
        stream.respond({ ':status': 200, ...told });
        const { answer, ok } = await begin(stream);
        if (answer) stream.write(answer);
        // The proxy may have given up while the agent logged in: a closed stream would never close the socket.
        if (ok && !stream.destroyed) return joinStreams(stream, socket);
        stream.end();
        socket.destroy();
      },
      (err: Error) => {
        this.log.warn(`cannot reach database ${db.name} at ${formatHostPort(served.target)}`, { err });
        refuse(stream, 502, `${formatHostPort(served.target)}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      },
    );
  }

  /**
   * The database's connection for its protocol, and how its session begins once the proxy's
   * stream is answered: what the client is told first (MySQL's answer to its handshake; with a
   * password file, PostgreSQL's AuthenticationOk) and whether the session goes on. The password
   * file is read first, so a missing one refuses the session with its reason.
   */
  private async openDatabase(target: HostPort, db: DbAnnouncement, creds: DbCredentials, headers: IncomingHttpHeaders): Promise<OpenDatabase> {
    const files = this.dbFiles.get(db.name) ?? {};
    const password = files.password_file === undefined ? undefined : await readPasswordFile(files.password_file, db.name);
    if (files.ca_file !== undefined) creds = { ...creds, caPem: await readCaFile(files.ca_file, db.name) };
    if (db.protocol === 'postgres') {
      const socket = await openPostgres(target, creds);
      // Without a password the database checks the certificate, and the client's own bytes go on untouched.
      return { socket, begin: password === undefined ? async () => ({ ok: true }) : (stream) => this.loginPostgres(db.name, stream, socket, password) };
    }
    const hello = mysqlHello(fromBase64(headers[HEADER_DB_MYSQL_CLIENT]));
    if (!hello) throw new Error("a MySQL stream needs the client's handshake");
    const { socket, answer, ok, server } = await openMysql(target, creds, hello, password);
    // A header value is visible ASCII: a version is told only as such (and short).
    const told: Record<string, string> = { [HEADER_DB_CONNECTION_ID]: String(server.connectionId) };
    if (/^[\x20-\x7e]{1,100}$/.test(server.version)) told[HEADER_DB_SERVER_VERSION] = server.version;
    return { socket, begin: async () => ({ answer, ok }), headers: told };
  }

  /** PostgreSQL's password authentication, done here; a failure of the agent's own reaches psql as an error it prints. */
  private loginPostgres(db: string, stream: Duplex, socket: TLSSocket, password: string): Promise<LoginResult> {
    return loginPostgres(stream, socket, password).catch((err: Error) => {
      this.log.warn(`cannot log in to database ${db} with its password file`, { err });
      return { answer: errorResponse({ code: '28000', message: `the Postern agent cannot log in to database ${db}: ${err.message}` }), ok: false };
    });
  }

  private add(resource: AnnouncedResource, target: HostPort): void {
    const key = `${resource.kind}/${resource.name}`;
    if (this.served.has(key)) throw new PosternError('CONFIG_INVALID', `${resource.kind} "${resource.name}" is configured twice; give each one its own name`);
    this.served.set(key, { resource, target });
  }
}

function fromBase64(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

function mysqlHello(json: string | undefined): MysqlClientHello | undefined {
  try {
    const hello = JSON.parse(json ?? '') as MysqlClientHello;
    return typeof hello.user === 'string' && Number.isInteger(hello.capabilities) && Number.isInteger(hello.maxPacketSize) && Number.isInteger(hello.charset) ? hello : undefined;
  } catch {
    return undefined;
  }
}

function refuse(stream: ServerHttp2Stream, status: number, reason: string): void {
  if (stream.closed || stream.headersSent) return;
  stream.respond({ ':status': status, [HEADER_ERROR]: encodeURIComponent(reason) }, { endStream: true });
}

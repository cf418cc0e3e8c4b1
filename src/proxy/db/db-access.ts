import type { Access } from '../../access/access.js';
import type { Caller } from '../../access/caller.js';
import type { ClusterState } from '../../auth/cluster-state.js';
import { PosternError } from '../../errors/postern-error.js';
import { issueCertificate } from '../../pki/authority.js';
import { importClientKey } from '../../pki/client-key.js';
import type { DbAnnouncement } from '../../resources/db.js';
import type { TunnelRegistry } from '../../tunnel/registry.js';
import { HEADER_DB_CA, HEADER_DB_CERT } from '../../wire/tunnel.js';
import type { RoutedConnection } from '../router.js';

/** A database-user certificate only has to open the session (the database checks it once, at the start). */
const DB_CERT_TTL_MS = 5 * 60_000;

/** What every database protocol's handler does the same way: decide a session, and make its database-user certificate. */
export class DbAccess {
  constructor(private readonly deps: { access: Access; tunnels: TunnelRegistry; cluster: ClusterState }) {}

  /** The database, the database user and (where the protocol has one) the database name, decided in the access pipeline. */
  async authorize(conn: RoutedConnection, caller: Caller, name: string, dbUser: string, dbName?: string) {
    const db = this.deps.tunnels.target('db', name);
    const authorization = await this.deps.access.authorizeLookup({
      caller,
      target: { kind: 'db', name },
      find: db.find,
      current: db.current,
      request: { dbUser, ...(dbName !== undefined ? { dbName } : {}) },
      clientAddr: conn.clientAddr.address,
      log: conn.log,
    });
    if (!authorization.allowed || !db.found) throw authorization.error(`may not connect to database ${name} as ${dbUser}`);
    return { authorization, db: db.found };
  }

  /** A certificate for the database user, made for the serving agent's key, and the headers that carry it to the agent. */
  async credentials(db: DbAnnouncement, dbUser: string): Promise<{ headers: Record<string, string>; serial: string }> {
    const { cluster } = this.deps;
    if (!db.client_key) throw new PosternError('TARGET_UNREACHABLE', `the agent serving ${db.name} announced no database key; upgrade it to this version of Postern`);
    const cert = await issueCertificate(cluster.authorities.db, { publicKey: await importClientKey(db.client_key), commonName: dbUser, ttlMs: DB_CERT_TTL_MS, usage: 'client' });
    return {
      headers: { [HEADER_DB_CERT]: Buffer.from(cert.toString('pem')).toString('base64'), [HEADER_DB_CA]: Buffer.from(cluster.authorities.db.certPem).toString('base64') },
      serial: cert.serialNumber,
    };
  }
}

import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { formatHostPort } from '../net/addr.js';
import { description, hostPort, labelMap, resourceName } from './fields.js';
import { announcementOf, type AgentServed, type ResourceKindSpec } from './kind.js';

export const DB_PROTOCOLS = ['postgres', 'mysql', 'mongodb'] as const;

/**
 * A file holding the database user's password, for databases that cannot take certificates. The
 * agent reads it at each session (rotation needs no restart); it stays on the agent, never
 * announced. Absolute: the agent may start from any directory, with flags or a config file.
 */
const passwordFile = z.string().refine(isAbsolute, 'give the password file as an absolute path, like /etc/postern/orders.password').optional();

/**
 * The CA (PEM) the database's server certificate must chain to, when it is not one `ctl auth
 * sign-db` made (a managed database's own CA). Read at each session, like the password file.
 */
const caFile = z.string().refine(isAbsolute, 'give the CA file as an absolute path, like /etc/postern/rds-ca.pem').optional();

/** A database in the agent's config (`agent.databases`, `--db`). */
const dbEntry = z.strictObject({ name: resourceName, protocol: z.enum(DB_PROTOCOLS), uri: hostPort('127.0.0.1:5432'), labels: labelMap, description, password_file: passwordFile, ca_file: caFile });
export type DbEntry = z.output<typeof dbEntry>;

export const dbAnnouncement = announcementOf('db', {
  /** postgres | mysql | mongodb. */
  protocol: z.string().max(32).optional(),
  /** host:port of the database, as the agent reaches it. */
  uri: z.string().max(2048).optional(),
  /** The agent's key for databases (PEM SPKI): the proxy signs each session's database-user certificate for it. */
  client_key: z.string().max(1024).optional(),
});
export type DbAnnouncement = z.output<typeof dbAnnouncement>;

const agent = {
  joinRole: 'db',
  configKey: 'databases',
  flag: '--db',
  flagFields: ['name', 'protocol', 'uri', 'description', 'password_file', 'ca_file'],
  flagExample: 'name=pg,protocol=postgres,uri=127.0.0.1:5432,labels=env=dev',
  flagHelp: 'serve a database',
  entry: dbEntry,
  announcement: dbAnnouncement,
  serve: (db) => ({
    resource: { kind: 'db', name: db.name, labels: db.labels, protocol: db.protocol, uri: formatHostPort(db.uri), ...(db.description !== undefined ? { description: db.description } : {}) },
    target: db.uri,
  }),
} as const satisfies AgentServed<DbEntry, DbAnnouncement>;

/** Databases behind agents. */
export const DB = {
  kind: 'db',
  noun: 'database',
  plural: 'dbs',
  labelField: 'db_labels',
  roleLists: [
    { field: 'db_users', example: '[reader, "{{internal.db_users}}"]', asked: { option: 'dbUser', noun: 'database user' } },
    { field: 'db_names', example: '[app, "{{internal.db_names}}"]', asked: { option: 'dbName', noun: 'database name' } },
  ],
  admin: true,
  agent,
  ctl: { target: { header: 'URI', of: (r) => r.uri as string | undefined }, definedIn: "announced by agents; change it in its agent's configuration (agent.databases or --db)" },
} as const satisfies ResourceKindSpec<'db'>;

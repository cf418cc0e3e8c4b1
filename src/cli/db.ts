import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Command } from 'commander';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { DbListenerIdentity, type DbClientFiles, type ListenerTls } from '../client/db-listener-identity.js';
import { startLocalProxy } from '../client/local-proxy.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import type { DbList, ListedDb } from '../wire/api.js';
import { dbClientCommand, mysqlArgs, postgresConnInfo, type DbLogin } from './db-clients.js';
import { listenAddress, listenOptions, serveUntilStopped, type ListenOptions } from './local-listen.js';
import { warnAboutPermissions } from './login.js';
import { formatOption, labelText, print, table, withLabels, type Format } from './output.js';

function endpointFor(proxy: string | undefined): ProxyEndpoint {
  const store = new ProfileStore();
  warnAboutPermissions(store);
  return profileEndpoint(store, proxy);
}

/** The local database listeners' identity of the profile for `proxy`. */
function listenerIdentity(proxy: string | undefined): DbListenerIdentity {
  return new DbListenerIdentity(new ProfileStore().resolve(proxy));
}

/** The database as listed for the caller, or a NOT_FOUND that names the ones there are. */
async function findDb(endpoint: ProxyEndpoint, name: string): Promise<ListedDb> {
  const { databases } = await callApi<DbList>(endpoint, 'GET', '/webapi/databases');
  const db = databases.find((d) => d.name === name);
  if (!db) throw new PosternError('NOT_FOUND', `there is no database "${name}" you may reach online${databases.length ? ` (you may reach: ${databases.map((d) => d.name).join(', ')})` : ''}; see postern db ls`);
  if (db.protocol !== 'postgres' && db.protocol !== 'mysql') throw new PosternError('NOT_IMPLEMENTED', `${name} is a ${db.protocol} database; this version of Postern connects to PostgreSQL and MySQL/MariaDB only`);
  return db;
}

/** Starts a local listener that carries sessions of database `db` to the proxy; with `clientTls`, clients must speak TLS to it with the listener's client certificate. */
function localListener(endpoint: ProxyEndpoint, db: ListedDb, where: ListenOptions, clientTls?: ListenerTls) {
  return startLocalProxy({
    listen: listenAddress(where),
    endpoint,
    servername: endpoint.proxy.host,
    carries: { db: db.name, protocol: db.protocol as 'postgres' | 'mysql' },
    ...(clientTls ? { clientTls } : {}),
    onError: (err) => process.stderr.write(`postern: a connection to database ${db.name} failed: ${err.message}\n`),
  });
}

/** The one name the roles allow, when there is exactly one; else the flag is needed. */
function onlyOne(allowed: string[], flag: string, db: string): string {
  if (allowed.length === 1) return allowed[0]!;
  throw new PosternError('USAGE', `${flag} is needed: your roles allow ${allowed.length ? allowed.join(', ') : 'none'} on ${db}`);
}

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .summary('list and connect to databases')
    .description('Databases behind agents, with the database users and names your roles allow on each. PostgreSQL and MySQL/MariaDB sessions go through the proxy with no database password: the agent presents a certificate for the database user.');

  db.command('ls')
    .argument('[labels...]', 'only databases with these labels, as key=value')
    .description('List the databases you may reach: online now, with the database users and database names your roles allow on each.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .addOption(formatOption())
    .action(async (labels: string[], opts: { proxy?: string; format: Format }) => {
      const { databases } = await callApi<DbList>(endpointFor(opts.proxy), 'GET', '/webapi/databases');
      const shown = databases.filter(withLabels(labels));
      print(opts.format, shown, () =>
        table(
          ['NAME', 'PROTOCOL', 'LABELS', 'DB USERS', 'DB NAMES', 'DESCRIPTION'],
          shown.map((d) => [d.name, d.protocol, labelText(d.labels), d.db_users.join(', '), d.protocol === 'postgres' ? d.db_names.join(', ') || 'none' : 'any', d.description]),
          '(no databases you may reach are online: ask an administrator for a role with db_labels and db_users)',
        ),
      );
    });

  db.command('login')
    .description('Write the TLS files database clients present to `postern proxy db` listeners (without --tunnel): a client certificate and key (0600) and the CA that vouches for the listener, made on this machine for this profile. `postern proxy db` makes them too when they are missing.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (opts: { proxy?: string }) => {
      const identity = listenerIdentity(opts.proxy);
      const wrote = await identity.ensureClient();
      const { ca, cert, key } = identity.files;
      process.stdout.write(`${wrote ? 'Wrote' : 'Already there'}: ${cert}, ${key} (0600) and ${ca}.\nStart a listener with \`postern proxy db NAME --port PORT\`; it prints the client settings that use them.\n`);
    });

  db.command('logout')
    .description('Remove the database client files and the local CA that `postern db login` made: listeners started later make new ones, and clients holding the old files are refused.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action((opts: { proxy?: string }) => {
      const identity = listenerIdentity(opts.proxy);
      process.stdout.write(identity.remove() ? `Removed ${identity.files.dir}.\n` : `Nothing to remove: there are no database client files in ${identity.files.dir}.\n`);
    });

  db.command('connect')
    .argument('<db>', 'the database name (see `postern db ls`)')
    .argument('[args...]', 'more arguments for the client program, after --')
    .description('Run the database\'s usual client (psql; mariadb or mysql) connected to it through the proxy (a local listener on a free loopback port), and stop when the client exits, with its exit code.')
    .option('--db-user <user>', 'the database user (default: the only one your roles allow)')
    .option('--db-name <name>', 'the database name; for MySQL, the schema to start in (default: the only one your roles allow)')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (name: string, args: string[], opts: { dbUser?: string; dbName?: string; proxy?: string }) => {
      const endpoint = endpointFor(opts.proxy);
      const found = await findDb(endpoint, name);
      const dbUser = opts.dbUser ?? onlyOne(found.db_users, '--db-user', name);
      // MySQL schemas are not decided by roles: one is only asked for where PostgreSQL needs it.
      const dbName = opts.dbName ?? (found.protocol === 'postgres' ? onlyOne(found.db_names, '--db-name', name) : undefined);
      const local = await localListener(endpoint, found, { listen: '127.0.0.1' });
      const client = dbClientCommand(found.protocol, { at: local.addr, dbUser, ...(dbName ? { dbName } : {}) });
      const child = spawn(client.program, [...client.args, ...args], { stdio: 'inherit' });
      // Ctrl-C reaches the client too, which cancels the running query through the listener: keep it running.
      process.on('SIGINT', () => {});
      child.once('error', (err) => {
        process.stderr.write(`postern: cannot run ${client.program}: ${err.message}\n`);
        process.exit(69);
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      await local.close();
      process.exit(code ?? 1);
    });

  const proxy = program.commands.find((c) => c.name() === 'proxy') ?? program.command('proxy');
  listenOptions(
    proxy
      .command('db')
      .argument('<db>', 'the database name (see `postern db ls`)')
      .description('Listen on localhost for database clients (GUI tools, drivers) and carry each session to the database through the proxy. Runs until Ctrl-C.'),
  )
    .option('--tunnel', 'the listener adds TLS and your certificate itself, so the client needs no TLS settings; without it, clients speak TLS to the listener with the files of `postern db login`')
    .option('--db-user <user>', 'the database user, for the connection command printed')
    .option('--db-name <name>', 'the database name, for the connection command printed')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (name: string, opts: ListenOptions & { tunnel?: boolean; dbUser?: string; dbName?: string; proxy?: string }) => {
      const endpoint = endpointFor(opts.proxy);
      const found = await findDb(endpoint, name);
      const identity = opts.tunnel ? undefined : listenerIdentity(opts.proxy);
      await identity?.ensureClient();
      const local = await localListener(endpoint, found, opts, await identity?.listener());
      const login = { at: local.addr, dbUser: opts.dbUser ?? found.db_users[0] ?? 'USER', dbName: opts.dbName ?? found.db_names[0] ?? (found.protocol === 'postgres' ? 'NAME' : '') };
      process.stdout.write(
        `Proxying ${formatHostPort(local.addr)} → database ${name}.\n` +
          `Connect with: ${connectHint(found.protocol, login, identity?.files)}\n` +
          `(no password: the agent proves the database user with a certificate). Ctrl-C stops it.\n`,
      );
      serveUntilStopped(local);
    });
}

/** The command to print for a listener: the usual client, as a user would type it, with the listener's TLS files when it has TLS. */
function connectHint(protocol: string, login: DbLogin, files: DbClientFiles | undefined): string {
  if (protocol === 'postgres') {
    const tls = files ? ` sslmode=verify-full sslrootcert=${files.ca} sslcert=${files.cert} sslkey=${files.key}` : '';
    return `psql "${postgresConnInfo(login, !files)}${tls}"`;
  }
  if (files) return `mariadb ${mysqlArgs('mariadb', login, files).join(' ')}   (Oracle's mysql: --ssl-mode=VERIFY_IDENTITY instead of --ssl-verify-server-cert)`;
  return `mariadb ${mysqlArgs('mariadb', login).join(' ')}   (Oracle's mysql: --ssl-mode=DISABLED instead of --skip-ssl)`;
}

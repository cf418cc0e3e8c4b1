import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Command } from 'commander';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { startLocalProxy } from '../client/local-proxy.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort } from '../net/addr.js';
import type { DbList, ListedDb } from '../wire/api.js';
import { listenAddress, listenOptions, serveUntilStopped, type ListenOptions } from './local-listen.js';
import { warnAboutPermissions } from './login.js';
import { formatOption, labelText, print, table, withLabels, type Format } from './output.js';

function endpointFor(proxy: string | undefined): ProxyEndpoint {
  const store = new ProfileStore();
  warnAboutPermissions(store);
  return profileEndpoint(store, proxy);
}

/** The database as listed for the caller, or a NOT_FOUND that names the ones there are. */
async function findDb(endpoint: ProxyEndpoint, name: string): Promise<ListedDb> {
  const { databases } = await callApi<DbList>(endpoint, 'GET', '/webapi/databases');
  const db = databases.find((d) => d.name === name);
  if (!db) throw new PosternError('NOT_FOUND', `there is no database "${name}" you may reach online${databases.length ? ` (you may reach: ${databases.map((d) => d.name).join(', ')})` : ''}; see postern db ls`);
  if (db.protocol !== 'postgres') throw new PosternError('NOT_IMPLEMENTED', `${name} is a ${db.protocol} database; this version of Postern connects to PostgreSQL only`);
  return db;
}

/** Starts a local listener that carries PostgreSQL sessions for `name` to the proxy. */
function localListener(endpoint: ProxyEndpoint, name: string, where: ListenOptions) {
  return startLocalProxy({
    listen: listenAddress(where),
    endpoint,
    servername: endpoint.proxy.host,
    carries: { postgres: name },
    onError: (err) => process.stderr.write(`postern: a connection to database ${name} failed: ${err.message}\n`),
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
    .description('Databases behind agents, with the database users and names your roles allow on each. PostgreSQL sessions go through the proxy with no database password: the agent presents a certificate for the database user.');

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
          shown.map((d) => [d.name, d.protocol, labelText(d.labels), d.db_users.join(', '), d.db_names.join(', ') || 'none', d.description]),
          '(no databases you may reach are online: ask an administrator for a role with db_labels and db_users)',
        ),
      );
    });

  db.command('connect')
    .argument('<db>', 'the database name (see `postern db ls`)')
    .argument('[args...]', 'more arguments for psql, after --')
    .description('Run psql connected to the database through the proxy (a local listener on a free loopback port), and stop when psql exits, with its exit code.')
    .option('--db-user <user>', 'the database user (default: the only one your roles allow)')
    .option('--db-name <name>', 'the database name (default: the only one your roles allow)')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (name: string, args: string[], opts: { dbUser?: string; dbName?: string; proxy?: string }) => {
      const endpoint = endpointFor(opts.proxy);
      const found = await findDb(endpoint, name);
      const dbUser = opts.dbUser ?? onlyOne(found.db_users, '--db-user', name);
      const dbName = opts.dbName ?? onlyOne(found.db_names, '--db-name', name);
      const local = await localListener(endpoint, name, { listen: '127.0.0.1' });
      const conninfo = `host=127.0.0.1 port=${local.addr.port} user=${dbUser} dbname=${dbName} sslmode=disable`;
      const psql = spawn('psql', [conninfo, ...args], { stdio: 'inherit' });
      // Ctrl-C reaches psql too, which cancels the running query through the listener: keep it running.
      process.on('SIGINT', () => {});
      psql.once('error', (err: NodeJS.ErrnoException) => {
        process.stderr.write(err.code === 'ENOENT' ? 'postern: psql is not installed; install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)\n' : `postern: cannot run psql: ${err.message}\n`);
        process.exit(69);
      });
      const [code] = (await once(psql, 'exit')) as [number | null];
      await local.close();
      process.exit(code ?? 1);
    });

  const proxy = program.commands.find((c) => c.name() === 'proxy') ?? program.command('proxy');
  listenOptions(
    proxy
      .command('db')
      .argument('<db>', 'the database name (see `postern db ls`)')
      .description('Listen on localhost for database clients (GUI tools, drivers) and carry each PostgreSQL session to the database through the proxy. Runs until Ctrl-C.'),
  )
    .option('--tunnel', 'the listener adds TLS and your certificate itself, so the client needs no TLS settings (sslmode=disable)')
    .option('--db-user <user>', 'the database user, for the connection string printed')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (name: string, opts: ListenOptions & { tunnel?: boolean; dbUser?: string; proxy?: string }) => {
      if (!opts.tunnel) throw new PosternError('NOT_IMPLEMENTED', 'a listener that hands the client a certificate to do TLS itself is not built yet; use --tunnel');
      const endpoint = endpointFor(opts.proxy);
      const found = await findDb(endpoint, name);
      const local = await localListener(endpoint, name, opts);
      const dbUser = opts.dbUser ?? found.db_users[0] ?? 'USER';
      process.stdout.write(
        `Proxying ${formatHostPort(local.addr)} → database ${name}.\n` +
          `Connect with: psql "host=${local.addr.host} port=${local.addr.port} user=${dbUser} dbname=${found.db_names[0] ?? 'NAME'} sslmode=disable"\n` +
          `(no password: the agent proves the database user with a certificate). Ctrl-C stops it.\n`,
      );
      serveUntilStopped(local);
    });
}

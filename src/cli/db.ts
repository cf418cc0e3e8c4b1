import type { Command } from 'commander';
import { callApi } from '../client/api-client.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import type { DbList } from '../wire/api.js';
import { warnAboutPermissions } from './login.js';
import { formatOption, labelText, print, table, withLabels, type Format } from './output.js';

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .summary('list the databases you may reach')
    .description('Databases behind agents (PostgreSQL, MySQL/MariaDB), with the database users and names your roles allow on each. Connecting through Postern (db connect, proxy db) is not built yet.');

  db.command('ls')
    .argument('[labels...]', 'only databases with these labels, as key=value')
    .description('List the databases you may reach: online now, with the database users and database names your roles allow on each.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .addOption(formatOption())
    .action(async (labels: string[], opts: { proxy?: string; format: Format }) => {
      const store = new ProfileStore();
      warnAboutPermissions(store);
      const { databases } = await callApi<DbList>(profileEndpoint(store, opts.proxy), 'GET', '/webapi/databases');
      const shown = databases.filter(withLabels(labels));
      print(opts.format, shown, () =>
        table(
          ['NAME', 'PROTOCOL', 'LABELS', 'DB USERS', 'DB NAMES', 'DESCRIPTION'],
          shown.map((d) => [d.name, d.protocol, labelText(d.labels), d.db_users.join(', '), d.db_names.join(', ') || 'none', d.description]),
          '(no databases you may reach are online: ask an administrator for a role with db_labels and db_users)',
        ),
      );
    });
}

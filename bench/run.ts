/**
 * `npm run bench`: runs the named scenarios and prints one table of figures against baselines
 * measured in the same run. `--quick` uses smaller sizes (a smoke run); `--only NAME` runs one
 * scenario. Exits 0 even when a target is missed: targets are reported, machines are noisy.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { benchTls } from './lib/fixture.js';
import { printTable, type Row } from './lib/stats.js';
import { mariadbInstalled } from '../test/harness/mariadb.js';
import { postgresBinDir } from '../test/harness/postgres.js';
import { appRequestsScenario } from './scenarios/app-requests.js';
import { authorizeScenario } from './scenarios/authorize.js';
import { dbMysqlScenario } from './scenarios/db-mysql.js';
import { haScenario } from './scenarios/ha.js';
import { haAgentsScenario } from './scenarios/ha-agents.js';
import { havePostgresServer, TEST_PG_URL } from '../test/harness/pg-databases.js';
import { dbPgScenario } from './scenarios/db-pg.js';
import { handshakeScenario } from './scenarios/handshake.js';
import { hostileLoadScenario } from './scenarios/hostile-load.js';
import { loginScenario } from './scenarios/login.js';
import { pumpScenario } from './scenarios/pump.js';
import { sshScpScenario } from './scenarios/ssh-scp.js';
import { tcpRouteScenario } from './scenarios/tcp-route.js';
import { tunnelFairnessScenario } from './scenarios/tunnel-fairness.js';
import { tunnelIdleScenario } from './scenarios/tunnel-idle.js';
import { tunnelPumpScenario } from './scenarios/tunnel-pump.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

let nginxFound: boolean | undefined;
function nginxInstalled(): boolean {
  if (nginxFound !== undefined) return nginxFound;
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    nginxFound = true;
  } catch {
    process.stdout.write('nginx is not installed: the nginx baselines are left out (apt-get install nginx-light libnginx-mod-stream)\n');
    nginxFound = false;
  }
  return nginxFound;
}

const scenarios: Record<string, (tls: Awaited<ReturnType<typeof benchTls>>) => Promise<Row[]>> = {
  pump: (tls) => pumpScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3, nginx: nginxInstalled() }),
  handshake: (tls) => handshakeScenario(tls, { count: quick ? 300 : 1000, rounds: quick ? 1 : 9 }),
  authorize: () => authorizeScenario({ quick }),
  login: () => loginScenario({ quick }),
  'tunnel-pump': (tls) => tunnelPumpScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3 }),
  'tunnel-far': (tls) => tunnelPumpScenario(tls, { mib: quick ? 16 : 64, rounds: quick ? 1 : 2, far: true }),
  'tunnel-idle': () => tunnelIdleScenario({ agents: quick ? 200 : 1000, settleMs: quick ? 1000 : 12_000 }),
  'tunnel-fairness': (tls) => tunnelFairnessScenario(tls, { streams: 20, exchanges: quick ? 100 : 500, rounds: quick ? 1 : 3 }),
  'app-requests': (tls) => appRequestsScenario(tls, { seconds: quick ? 3 : 10, rounds: quick ? 1 : 3, nginx: nginxInstalled() }),
  'tcp-route': (tls) => tcpRouteScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3, connections: quick ? 50 : 200, nginx: nginxInstalled() }),
  'ssh-scp': async (tls) => {
    if (!existsSync('/usr/sbin/sshd')) {
      process.stdout.write('sshd is not installed: the scp scenario is left out (apt-get install openssh-server openssh-client)\n');
      return [];
    }
    return sshScpScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3 });
  },
  'hostile-load': () => hostileLoadScenario({ seconds: quick ? 2 : 8 }),
  'db-pg': async (tls) => {
    if (!postgresBinDir() || !existsSync('/usr/bin/pgbench')) {
      process.stdout.write('PostgreSQL (server and pgbench) is not installed: the db-pg scenario is left out (apt-get install postgresql)\n');
      return [];
    }
    // pgbench -T 20, as the issue that set the target runs it; 4 rounds, so that the query audit's
    // on-off pair runs in each order twice (runs on a busy 2-core machine differ by ±12%).
    return dbPgScenario(tls, { seconds: quick ? 3 : 20, clients: 8, rounds: quick ? 1 : 4, setups: quick ? 10 : 40 });
  },
  ha: async () => {
    if (!(await havePostgresServer())) {
      process.stdout.write(`no PostgreSQL server answers at ${TEST_PG_URL}: the ha scenario is left out (start it, or set POSTERN_TEST_PG_URL)\n`);
      return [];
    }
    return haScenario({ quick });
  },
  'ha-agents': async () => {
    if (!(await havePostgresServer()) || !existsSync('/usr/sbin/haproxy')) {
      process.stdout.write('the ha-agents scenario needs the machine\'s PostgreSQL server and haproxy: left out\n');
      return [];
    }
    return haAgentsScenario({ agents: quick ? 100 : 1000, settleMs: quick ? 2000 : 12_000 });
  },
  'db-mysql': async (tls) => {
    if (!mariadbInstalled() || !existsSync('/usr/bin/mariadb-slap')) {
      process.stdout.write('MariaDB (server and mariadb-slap) is not installed: the db-mysql scenario is left out (apt-get install mariadb-server mariadb-client)\n');
      return [];
    }
    // 6 rounds: a round's runs are short (~7 s), and single runs vary by ±15% on a busy 2-core machine.
    return dbMysqlScenario(tls, { queries: quick ? 8000 : 40_000, clients: 8, rounds: quick ? 1 : 6, setups: quick ? 10 : 40 });
  },
};

if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`Usage: npm run bench -- [--quick] [--only NAME]\n\nRuns each scenario against its baselines in the same run and prints ratios and targets.\n  --quick      smaller sizes and fewer rounds (a smoke run, not figures to quote)\n  --only NAME  one scenario: ${Object.keys(scenarios).join(', ')}\n`);
  process.exit(0);
}
if (only !== undefined && !(only in scenarios)) {
  process.stderr.write(`--only: no scenario named "${only}"; the scenarios are ${Object.keys(scenarios).join(', ')}\n`);
  process.exit(64);
}

const tls = await benchTls();
const rows: Row[] = [];
for (const [name, scenario] of Object.entries(scenarios)) {
  if (only && only !== name) continue;
  process.stdout.write(`running ${name}…\n`);
  rows.push(...(await scenario(tls)));
}
printTable(rows);

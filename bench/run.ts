/**
 * `npm run bench`: runs the named scenarios and prints one table of figures against baselines
 * measured in the same run. `--quick` uses smaller sizes (a smoke run); `--only NAME` runs one
 * scenario. Exits 0 even when a target is missed: targets are reported, machines are noisy.
 */
import { execFileSync } from 'node:child_process';
import { benchTls } from './lib/fixture.js';
import { printTable, type Row } from './lib/stats.js';
import { authorizeScenario } from './scenarios/authorize.js';
import { handshakeScenario } from './scenarios/handshake.js';
import { loginScenario } from './scenarios/login.js';
import { pumpScenario } from './scenarios/pump.js';
import { tunnelFairnessScenario } from './scenarios/tunnel-fairness.js';
import { tunnelIdleScenario } from './scenarios/tunnel-idle.js';
import { tunnelPumpScenario } from './scenarios/tunnel-pump.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function nginxInstalled(): boolean {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    process.stdout.write('nginx is not installed: the nginx stream baseline is left out (apt-get install nginx-light libnginx-mod-stream)\n');
    return false;
  }
}

const scenarios: Record<string, (tls: Awaited<ReturnType<typeof benchTls>>) => Promise<Row[]>> = {
  pump: (tls) => pumpScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3, nginx: nginxInstalled() }),
  handshake: (tls) => handshakeScenario(tls, { count: quick ? 300 : 1000, rounds: quick ? 1 : 9 }),
  authorize: () => authorizeScenario({ quick }),
  login: () => loginScenario({ quick }),
  'tunnel-pump': (tls) => tunnelPumpScenario(tls, { mib: quick ? 32 : 256, rounds: quick ? 1 : 3 }),
  'tunnel-idle': () => tunnelIdleScenario({ agents: quick ? 200 : 1000, settleMs: quick ? 1000 : 12_000 }),
  'tunnel-fairness': (tls) => tunnelFairnessScenario(tls, { streams: 20, exchanges: quick ? 100 : 500, rounds: quick ? 1 : 3 }),
};

const tls = await benchTls();
const rows: Row[] = [];
for (const [name, scenario] of Object.entries(scenarios)) {
  if (only && only !== name) continue;
  process.stdout.write(`running ${name}…\n`);
  rows.push(...(await scenario(tls)));
}
printTable(rows);

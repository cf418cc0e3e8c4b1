import { join } from 'node:path';
import type { Caller } from '../../src/access/caller.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { AccessChecker, type AccessRequest, type Resource, type Subject } from '../../src/policy/access-checker.js';
import { parseRole, type LabelSelector, type Role } from '../../src/policy/role.js';
import { Cleanups } from '../../src/server/cleanups.js';
import { startCore } from '../../src/server/core.js';
import { tempDir } from '../../test/harness/temp.js';
import { median, percentile, type Row } from '../lib/stats.js';

const KINDS = ['node', 'app', 'db'] as const;
const ENVS = ['dev', 'staging', 'prod'];
const REGIONS = ['us-east-1', 'eu-west-2', 'ap-south-1'];
const TIERS = ['web', 'api', 'db'];
/** Checks timed together: one check is near the timer's resolution, a hundred are not. */
const BATCH = 100;

/** A fixed-seed generator, so every run checks the same resources. */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % n;
  };
}

/** Role i: its kind, selector shape (exact, glob, regex with a list, list with glob, wildcard) and deny vary with i. */
function benchRole(i: number): Role {
  const kind = KINDS[i % KINDS.length]!;
  const selectors: LabelSelector[] = [
    { env: ENVS[i % ENVS.length]! },
    { team: `team-${i % 10}*` },
    { region: `^(us|eu)-(east|west)-[${i % 3}-9]$`, env: ['dev', 'staging'] },
    { tier: ['web', 'api'], team: `team-?${i % 10}` },
    { '*': '*' },
  ];
  const denies = [{ [`${kind}_labels`]: { team: `team-${i % 20}` } }, { node_labels: { env: 'prod' }, logins: ['root'] }, {}, {}];
  return parseRole({
    kind: 'role',
    version: 'v1',
    metadata: { name: `role-${i}` },
    spec: {
      allow: { [`${kind}_labels`]: selectors[i % selectors.length], logins: ['{{internal.logins}}', `svc-${i}`], db_users: ['reader'], db_names: ['{{internal.db_names}}'] },
      deny: denies[i % denies.length],
    },
  });
}

function benchRequests(count: number): { resource: Resource; request: AccessRequest }[] {
  const pick = random(42);
  return Array.from({ length: count }, (_, i) => {
    const kind = KINDS[i % KINDS.length]!;
    const labels = { env: ENVS[pick(3)]!, team: `team-${pick(20)}`, region: REGIONS[pick(3)]!, tier: TIERS[pick(3)]! };
    const request: AccessRequest = kind === 'node' ? { login: ['ubuntu', 'root', 'deploy'][pick(3)]! } : kind === 'db' ? { dbUser: 'reader', dbName: 'app' } : {};
    return { resource: { kind, name: `${kind}-${i}`, labels }, request };
  });
}

/** Microseconds per check for each batch of BATCH checks; `checkerFor(b)` gives batch b's checker, built before timing. */
function timeBatches(batches: number, requests: ReturnType<typeof benchRequests>, checkerFor: (batch: number) => AccessChecker): number[] {
  const perCheck: number[] = [];
  for (let b = 0; b < batches; b++) {
    const checker = checkerFor(b);
    const start = (b * BATCH) % requests.length;
    const t0 = performance.now();
    for (let i = start; i < start + BATCH; i++) {
      const { resource, request } = requests[i % requests.length]!;
      checker.checkResource(resource, request);
    }
    perCheck.push(((performance.now() - t0) * 1000) / BATCH);
  }
  return perCheck;
}

/**
 * Authorization cost: 50 roles (exact values, globs, regexes, lists, wildcards, denies), 1,000
 * labelled nodes, apps and databases, a subject holding 5 of the roles. Cached: the same checker
 * answers checks it has seen. Uncached: a fresh checker (built before the clock starts) decides
 * each check for the first time. Also the cost of building a checker, which CheckerCache saves.
 */
export async function authorizeScenario(opts: { quick: boolean }): Promise<Row[]> {
  const roles = Array.from({ length: 50 }, (_, i) => benchRole(i));
  const requests = benchRequests(1000);
  const subject: Subject = { username: 'alice', roles: ['role-0', 'role-11', 'role-22', 'role-33', 'role-44'], traits: { logins: ['ubuntu', 'deploy'], db_names: ['app'] } };
  const batches = opts.quick ? 200 : 2000;

  const warm = new AccessChecker(subject, roles);
  timeBatches(requests.length / BATCH, requests, () => warm); // every request decided once, and the JIT warmed
  const cached = timeBatches(batches, requests, () => warm);
  timeBatches(batches / 4, requests, () => new AccessChecker(subject, roles)); // warm the decision path itself
  const uncached = timeBatches(batches, requests, () => new AccessChecker(subject, roles));

  const builds: number[] = [];
  for (let b = 0; b < batches / 10; b++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) new AccessChecker(subject, roles);
    builds.push(((performance.now() - t0) * 1000) / BATCH);
  }

  const pipeline = await pipelineChecks(roles, subject, requests, opts.quick ? 100 : 1000);

  const p = (values: number[]) => `${percentile(values, 50).toFixed(2)}/${percentile(values, 99).toFixed(2)} us`;
  const cachedP50 = percentile(cached, 50);
  const uncachedP50 = percentile(uncached, 50);
  const pipelineP50 = percentile(pipeline, 50);
  return [
    {
      scenario: 'authorize through the access pipeline (standing now + decision, unlogged) p50/p99',
      figure: p(pipeline),
      baseline: `cached decision ${cachedP50.toFixed(2)} us`,
      ratio: pipelineP50 / cachedP50,
      target: 'p50 <= 20 us',
      pass: pipelineP50 <= 20,
    },
    {
      scenario: 'authorize (50 roles, 1000 resources): cached decision p50/p99',
      figure: p(cached),
      baseline: `uncached ${p(uncached)}`,
      ratio: cachedP50 / uncachedP50,
      target: 'p50 <= 20 us',
      pass: cachedP50 <= 20,
    },
    {
      scenario: 'authorize: new checker for a subject with 5 roles',
      figure: `${median(builds).toFixed(2)} us`,
      baseline: `one uncached decision ${uncachedP50.toFixed(2)} us`,
      ratio: median(builds) / uncachedP50,
    },
  ];
}

/**
 * The same decisions as a connection makes them: the server's own core (a real SQLite store, the
 * live copies of users, roles, locks and sessions), a certificate's caller taken to the cluster
 * as it stands (user lookup, narrowing, lock check) and then decided. Microseconds per check, in
 * batches, after a warm-up pass over every request.
 */
async function pipelineChecks(roles: Role[], subject: Subject, requests: ReturnType<typeof benchRequests>, batches: number): Promise<number[]> {
  const { config } = loadConfig({ cwd: tempDir('postern-bench-authorize-'), overrides: [{ path: 'data_dir', flag: '--data-dir', value: join(tempDir('postern-bench-authorize-'), 'data') }] });
  const cleanups = new Cleanups();
  try {
    const core = await startCore(config, silentLogger, cleanups);
    for (const role of roles) await core.auth.roles.upsert(role);
    await core.auth.users.create({ name: subject.username, roles: subject.roles, traits: subject.traits, created_by: 'bench' });
    const caller: Caller = { kind: 'user', ...subject, via: 'certificate', expires: new Date(Date.now() + 3_600_000) };
    // The live copies catch up with the writes above through storage watches (at once, in one process).
    await new Promise((r) => setTimeout(r, 500));
    const check = (i: number) => {
      const { resource, request } = requests[i % requests.length]!;
      return core.access.check({ caller, target: resource, request, clientAddr: '127.0.0.1' });
    };
    for (let i = 0; i < requests.length; i++) await check(i);
    const perCheck: number[] = [];
    for (let b = 0; b < batches; b++) {
      const t0 = performance.now();
      for (let i = 0; i < BATCH; i++) await check(b * BATCH + i);
      perCheck.push(((performance.now() - t0) * 1000) / BATCH);
    }
    return perCheck;
  } finally {
    await cleanups.run();
  }
}

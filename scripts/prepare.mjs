#!/usr/bin/env node
// npm's `prepare` (run by `npm install` and by every `npx postern`): builds dist/ only when a
// source is newer than the last build. Rebuilding on every npx took ~20 s, under a server
// that might be running from dist/.
//
//   node scripts/prepare.mjs          build if stale (npm run build), else nothing
//   node scripts/prepare.mjs --stamp  record that dist/ is current (the end of `npm run build`)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const STAMP = join(root, 'dist', '.build-stamp');
/** What the build reads: tsconfig.json's and the UI's inputs, and the dependencies. */
const INPUTS = ['src', 'bench', 'test/harness', 'ui/src', 'ui/index.html', 'ui/vite.config.ts', 'ui/tsconfig.json', 'tsconfig.json', 'package.json', 'package-lock.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

if (process.argv.includes('--stamp')) {
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
} else {
  const built = existsSync(STAMP) && existsSync(join(root, 'ui', 'dist')) ? statSync(STAMP).mtimeMs : 0;
  const changed = Math.max(...INPUTS.map((p) => newestMtime(join(root, p))));
  if (changed > built) {
    process.stderr.write(built ? 'postern: sources changed since the last build; building dist/…\n' : 'postern: building dist/ (first time)…\n');
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    process.exit(build.status ?? 1);
  }
}

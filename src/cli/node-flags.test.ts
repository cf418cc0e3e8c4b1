import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from './node-flags.js';

const root = new URL('../../', import.meta.url);

describe('NODE_FLAGS', () => {
  it('are the flags of the postern command and of npm start', () => {
    const [shebang, preamble] = readFileSync(new URL('src/cli/main.ts', root), 'utf8').split('\n');
    expect(shebang).toBe('#!/bin/sh');
    expect(preamble).toBe(`//bin/true; exec /usr/bin/env node ${NODE_FLAGS.join(' ')} "$0" "$@"`);
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} dist/src/cli/main.js start`);
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentStateDir, legacyAgent } from './identity-store.js';

/** A data dir; `identities` maps a directory under it to the agent name its identity.json holds. */
function dataDir(identities: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-agentdir-'));
  for (const [sub, name] of Object.entries(identities)) {
    mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, sub, 'identity.json'), JSON.stringify({ agentId: 'id', name, cluster: 'c', roles: ['app'] }));
  }
  return dir;
}

describe("an agent's state directory", () => {
  it('is <data_dir>/agents/<name>, one per name', () => {
    const d = dataDir();
    expect(agentStateDir(d, 'alpha')).toBe(join(d, 'agents', 'alpha'));
    expect(agentStateDir(d, 'beta')).toBe(join(d, 'agents', 'beta'));
    expect(legacyAgent(d)).toBeUndefined();
  });

  it('stays <data_dir>/agent for the agent whose identity an earlier version kept there, and only that one', () => {
    const d = dataDir({ agent: 'alpha' });
    expect(legacyAgent(d)).toEqual({ dir: join(d, 'agent'), name: 'alpha' });
    expect(agentStateDir(d, 'alpha')).toBe(join(d, 'agent'));
    expect(agentStateDir(d, 'beta')).toBe(join(d, 'agents', 'beta'));
  });

  it('is its own directory once that holds an identity (moved there by hand)', () => {
    const d = dataDir({ agent: 'alpha', 'agents/alpha': 'alpha' });
    expect(agentStateDir(d, 'alpha')).toBe(join(d, 'agents', 'alpha'));
  });
});

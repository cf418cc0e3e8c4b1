import { describe, expect, it } from 'vitest';
import { SESSION_EVENTS } from '../audit/events.js';
import { acceptResources, AGENT_KINDS, AGENT_ROLES, announcedResource, announcementKey, kindByName, RESOURCE_KINDS, RESOURCE_TABLE } from './table.js';

describe('announced resources', () => {
  it('takes only the kinds the agent certificate allows, and says why it left the rest out', () => {
    const { accepted, refused } = acceptResources(
      [
        { kind: 'node', name: 'web-1', labels: {} },
        { kind: 'app', name: 'grafana', labels: {}, uri: 'http://localhost:3000' },
      ],
      ['ssh'],
    );
    expect(accepted.map((r) => r.name)).toEqual(['web-1']);
    expect(refused).toEqual(['app "grafana": the agent\'s certificate allows ssh, not app; join it with a token of type app']);
  });

  it('leaves out a malformed entry and keeps the others', () => {
    const { accepted, refused } = acceptResources(
      [
        { kind: 'app', name: 'ok', labels: {} },
        { kind: 'app', name: 'long', labels: {}, description: 'x'.repeat(5000) },
        { kind: 'app', name: 'phish', labels: {}, public_addr: 'evil host/' },
        'garbage',
      ],
      ['app'],
    );
    expect(accepted.map((r) => r.name)).toEqual(['ok']);
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatch(/^resource 2: description: /);
    expect(refused[1]).toMatch(/^resource 3: public_addr: /);
  });

  it('keys equal announcements equally, whatever the order of their keys', () => {
    const a = { kind: 'app' as const, name: 'x', labels: { a: '1', b: '2' } };
    const b = { labels: { b: '2', a: '1' }, name: 'x', kind: 'app' as const };
    expect(announcementKey(a)).toBe(announcementKey(b));
    expect(announcementKey(a)).not.toBe(announcementKey({ ...a, labels: { a: '1', b: '3' } }));
  });
});

describe('the resource table', () => {
  it('gives each kind its own label field, plural and row', () => {
    expect(RESOURCE_TABLE.map((row) => row.labelField)).toEqual(RESOURCE_TABLE.map((row) => `${row.kind}_labels`));
    expect(new Set(RESOURCE_TABLE.map((row) => row.plural)).size).toBe(RESOURCE_TABLE.length);
    for (const row of RESOURCE_TABLE) expect(kindByName(row.plural)).toBe(row);
  });

  it("lets each agent flag set only fields of its kind's config entry", () => {
    for (const { agent } of AGENT_KINDS) {
      const fields = Object.keys((agent.entry as unknown as { shape: Record<string, unknown> }).shape);
      for (const field of agent.flagFields) expect(fields, `${agent.flag} ${field}`).toContain(field);
      // The example parses: what --help shows works.
      expect(agent.entry.safeParse({ ...Object.fromEntries(agent.flagExample.split(',').filter((p) => !p.startsWith('labels')).map((p) => p.split('='))), labels: {} }).success, agent.flagExample).toBe(true);
    }
  });

  it('serves each announced kind with a join token type, and announces what the agent config says', () => {
    expect(AGENT_ROLES).toEqual(['app', 'ssh', 'db']);
    const { resource, target } = (AGENT_KINDS.find((r) => r.kind === 'app')!.agent as (typeof AGENT_KINDS)[number]['agent'] & { serve(e: unknown): { resource: unknown; target: unknown } }).serve({ name: 'grafana', uri: 'https://grafana.internal/', labels: { env: 'dev' } });
    expect(resource).toEqual({ kind: 'app', name: 'grafana', labels: { env: 'dev' }, uri: 'https://grafana.internal/' });
    expect(target).toEqual({ host: 'grafana.internal', port: 443 });
    for (const row of AGENT_KINDS) expect(announcedResource.safeParse({ kind: row.kind, name: 'x', labels: {} }).success).toBe(true);
    expect(announcedResource.safeParse({ kind: 'route', name: 'x', labels: {} }).success).toBe(false);
  });

  it('has session audit events for the kinds whose sessions are relayed', () => {
    for (const kind of Object.keys(SESSION_EVENTS)) expect(RESOURCE_KINDS).toContain(kind);
  });
});

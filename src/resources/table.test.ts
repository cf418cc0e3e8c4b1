import { describe, expect, it } from 'vitest';
import { acceptResources, announcementKey } from './table.js';

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

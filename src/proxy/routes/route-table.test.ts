import { describe, expect, it } from 'vitest';
import { RouteTable } from './route-table.js';

const route = (from: string, extra: Record<string, unknown> = { to: 'tcp://10.0.0.5:22' }) => ({ from, labels: {}, ...extra }) as never;

describe('RouteTable', () => {
  it('matches the whole authority, port included, case-insensitively for the host', () => {
    const table = new RouteTable([route('tcp+https://ssh.example.com:22'), route('tcp+https://db.example.com:5432', { app: 'pg' })]);
    expect(table.match('SSH.example.com:22')?.target).toEqual({ kind: 'address', addr: { host: '10.0.0.5', port: 22 } });
    expect(table.match('ssh.example.com:443')).toBeUndefined();
    expect(table.match('db.example.com:5432')?.target).toEqual({ kind: 'app', name: 'pg' });
    expect(table.sameHost('ssh.example.com:443').map((r) => r.authority)).toEqual(['ssh.example.com:22']);
    expect(table.sameHost('other.example.com:22')).toEqual([]);
  });

  it('refuses a route given twice and a policy with a mistake, naming the field', () => {
    expect(() => new RouteTable([route('tcp+https://a.example.com:22'), route('tcp+https://A.example.com:22')])).toThrow(/proxy\.routes\[1\]\.from: .* is routed twice/);
    expect(() => new RouteTable([route('tcp+https://a.example.com:22', { to: 'tcp://10.0.0.5:22', policy: [{ allow: { and: [{ emial: 'x' }] } }] })])).toThrow(/proxy\.routes\[0\]\.policy\[0\]\.allow\.and\[0\]/);
  });
});

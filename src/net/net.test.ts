import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { formatHostPort, isProxyName, parseHostPort } from './addr.js';
import { isLocalhostName, lookup } from './localhost.js';

describe('parseHostPort', () => {
  it('parses hosts, IPv4 and bracketed IPv6', () => {
    expect(parseHostPort('0.0.0.0:3080')).toEqual({ host: '0.0.0.0', port: 3080 });
    expect(parseHostPort('[::1]:443')).toEqual({ host: '::1', port: 443 });
    expect(parseHostPort('postern.localhost', 443)).toEqual({ host: 'postern.localhost', port: 443 });
    expect(formatHostPort({ host: '::', port: 1 })).toBe('[::]:1');
  });

  it('explains what is wrong', () => {
    expect(parseHostPort('::1:80')).toMatch(/brackets/);
    expect(parseHostPort('host')).toMatch(/no port/);
    expect(parseHostPort('host:99999')).toMatch(/not a port/);
    expect(parseHostPort(':80')).toMatch(/no host/);
    expect(parseHostPort('ho st:80')).toMatch(/not a valid host/);
  });
});

describe('localhost names', () => {
  it('recognises localhost and its subdomains only', () => {
    expect(isLocalhostName('localhost')).toBe(true);
    expect(isLocalhostName('grafana.postern.localhost')).toBe(true);
    expect(isLocalhostName('Postern.Localhost.')).toBe(true);
    expect(isLocalhostName('localhost.example.com')).toBe(false);
    expect(isLocalhostName('notlocalhost')).toBe(false);
  });

  it('lets a real connection reach loopback by a *.localhost name without DNS', async () => {
    const server = createServer((s) => s.end('hi'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const sock = connect({ host: 'deep.sub.postern.localhost', port, lookup });
    const [data] = await once(sock, 'data');
    expect(String(data)).toBe('hi');
    sock.destroy();
    server.close();
  });
});

describe('proxy names', () => {
  it('tells the proxy host and the names under it from other hosts', () => {
    expect(isProxyName('postern.localhost:3080', 'postern.localhost')).toBe(true);
    expect(isProxyName('Grafana.Postern.localhost', 'postern.localhost')).toBe(true);
    expect(isProxyName('grafana.example.com', 'postern.localhost')).toBe(false);
    expect(isProxyName('notpostern.localhost', 'postern.localhost')).toBe(false);
  });
});

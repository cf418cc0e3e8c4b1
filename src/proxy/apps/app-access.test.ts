import { describe, expect, it } from 'vitest';
import { appPath } from './app-access.js';
import { publicLocation } from './forwarder.js';

describe('where the launch flow may land', () => {
  it.each([
    ['/dashboards?x=1', '/dashboards?x=1'],
    ['/', '/'],
    [null, '/'],
    ['@evil.example/x', '/'],
    ['.evil.example', '/'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['https://evil.example/', '/'],
  ])('%j → %j', (path, expected) => {
    expect(appPath(path)).toBe(expected);
  });
});

describe('redirects from an app', () => {
  const target = new URL('http://10.0.0.5:3000');
  it('point at the public address when they name the internal one, and are left alone otherwise', () => {
    expect(publicLocation('http://10.0.0.5:3000/login?next=/a#h', target, 'grafana.postern.localhost:3080')).toBe('https://grafana.postern.localhost:3080/login?next=/a#h');
    expect(publicLocation('/relative', target, 'grafana.postern.localhost:3080')).toBe('/relative');
    expect(publicLocation('https://accounts.example.com/', target, 'grafana.postern.localhost:3080')).toBe('https://accounts.example.com/');
  });
});

import { isIP, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port`, `[v6]:port` or (with a default port) a bare host. Returns an error string
 * instead of throwing so that config validation can attach it to the field name.
 */
export function parseHostPort(input: string, defaultPort?: number): HostPort | string {
  const text = input.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (text.split(':').length > 2) {
    return `"${input}" looks like an IPv6 address; write it in brackets, like [::1]:3080`;
  } else {
    const i = text.lastIndexOf(':');
    host = i < 0 ? text : text.slice(0, i);
    portText = i < 0 ? undefined : text.slice(i + 1);
  }
  if (host === '') return `"${input}" has no host; write host:port, like 0.0.0.0:3080`;
  if (!isIP(host) && !/^[a-zA-Z0-9*]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$/.test(host)) return `"${host}" is not a valid host name or IP address`;
  if (portText === undefined || portText === '') {
    if (defaultPort === undefined) return `"${input}" has no port; write host:port, like 0.0.0.0:3080`;
    return { host, port: defaultPort };
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) return `"${portText}" is not a port number (0-65535)`;
  return { host, port: Number(portText) };
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An app's own public address: a DNS name, optionally with a port (what a Host header carries). */
export const PUBLIC_ADDR = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?(:\d{1,5})?$/;

/** Whether `addr` (host or host:port) is the proxy's own host or a name under it. */
export function isProxyName(addr: string, proxyHost: string): boolean {
  const host = addr.toLowerCase().replace(/:\d+$/, '');
  const proxy = proxyHost.toLowerCase();
  return host === proxy || host.endsWith(`.${proxy}`);
}

/**
 * The key that counts a client address for limits: an IPv4 address as it is (unwrapped from
 * `::ffff:`), an IPv6 address as its /64, the block one host is usually given.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head, tail] = address.toLowerCase().split('%')[0]!.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

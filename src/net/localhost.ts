import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';

/**
 * RFC 6761: `localhost` and every name under `.localhost` are loopback. Many system resolvers do
 * not implement that for subdomains (glibc without nss-myhostname, macOS), so every Postern client
 * resolves these names itself and never asks DNS.
 */
export function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A drop-in `lookup` for net.connect / tls.connect / http agents. */
export function lookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (!isLocalhostName(hostname)) {
    dnsLookup(hostname, options, callback as never);
    return;
  }
  const family = options.family === 6 || options.family === 'IPv6' ? 6 : 4;
  const address = family === 6 ? '::1' : '127.0.0.1';
  if (options.all) callback(null, [{ address, family }]);
  else callback(null, address, family);
}

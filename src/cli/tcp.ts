import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Command } from 'commander';
import type { ProxyEndpoint } from '../client/api-client.js';
import { browserLogin, canOpenBrowser, deviceLogin } from '../client/browser-login.js';
import { ConnectRefused, connectRoute, SpareConnections, tunnelLost, withBearer } from '../client/connect-tunnel.js';
import { MultiplexedTunnels } from '../client/multiplexed-tunnels.js';
import { establishTrust } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { TokenCache } from '../client/token-cache.js';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net/addr.js';
import { listenLocally } from '../net/listen.js';
import { joinStreams } from '../net/pipe.js';

interface TcpOptions {
  listen: string;
  proxyUrl?: string;
  caFile?: string;
  caPin?: string;
  insecure?: boolean;
  browserCmd?: string;
  device?: boolean;
}

const say = (line: string) => process.stderr.write(line + '\n');

export function registerTcp(program: Command): void {
  program
    .command('tcp')
    .argument('<host:port>', 'the route to reach, as the proxy knows it (e.g. ssh.example.com:22)')
    .summary('reach a TCP route through the proxy (for ssh ProxyCommand, databases, anything TCP)')
    .description(
      'Open a TCP tunnel to a route through the proxy (HTTP CONNECT over its one HTTPS port). With --listen - it ' +
        'carries standard input and output, for OpenSSH: ProxyCommand postern tcp --listen - %h:%p. With --listen ' +
        'ADDR it accepts any number of local connections. It uses your `postern login` certificate for the proxy ' +
        'when you have one; otherwise it signs you in through a browser (or --device) and caches the token.',
    )
    .option('--listen <addr>', '- for standard input/output, or host:port to listen on (e.g. 127.0.0.1:15432)', '-')
    .option('--proxy-url <url>', 'the proxy, e.g. https://postern.example.com (default: your current profile\'s, else https://HOST:443)')
    .option('--ca-file <file>', 'trust the proxy if a CA in this PEM file vouches for it')
    .option('--ca-pin <sha256:hex>', "trust the proxy if its cluster's host CA has this pin")
    .option('--insecure', 'do not verify the proxy (tests only)')
    .option('--browser-cmd <cmd>', 'the program that opens the sign-in page (default: $BROWSER, xdg-open or open)')
    .option('--device', 'sign in with a code on another device instead of a browser here (default on machines without a display)')
    .action(async (target: string, opts: TcpOptions) => {
      const authority = parseTarget(target);
      const open = await tunnelOpener(authority, opts, opts.listen !== '-');
      if (opts.listen === '-') return stdio(await open(), authority);
      const listen = parseHostPort(opts.listen);
      if (typeof listen === 'string') throw new PosternError('USAGE', `--listen: ${listen}`);
      await listener(listen, open, authority);
    });
}

function parseTarget(target: string): string {
  const parsed = parseHostPort(target);
  if (typeof parsed === 'string') throw new PosternError('USAGE', `${target}: ${parsed}; give the route as HOST:PORT, e.g. ssh.example.com:22`);
  return formatHostPort(parsed);
}

/**
 * How to open one tunnel, signing in as needed: with the profile's certificate when there is one
 * for this proxy; else with a cached token; else with none at first (some routes need none). A 401
 * drops the cached token and signs in again, once.
 */
async function tunnelOpener(authority: string, opts: TcpOptions, many: boolean): Promise<() => Promise<Duplex>> {
  const proxy = proxyAddress(authority, opts.proxyUrl);
  const store = new ProfileStore();
  const base: ProxyEndpoint = await establishTrust(formatHostPort(proxy), { ...(opts.caFile ? { caFile: opts.caFile } : {}), ...(opts.caPin ? { caPin: opts.caPin } : {}), ...(opts.insecure ? { insecure: true } : {}) }, store);
  const profileName = ProfileStore.nameFor(proxy);
  const profile = store.names().includes(profileName) ? store.load(profileName) : undefined;
  const withCertificate = profile && Date.parse(profile.expires) > Date.now();
  const endpoint = withCertificate ? { ...base, certPem: profile.certPem, keyPem: profile.keyPem } : base;
  // A listener keeps handshaken connections ready, and one shared HTTP/2 connection for the tunnels
  // that find none ready (SpareConnections), so no new tunnel waits for a TLS handshake.
  const multiplexed = many ? new MultiplexedTunnels(endpoint) : undefined;
  const spares = multiplexed ? new SpareConnections(endpoint, { overflow: (route, bearer) => multiplexed.connectRoute(route, bearer) }) : undefined;
  const tunnel = (bearer?: string) => (spares ? spares.connectRoute(authority, bearer) : connectRoute(withBearer(endpoint, bearer), authority));
  if (withCertificate) return () => tunnel().catch((err: unknown) => Promise.reject(explain(err, authority)));
  const tokens = new TokenCache(store.home);
  let signingIn: Promise<string> | undefined;
  const signIn = () =>
    (signingIn ??= (async () => {
      const useDevice = opts.device || !canOpenBrowser(opts.browserCmd);
      const token = useDevice ? await deviceLogin(base, say) : await browserLogin(base, opts.browserCmd, say);
      tokens.put(proxy, token);
      say(`Signed in as ${token.user}.`);
      return token.token;
    })().finally(() => (signingIn = undefined)));
  return async () => {
    const cached = tokens.get(proxy)?.token;
    try {
      return await tunnel(cached);
    } catch (err) {
      if (!(err instanceof ConnectRefused) || err.httpStatus !== 401) throw explain(err, authority);
      tokens.drop(proxy);
      const fresh = await signIn();
      return tunnel(fresh).catch((e: unknown) => Promise.reject(explain(e, authority)));
    }
  };
}

/** The proxy: --proxy-url, else the current profile's, else the route's host on 443. */
function proxyAddress(authority: string, proxyUrl: string | undefined): HostPort {
  if (proxyUrl) {
    let url: URL;
    try {
      url = new URL(proxyUrl.includes('://') ? proxyUrl : `https://${proxyUrl}`);
    } catch {
      throw new PosternError('USAGE', `--proxy-url: "${proxyUrl}" is not a URL; write it like https://postern.example.com`);
    }
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
  }
  const store = new ProfileStore();
  const current = store.currentName();
  if (current) return parseHostPort(store.load(current).proxy, 443) as HostPort;
  return { host: (parseHostPort(authority) as HostPort).host, port: 443 };
}

/** A refusal, told the way a person needs it: what was asked, the proxy's status and its reason. */
function explain(err: unknown, authority: string): Error {
  if (!(err instanceof ConnectRefused)) return err as Error;
  return new PosternError(err.code, `CONNECT ${authority} refused (HTTP ${err.httpStatus}, ${err.code.toLowerCase()}): ${err.message}`);
}

/** --listen -: the tunnel carries standard input and output (OpenSSH's ProxyCommand). */
async function stdio(tunnel: Duplex, authority: string): Promise<void> {
  process.stdin.pipe(tunnel);
  tunnel.pipe(process.stdout);
  try {
    await Promise.race([once(tunnel, 'close'), once(process.stdin, 'end').then(() => once(tunnel, 'close'))]);
  } catch (err) {
    throw tunnelLost(err as NodeJS.ErrnoException, authority);
  }
  process.exit(0);
}

/** --listen ADDR: every local connection gets its own tunnel; failures are reported per connection. */
async function listener(addr: HostPort, open: () => Promise<Duplex>, authority: string): Promise<void> {
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (local: Socket) => {
    local.on('error', () => {});
    local.pause();
    open().then(
      (tunnel) => {
        tunnel.once('error', (err: NodeJS.ErrnoException) => {
          say(`postern: ${tunnelLost(err, authority).message}`);
          local.resetAndDestroy(); // so that the client too can tell a revoked tunnel from a service that hung up
        });
        joinStreams(local, tunnel);
      },
      (err: Error) => {
        say(`postern: ${err.message}`);
        local.destroy();
      },
    );
  });
  const bound = await listenLocally(server, addr, '--listen');
  say(`Listening on ${formatHostPort(bound)} → ${authority}. Ctrl-C stops it.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.close();
}

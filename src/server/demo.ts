import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { ADMIN_OPS } from '../admin/ops.js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { AgentIdentityStore, agentStateDir } from '../agent/identity-store.js';
import { agentConfig, type PosternConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import type { Core } from './core.js';

export const DEMO_AGENT = 'demo';

export interface Demo {
  /** For the banner: what to try. */
  lines: string[];
  close(): Promise<void>;
}

/**
 * `postern start --demo`: something to reach a minute after the first start. An agent in this
 * process (named demo, joined once with a token made here) serves two apps on loopback: `demo`,
 * a web page that shows who Postern says you are, and `echo`, a TCP service that sends back
 * what it gets. Both are labelled env=demo; the built-in access role reaches them.
 */
export async function startDemo(core: Core, config: PosternConfig, proxyAddr: HostPort, log: Logger): Promise<Demo> {
  const web = await listen(createHttpServer((req, res) => {
    const claims = decodeAssertion(req.headers['postern-jwt-assertion']);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(demoPage(claims));
  }));
  const echo = await listen(createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  }));
  const dial = { host: proxyAddr.host === '0.0.0.0' || proxyAddr.host === '::' ? '127.0.0.1' : proxyAddr.host, port: proxyAddr.port };
  // A token only for the first start: later ones find the agent's identity in its directory.
  const joined = new AgentIdentityStore(agentStateDir(config.data_dir, DEMO_AGENT)).load();
  const token = joined ? undefined : (await ADMIN_OPS['tokens.add'].run(core.auth, { type: 'app' }, { name: 'postern start --demo', remoteAddr: '' })).token;
  let agent: RunningAgent;
  try {
    agent = await startAgent(
      agentConfig({
        proxy: formatHostPort(dial),
        ...(token ? { token } : {}),
        ca_pin: core.cluster.authorities.host.pin,
        name: DEMO_AGENT,
        apps: [
          { name: 'demo', uri: `http://127.0.0.1:${port(web)}`, labels: { env: 'demo' }, description: 'Postern demo: who the proxy says you are' },
          { name: 'echo', uri: `tcp://127.0.0.1:${port(echo)}`, labels: { env: 'demo' }, description: 'Postern demo: a TCP echo service' },
        ],
      }),
      config.data_dir,
      log.child({ component: 'demo-agent' }),
    );
  } catch (err) {
    web.close();
    echo.close();
    throw err;
  }
  const host = new URL(core.publicUrl).host;
  return {
    lines: [
      `Demo agent "${DEMO_AGENT}" (in this process, identity in ${agent.dir}) serves:`,
      `  demo  a web app:  https://demo.${host} (or Launch it in the web UI, ${core.publicUrl}/web)`,
      `  echo  a TCP app:  postern proxy app echo --port 7007, then: nc localhost 7007`,
    ],
    async close() {
      agent.close();
      web.close();
      echo.close();
    },
  };
}

function listen<S extends HttpServer | TcpServer>(server: S): Promise<S> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function port(server: HttpServer | TcpServer): number {
  return (server.address() as { port: number }).port;
}

/**
 * The assertion's claims, read without checking its signature: this page only shows them. A real
 * app verifies it against the proxy's JWKS before believing it (docs/apps.md).
 */
function decodeAssertion(header: string | string[] | undefined): Record<string, unknown> | undefined {
  const payload = typeof header === 'string' ? header.split('.')[1] : undefined;
  if (!payload) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function demoPage(claims: Record<string, unknown> | undefined): string {
  const who = typeof claims?.sub === 'string' ? claims.sub : typeof claims?.username === 'string' ? claims.username : undefined;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Postern demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}pre{background:#f3f4f6;padding:1rem;overflow:auto;border-radius:6px}</style></head>
<body><h1>Hello${who ? `, ${escape(who)}` : ''}!</h1>
<p>This page is an app on a private loopback port, served by an agent that dialled out to the proxy: no inbound port was opened for it.</p>
<p>Postern told it who you are in the signed <code>Postern-Jwt-Assertion</code> header. Its claims:</p>
<pre>${claims ? escape(JSON.stringify(claims, null, 2)) : '(no assertion: this request did not come through Postern)'}</pre>
<p>A real app checks that signature against the proxy's keys (<code>/.well-known/jwks.json</code>) before it believes it.</p></body></html>`;
}

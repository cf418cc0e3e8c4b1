import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { get } from 'node:https';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { WebSocketServer } from 'ws';
import { lookup } from '../../src/net/localhost.js';

/**
 * A small internal web app of the kind Postern fronts. It trusts nobody's word for who is
 * calling: it verifies the `Postern-Jwt-Assertion` header against the proxy's JWKS with jose,
 * as an app following the docs would.
 *
 * - `/` an HTML page greeting the verified user (for the browser test)
 * - `/whoami` JSON: the verified claims and the headers the app received
 * - `/redirect` a redirect to the app's own internal address
 * - `/body` (POST) the length and SHA-256 of the body, read as a stream
 * - `/ws` a WebSocket echo
 * - `/stream` a response that never ends: a line every 100 ms (as server-sent events would)
 */
export class TestApp {
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(jwks: { proxyPort: number; caPem: string; issuer: string }): Promise<TestApp> {
    let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
    const verify = async (req: IncomingMessage): Promise<JWTPayload | { error: string }> => {
      const token = req.headers['postern-jwt-assertion'];
      if (typeof token !== 'string') return { error: 'no assertion' };
      keySet ??= createLocalJWKSet(await fetchJwks(jwks.proxyPort, jwks.caPem));
      try {
        return (await jwtVerify(token, keySet, { issuer: jwks.issuer, audience: `http://127.0.0.1:${port}` })).payload;
      } catch (err) {
        return { error: `invalid assertion: ${(err as Error).message}` };
      }
    };
    let port = 0;
    const server = createServer(async (req, res) => {
      const claims = await verify(req);
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/landed` }).end();
      } else if (req.url === '/body' && req.method === 'POST') {
        const hash = createHash('sha256');
        let length = 0;
        for await (const chunk of req as AsyncIterable<Buffer>) {
          hash.update(chunk);
          length += chunk.length;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ length, sha256: hash.digest('hex') }));
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const timer = setInterval(() => res.write('data: tick\n\n'), 100);
        res.once('close', () => clearInterval(timer));
      } else if (req.url === '/cookies') {
        // What a hostile (or careless) app might set: cookies for the proxy's whole domain, and Postern's own.
        const proxyHost = String(req.headers['x-forwarded-host']).replace(/^[^.]+\.|:\d+$/g, '');
        res.writeHead(200, { 'set-cookie': [`planted=1; Domain=${proxyHost}; Path=/`, '__Host-postern_app=forged; Path=/; Secure', 'app_kept=1; Path=/'] }).end('cookies set');
      } else if (req.url === '/whoami') {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'app_own=1; Path=/' }).end(JSON.stringify({ claims, headers: req.headers }));
      } else {
        const name = 'username' in claims ? String(claims.username) : `nobody (${(claims as { error: string }).error})`;
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>Test app</title><h1 id="hello">Hello, ${name}</h1>`);
      }
    });
    const wss = new WebSocketServer({ server, path: '/ws' });
    wss.on('connection', (ws, req) => {
      // The greeting waits for the JWT check; echoes queue behind it so the order is fixed.
      const greeted = verify(req).then((claims) => ws.send(`hello ${'username' in claims ? String(claims.username) : 'nobody'}`));
      ws.on('message', (data) => void greeted.then(() => ws.send(`echo ${String(data)}`)));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
    return new TestApp(server, port);
  }

  get uri(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

function fetchJwks(port: number, ca: string): Promise<{ keys: [] }> {
  return new Promise((resolve, reject) => {
    get({ host: 'postern.localhost', port, path: '/.well-known/jwks.json', ca, lookup }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d)).on('end', () => resolve(JSON.parse(body) as { keys: [] }));
    }).on('error', reject);
  });
}

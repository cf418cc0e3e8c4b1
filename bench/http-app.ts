/**
 * The app behind the proxy in HTTP benchmarks, in its own process: answers every request with a
 * small body on keep-alive connections. Prints {"port": N} when it listens; ends when stdin closes.
 */
import { createServer } from 'node:http';

const body = Buffer.from('{"ok":true,"service":"bench-app"}\n');
const server = createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n'));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

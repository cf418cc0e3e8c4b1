/**
 * A bulk stream in its own process, for scenarios that time other streams while it runs: in the
 * measuring process its TLS work would delay the very replies being timed. Opens one connection
 * (a ConnectSpec), moves bytes as fast as it can in one direction, and prints {"port": 0} once
 * the connection is up. Told `stop` (a line on stdin), it prints {"mb_per_s": N} and exits.
 *
 * argv: <spec json file> <upload|download>
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { connectTo, type ConnectSpec, type Direction } from './lib/transfer.js';

const [specFile, direction] = process.argv.slice(2) as [string, Direction];
const sock = await connectTo(JSON.parse(readFileSync(specFile, 'utf8')) as ConnectSpec)();
const started = performance.now();
let bytes = 0;
let stopped = false;
sock.on('error', () => undefined); // ends with the process
if (direction === 'upload') {
  const chunk = Buffer.alloc(64 * 1024, 0xa5);
  const pump = (): void => {
    while (!stopped) {
      bytes += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
  };
  pump();
} else {
  sock.on('data', (d: Buffer) => (bytes += d.length));
  sock.resume();
}
process.stdout.write(JSON.stringify({ port: 0 }) + '\n');
process.stdin.once('end', () => process.exit(1)); // the bench went away without saying stop
createInterface({ input: process.stdin }).once('line', () => {
  stopped = true;
  process.stdout.write(JSON.stringify({ mb_per_s: bytes / 1e6 / ((performance.now() - started) / 1000) }) + '\n');
  sock.destroy();
  process.exit(0);
});

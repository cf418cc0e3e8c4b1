import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { Sshd } from '../harness/sshd.js';

/** Keystroke echo times over a plain SSH connection (ssh2, the sshd's own user key) to a loopback sshd. */
export async function directEchoLatency(sshd: Sshd): Promise<number[]> {
  const client = new ssh2.Client();
  client.connect({ host: '127.0.0.1', port: sshd.port, username: 'root', privateKey: readFileSync(sshd.userKey) });
  await once(client, 'ready');
  const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => client.shell({ term: 'xterm-256color' }, (err, ch) => (err ? reject(err) : resolve(ch))));
  await new Promise((r) => setTimeout(r, 500));
  channel.removeAllListeners('data');
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        if (d.includes('x')) {
          channel.off('data', onData);
          resolve();
        }
      };
      channel.on('data', onData);
      channel.write('x');
    });
    times.push(performance.now() - t0);
  }
  client.end();
  return times;
}

/** The median of some times. */
export function p50(times: number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/**
 * A script for page.evaluate (a string: the page runs it, not Node): keystroke echo times over a
 * terminal WebSocket that `openSocket` (a JavaScript expression, `await` allowed) opens: one byte
 * out, until its echo comes back, 200 times.
 */
export function pageEchoLatency(openSocket: string): string {
  return `(async () => {
  const ws = ${openSocket};
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve) => {
    ws.onmessage = (e) => { if (typeof e.data === 'string' && e.data.includes('"connected"')) resolve(); };
  });
  await new Promise((r) => setTimeout(r, 500));
  const times = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => {
      ws.onmessage = (e) => { if (typeof e.data !== 'string' && new TextDecoder().decode(e.data).includes('x')) resolve(); };
      ws.send(new TextEncoder().encode('x'));
    });
    times.push(performance.now() - t0);
  }
  ws.close();
  return times;
})()`;
}

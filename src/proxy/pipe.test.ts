import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { joinStreams } from './pipe.js';

async function listen(onConn: (s: Socket) => void): Promise<number> {
  const srv = createServer(onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

describe('joinStreams', () => {
  it('relays bytes both ways and closes the other side when one goes away', async () => {
    const echoPort = await listen((s) => s.pipe(s));
    let upstream: Socket | undefined;
    const relayPort = await listen((client) => {
      upstream = connect(echoPort, '127.0.0.1');
      joinStreams(client, upstream);
    });
    const c = connect(relayPort, '127.0.0.1');
    const payload = Buffer.alloc(1 << 20, 7);
    c.write(payload);
    let got = 0;
    for await (const chunk of c) {
      got += (chunk as Buffer).length;
      if (got >= payload.length) break;
    }
    expect(got).toBe(payload.length);
    c.destroy();
    await once(upstream!, 'close');
    expect(upstream!.destroyed).toBe(true);
  });

  it('reports the first error once and closes both sides', async () => {
    const reports: (Error | undefined)[] = [];
    const relayPort = await listen((client) => {
      const dead = connect(1, '127.0.0.1'); // nothing listens on port 1
      joinStreams(client, dead, (err) => reports.push(err));
    });
    const c = connect(relayPort, '127.0.0.1');
    c.on('error', () => {});
    await once(c, 'close');
    expect(reports).toHaveLength(1);
    expect((reports[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
  });
});

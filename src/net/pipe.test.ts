import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect as h2Connect, constants as h2constants, createServer as createH2Server } from 'node:http2';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { createAuthority, issueCertificate, loadAuthority } from '../pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../pki/crypto.js';
import { abortStream, joinStreams } from './pipe.js';

async function selfSigned(): Promise<{ cert: string; key: string }> {
  const ca = await loadAuthority(await createAuthority('host', 'test'));
  const keys = await generateKeyPair();
  const cert = await issueCertificate(ca, { publicKey: keys.publicKey, commonName: 'relay', ttlMs: 3_600_000, usage: 'server' });
  return { cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) };
}

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

  it('delivers everything a target sent before it closed, to a TLS client that reads slowly', async () => {
    // The target writes 16 MiB and hangs up; the client reads in dribbles, so bytes are still
    // queued in the relay's TLS socket when the target's side closes.
    const total = 16 * 1024 * 1024;
    const targetPort = await listen((s) => s.end(Buffer.alloc(total, 3)));
    const { cert, key } = await selfSigned();
    const relay = createTlsServer({ cert, key }, (client) => joinStreams(client, connect(targetPort, '127.0.0.1')));
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const c = tlsConnect({ port: (relay.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false });
    let got = 0;
    c.on('data', (d: Buffer) => {
      got += d.length;
      c.pause();
      setTimeout(() => c.resume(), 1);
    });
    await once(c, 'close');
    relay.close();
    expect(got).toBe(total);
  });

  it('delivers everything a target sent before it closed into an HTTP/2 stream (the tunnel\'s case)', async () => {
    // As on an agent: a TCP target joined to an HTTP/2 stream whose reader (the proxy) is slow,
    // so the stream holds data behind flow control when the target hangs up.
    const total = 8 * 1024 * 1024;
    const targetPort = await listen((s) => s.end(Buffer.alloc(total, 5)));
    const h2 = createH2Server();
    h2.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      joinStreams(stream, connect(targetPort, '127.0.0.1'));
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const session = h2Connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`);
    const req = session.request({ ':method': 'POST', ':path': '/' });
    req.end();
    let got = 0;
    req.on('data', (d: Buffer) => {
      got += d.length;
      req.pause();
      setTimeout(() => req.resume(), 1);
    });
    await once(req, 'close');
    session.close();
    h2.close();
    expect(got).toBe(total);
  });

  it('aborts an HTTP/2 stream so that the client sees an error, not an ordinary end', async () => {
    const h2 = createH2Server();
    h2.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.on('error', () => {}); // the proxy's relay listens for it too
      stream.write('open');
      stream.once('data', () => abortStream(stream));
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const session = h2Connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`);
    const req = session.request({ ':method': 'CONNECT', ':authority': 'db.example.com:5432' });
    await once(req, 'data');
    req.write('now');
    const [err] = (await once(req, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ERR_HTTP2_STREAM_ERROR');
    expect(req.rstCode).toBe(h2constants.NGHTTP2_CONNECT_ERROR);
    session.close();
    h2.close();
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

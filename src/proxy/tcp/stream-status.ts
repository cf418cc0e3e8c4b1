import type { Duplex } from 'node:stream';
import { PosternError } from '../../errors/postern-error.js';

/**
 * Raw byte protocols (`postern-tcp`) start with one status line from the proxy, so a client can
 * tell "connected" from "refused, and why" without any HTTP in the path: `{"ok":true}` or the
 * error's wire form, then a newline; after an ok, bytes flow both ways untouched. The client
 * may send its first bytes without waiting.
 */
const MAX_LINE = 4096;

export function writeOk(stream: Duplex): void {
  stream.write('{"ok":true}\n');
}

export function writeRefusal(stream: Duplex, err: PosternError): void {
  stream.end(JSON.stringify(err.toJSON()) + '\n');
}

/**
 * Reads the status line; resolves once it is ok. The stream is left paused with the target's
 * first bytes unread in it: pipe it or resume it.
 */
export function readStatus(stream: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(0x0a);
      if (end < 0) {
        if (buffered.length > MAX_LINE) done(new PosternError('PROXY_UNREACHABLE', 'the proxy sent no status line; is it a Postern proxy?'));
        return;
      }
      const line = buffered.subarray(0, end).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return done(new PosternError('PROXY_UNREACHABLE', 'the proxy sent a malformed status line'));
      }
      if ((parsed as { ok?: boolean }).ok === true) {
        stream.off('data', onData);
        stream.pause();
        const rest = buffered.subarray(end + 1);
        if (rest.length) stream.unshift(rest);
        return done();
      }
      done(PosternError.fromJSON(parsed));
    };
    const onEnd = () => done(new PosternError('PROXY_UNREACHABLE', 'the proxy closed the connection before saying whether it was allowed'));
    const done = (err?: Error) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', done);
  });
}

import type { Duplex } from 'node:stream';
import { PosternError } from '../errors/postern-error.js';

/**
 * Raw byte protocols (`postern-tcp`, `postern-ssh`) start with one status line from the proxy, so
 * a client can tell "connected" from "refused, and why" without any HTTP in the path:
 * `{"ok":true, …}` or the error's wire form, then a newline; after an ok, bytes flow both ways
 * untouched. `postern-ssh` also starts with one request line from the client (readLine).
 */
const MAX_LINE = 16 * 1024;

/** The ok line, with whatever else the protocol hands the client (an SSH certificate). */
export function writeOk(stream: Duplex, extra: Record<string, unknown> = {}): void {
  stream.write(JSON.stringify({ ok: true, ...extra }) + '\n');
}

export function writeRefusal(stream: Duplex, err: PosternError): void {
  stream.end(JSON.stringify(err.toJSON()) + '\n');
}

/**
 * Reads the status line; resolves with it once it is ok. The stream is left paused with the
 * target's first bytes unread in it: pipe it or resume it.
 */
export async function readStatus(stream: Duplex): Promise<Record<string, unknown>> {
  const line = await readLine(stream, 'status line');
  if (line.ok === true) return line;
  throw PosternError.fromJSON(line);
}

/** Reads one JSON line (at most 16 KiB) and leaves the rest of the stream unread and paused. */
export function readLine(stream: Duplex, what = 'request line'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(0x0a);
      if (end < 0) {
        if (buffered.length > MAX_LINE) done(new PosternError('BAD_REQUEST', `no ${what} within ${MAX_LINE} bytes; is the other end a Postern client or proxy?`));
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(buffered.subarray(0, end).toString('utf8'));
      } catch {
        return done(new PosternError('BAD_REQUEST', `the ${what} is not JSON`));
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return done(new PosternError('BAD_REQUEST', `the ${what} is not a JSON object`));
      stream.off('data', onData);
      stream.pause();
      const rest = buffered.subarray(end + 1);
      if (rest.length) stream.unshift(rest);
      done(undefined, parsed as Record<string, unknown>);
    };
    const onEnd = () => done(new PosternError('PROXY_UNREACHABLE', `the connection closed before the ${what}`));
    const done = (err?: Error, line?: Record<string, unknown>) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', done);
      if (err) reject(err);
      else resolve(line!);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', done);
  });
}

import type { Duplex } from 'node:stream';
import { PosternError } from '../errors/postern-error.js';

/** What a parser of a protocol's opening answers for the bytes so far; it never throws. */
export type MessageRead<R extends { status: 'ok'; length: number }> = { status: 'incomplete' } | { status: 'invalid'; reason: string } | R;

/**
 * Reads one message of a protocol's opening from a stream with `parse`, waiting for as many
 * bytes as it needs. Resolves with the parser's answer and the message's bytes, and leaves the
 * stream paused with anything after the message unread; an invalid message or an early end
 * rejects with BAD_REQUEST naming `what` was expected.
 */
export function readMessage<R extends { status: 'ok'; length: number }>(stream: Duplex, parse: (buf: Buffer) => MessageRead<R>, what: string): Promise<{ read: R; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const done = (err: Error | undefined, result?: { read: R; raw: Buffer }) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', done);
      stream.pause();
      if (err) reject(err);
      else resolve(result!);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const read = parse(buffered);
      if (read.status === 'incomplete') return;
      if (read.status === 'invalid') return done(new PosternError('BAD_REQUEST', `not a ${what}: ${read.reason}`));
      const ok = read as R;
      // Listeners off and paused first: a flowing stream would hand an unshifted rest straight back to onData.
      done(undefined, { read: ok, raw: buffered.subarray(0, ok.length) });
      if (buffered.length > ok.length) stream.unshift(buffered.subarray(ok.length));
    };
    const onEnd = () => done(new PosternError('BAD_REQUEST', `the connection closed before the ${what}`));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', done);
    stream.resume();
  });
}

import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { constants, type Http2Stream } from 'node:http2';

/** How long a side that was told to end may take to deliver what it still holds, once its partner has closed. */
const DRAIN_DEADLINE_MS = 120_000;
/** A chunk at least this large is taken as part of a bulk transfer (see coalesceWrites). */
const BULK_CHUNK = 4096;

/**
 * Ends a relayed stream so that its peer sees an error rather than an ordinary end: under TLS,
 * a TCP reset (there is no in-band way to say why on a CONNECT tunnel over HTTP/1.1); an HTTP/2
 * stream, with RST_STREAM CONNECT_ERROR (RFC 9113 §8.5; a plain destroy() would send NO_ERROR,
 * which a client takes as an ordinary end). `postern tcp` then exits non-zero, or resets its
 * local connection, instead of acting as if the service had hung up.
 */
export function abortStream(stream: Duplex): void {
  if (isHttp2Stream(stream)) return void stream.close(constants.NGHTTP2_CONNECT_ERROR);
  const parent = (stream as Duplex & { _parent?: Socket })._parent;
  if (parent && typeof parent.resetAndDestroy === 'function' && !parent.destroyed) parent.resetAndDestroy();
  stream.destroy();
}

/** Node does not export the Http2Stream class; a stream of a session is one. */
function isHttp2Stream(stream: Duplex): stream is Http2Stream {
  return 'session' in stream && typeof (stream as Http2Stream).close === 'function';
}

/**
 * Joins two byte streams both ways until both are done, then tears both down. `.pipe()` rather
 * than stream.pipeline(): it costs half the CPU per connection and both directions are symmetric.
 * Nagle is turned off on sockets: a relay that batches small writes adds a delayed-ACK stall
 * (~40 ms) to every request/response exchange.
 *
 * Both sides are made half-open (allowHalfOpen): a side that has sent all it will (FIN) still
 * receives the rest of the answer; each direction ends on its own, and a side closes once both
 * have. (Only relays want this: an HTTP or HTTP/2 connection should close when its peer's does.)
 *
 * When one side closes after ending normally, pipe() has asked the other to end too; that side
 * may still hold bytes (an HTTP/2 stream behind flow control, a TLS socket's queue), so it is
 * left to deliver them and destroyed when it closes, or after DRAIN_DEADLINE_MS. An error, or a
 * side that goes away without ending, tears both down at once.
 */
export function joinStreams(a: Duplex, b: Duplex, onClose?: (err?: Error) => void): void {
  for (const s of [a, b]) {
    s.allowHalfOpen = true;
    if (typeof (s as Socket).setNoDelay === 'function') (s as Socket).setNoDelay(true);
  }
  let done = false;
  const finish = (err?: Error) => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
    onClose?.(err);
  };
  const closed = (other: Duplex) => () => {
    if (done) return;
    if (!other.writableEnded || other.destroyed || other.closed) return finish();
    other.once('close', () => finish());
    setTimeout(() => finish(), DRAIN_DEADLINE_MS).unref();
  };
  a.on('error', finish);
  b.on('error', finish);
  a.once('close', closed(b));
  b.once('close', closed(a));
  coalesceWrites(a, b);
  coalesceWrites(b, a);
  a.pipe(b);
  b.pipe(a);
}

/**
 * Chunks that `from` delivers in one turn of the event loop reach `to` as one write. TLS hands
 * over each 16 KiB record on its own, and an HTTP/2 stream each piece of a DATA frame that a TLS
 * record holds (16 KiB frames cross record boundaries, so about two per record); written one by
 * one, each costs a system call and, to TLS, a record of its own. Corked until the turn's
 * check phase, they leave in one writev. Only a large chunk (a bulk transfer) starts a cork: a
 * small one (a keystroke, a request, a first byte) is written at once, since deferring it costs
 * interactive traffic latency. Registered before pipe() so that the cork is in place before its
 * write.
 */
function coalesceWrites(from: Duplex, to: Duplex): void {
  const uncork = () => to.uncork();
  from.on('data', (chunk: Buffer) => {
    if (chunk.length < BULK_CHUNK || to.writableCorked) return;
    to.cork();
    setImmediate(uncork);
  });
}

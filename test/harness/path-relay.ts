import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay that stands for a long network path: it holds every chunk for `delayMs` each way
 * (a round trip of twice that) and, given `bytesPerMs`, lets bytes out no faster (a bottleneck
 * with a deep queue in front). Not listening yet: the caller listens where it wants.
 */
export function pathRelay(targetPort: number, delayMs: number, bytesPerMs = Infinity): Server {
  const forward = (from: Socket, to: Socket) => {
    // One queue and one timer per direction, so chunks leave in the order they came.
    const queue: { at: number; chunk: Buffer }[] = [];
    let freeAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const release = () => {
      timer = undefined;
      while (queue.length && queue[0]!.at <= performance.now()) to.write(queue.shift()!.chunk, () => {});
      if (queue.length) timer = setTimeout(release, queue[0]!.at - performance.now());
      else if (ended) to.end();
    };
    from.on('data', (chunk: Buffer) => {
      const now = performance.now();
      freeAt = Math.max(freeAt, now) + chunk.length / bytesPerMs;
      queue.push({ at: Math.max(now + delayMs, freeAt), chunk });
      timer ??= setTimeout(release, queue[0]!.at - now);
    });
    // An end (FIN) follows the bytes queued before it; a reset takes them with it.
    from.on('end', () => {
      ended = true;
      timer ??= setTimeout(release, 0);
    });
    from.on('close', () => {
      if (!ended) to.destroy();
    });
    from.on('error', () => {});
  };
  return createServer({ allowHalfOpen: true }, (client) => {
    const target = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    for (const s of [client, target]) s.setNoDelay(true);
    forward(client, target);
    forward(target, client);
  });
}

import { connect, type Socket } from 'node:net';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort, type HostPort } from './addr.js';

const DIAL_TIMEOUT_MS = 10_000;

/**
 * A TCP connection from the proxy to a target it reaches itself (a route's `to`, a direct SSH
 * node), ready to relay: no Nagle, half-open. Fails within 10 s with TARGET_UNREACHABLE, naming
 * the address, what it is the target of, and the system's reason.
 */
export function dialTcp(addr: HostPort, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: addr.host, port: addr.port, noDelay: true, allowHalfOpen: true, timeout: DIAL_TIMEOUT_MS });
    const fail = (err: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(new PosternError('TARGET_UNREACHABLE', `the proxy cannot reach ${formatHostPort(addr)} (${what}): ${err.code ?? err.message}`));
    };
    socket.once('error', fail);
    socket.once('timeout', () => fail(new Error(`no answer within ${DIAL_TIMEOUT_MS / 1000} s`)));
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

import type { Server } from 'node:net';
import { PosternError } from '../errors/postern-error.js';
import { formatHostPort, type HostPort } from './addr.js';

/**
 * Starts a local listener, turning the usual failures into an error that names the flag to
 * change (not a stack trace): the address is taken, or the port needs privileges.
 */
export async function listenLocally(server: Server, addr: HostPort, flag: string): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'another program is using it' : err.code === 'EACCES' ? 'this user may not use ports below 1024' : err.message;
      reject(new PosternError('USAGE', `cannot listen on ${formatHostPort(addr)}: ${why}; choose another with ${flag}`, { cause: err }));
    };
    server.once('error', failed);
    server.listen(addr.port, addr.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };
  return { host: bound.address, port: bound.port };
}

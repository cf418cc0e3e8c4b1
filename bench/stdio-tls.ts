/**
 * The baseline's ProxyCommand for the scp scenario: stdin/stdout over one TLS connection, in a
 * Node process like `postern proxy ssh`, minus everything Postern does (no login, no status
 * line, no certificate). argv: <port on 127.0.0.1>
 */
import { connect } from 'node:tls';

const socket = connect({ port: Number(process.argv[2]), host: '127.0.0.1', servername: 'postern.localhost', ALPNProtocols: ['postern-tcp'], rejectUnauthorized: false });
socket.setNoDelay(true);
socket.once('secureConnect', () => {
  process.stdin.pipe(socket);
  socket.pipe(process.stdout);
});
socket.once('close', () => process.exit(0));
socket.once('error', (err) => {
  process.stderr.write(`stdio-tls: ${err.message}\n`);
  process.exit(1);
});

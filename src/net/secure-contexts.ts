import { connect, createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';

/**
 * Client TLS contexts, made once per set of trusted CAs and client certificate. Building one
 * that trusts the system's root CAs parses every one of them: about 20 ms of CPU, which a client
 * that opens a connection per tunnel (postern tcp, proxy app, an agent re-dialling) would
 * otherwise pay every time.
 */
const contexts = new Map<string, SecureContext>();
/** The last TLS session per server and context, resumed by the next connection (no handshake signatures). */
const sessions = new Map<string, Buffer>();

function contextKey(opts: { trustedPem?: string; certPem?: string; keyPem?: string }): string {
  return `${opts.trustedPem ?? ''}\0${opts.certPem ?? ''}\0${opts.keyPem ?? ''}`;
}

/**
 * Connects with the cached context, resuming the last session with the same server and
 * identity: a resumed TLS 1.3 handshake skips the certificate signatures, which are most of a
 * new tunnel's set-up time. (A resumed session still carries the client certificate, so the
 * proxy identifies it as before.)
 */
export function connectWithContext(opts: ConnectionOptions & { trustedPem?: string; certPem?: string; keyPem?: string }): TLSSocket {
  const { trustedPem, certPem, keyPem, ...rest } = opts;
  const identity = { ...(trustedPem ? { trustedPem } : {}), ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) };
  const key = `${rest.host}:${rest.port}\0${rest.servername ?? ''}\0${contextKey(identity)}`;
  const session = sessions.get(key);
  const socket = connect({ ...rest, secureContext: clientContext(identity), ...(session ? { session } : {}) });
  socket.on('session', (s: Buffer) => {
    if (sessions.size >= 256) sessions.delete(sessions.keys().next().value!);
    sessions.set(key, s);
  });
  return socket;
}

export function clientContext(opts: { trustedPem?: string; certPem?: string; keyPem?: string }): SecureContext {
  const key = contextKey(opts);
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({
      ca: opts.trustedPem ? [...rootCertificates, opts.trustedPem] : [...rootCertificates],
      ...(opts.certPem && opts.keyPem ? { cert: opts.certPem, key: opts.keyPem } : {}),
    });
    // Bounded: a long-running agent renews its certificate every few days, not thousands of times.
    if (contexts.size >= 64) contexts.delete(contexts.keys().next().value!);
    contexts.set(key, context);
  }
  return context;
}

import type { BenchTls } from './fixture.js';
import { ServerProcess } from './server-process.js';

export interface RelayChain {
  /** Where clients connect (TLS, no status line). */
  port: number;
  stop(): Promise<void>;
}

/** How long the `far-path` relay holds each chunk, each way: a 40 ms round trip. */
export const FAR_PATH_DELAY_MS = 20;

/**
 * The baseline for reverse-tunnel figures: the same two TLS legs and the same pump code, without
 * the tunnel. client → TLS → relay A → TLS → relay B → TCP target, each relay in its own process.
 * With `far`, relay A reaches relay B through a `far-path` process (as an agent far from the
 * proxy would be reached).
 */
export async function startRelayChain(tls: BenchTls, targetPort: number, opts: { far?: boolean } = {}): Promise<RelayChain> {
  const b = await ServerProcess.start('node-relay', targetPort, tls.jsonFile);
  const path = opts.far ? await ServerProcess.start('far-path', b.port, tls.jsonFile) : undefined;
  const a = await ServerProcess.start('node-relay-tls', (path ?? b).port, tls.jsonFile);
  return {
    port: a.port,
    async stop() {
      for (const p of [a, path, b]) await p?.stop();
    },
  };
}

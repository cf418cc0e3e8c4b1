import type { BenchTls } from './fixture.js';
import { ServerProcess } from './server-process.js';

export interface RelayChain {
  /** Where clients connect (TLS, no status line). */
  port: number;
  stop(): Promise<void>;
}

/**
 * The baseline for reverse-tunnel figures: the same two TLS legs and the same pump code, without
 * the tunnel. client → TLS → relay A → TLS → relay B → TCP target, each relay in its own process.
 */
export async function startRelayChain(tls: BenchTls, targetPort: number): Promise<RelayChain> {
  const b = await ServerProcess.start('node-relay', targetPort, tls.jsonFile);
  const a = await ServerProcess.start('node-relay-tls', b.port, tls.jsonFile);
  return {
    port: a.port,
    async stop() {
      await a.stop();
      await b.stop();
    },
  };
}

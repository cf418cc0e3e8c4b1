import type { Ping } from '../../wire/api.js';
import type { WebRoute } from './web-handler.js';
import { sendJson } from './respond.js';

export interface PingInfo {
  clusterName: string;
  publicAddr: string;
  version: string;
  /** The ALPN names this proxy serves now. */
  protocols: () => string[];
}

/**
 * `GET /webapi/ping`: unauthenticated facts a client needs before logging in, and the address the
 * proxy sees for the caller (handy behind load balancers: it shows whether PROXY headers work).
 */
export function pingRoute(info: PingInfo): WebRoute {
  return ({ res, conn }) => {
    sendJson<Ping>(res, 200, {
      cluster_name: info.clusterName,
      public_addr: info.publicAddr,
      version: info.version,
      protocols: info.protocols(),
      client_addr: conn.clientAddr.address,
    });
  };
}

import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.js';
import { PING_SUFFIX, PROTOCOLS, type ProtocolId, type ProtocolSpec } from '../wire/protocols.js';

/** A connection after its TLS handshake, handed to the handler its protocol selected. */
export interface RoutedConnection {
  id: number;
  socket: TLSSocket;
  protocol: ProtocolSpec;
  /** The negotiated ALPN name, or false when the client offered none. */
  alpn: string | false;
  /** The client asked for the `-ping` variant. */
  ping: boolean;
  servername: string | undefined;
  /** The client's address: from the PROXY header when there is one, else the TCP peer. */
  clientAddr: { address: string; port: number };
  log: Logger;
  /**
   * Tells the listener a request on this connection proved who is on it (a session, a token): it
   * stops counting against its address's limit (proxy.max_connections_per_ip) and may idle longer.
   */
  authenticate(): void;
  /** A verified client certificate at the handshake, or authenticate() was called. */
  readonly authenticated: boolean;
}

export interface ProtocolHandler {
  handle(conn: RoutedConnection): void;
  /** The handler speaks the `-ping` variant's keepalive framing too (only then is it offered). */
  readonly ping?: boolean;
}

export type AlpnDecision =
  | { ok: true; alpn: string; protocol: ProtocolSpec }
  | { ok: false; reason: 'unknown_alpn' | 'protocol_unavailable' | 'alpn_list_too_long'; message: string; protocol?: ProtocolSpec };

/**
 * Real clients offer a handful of ALPN names (browsers 2–3, Postern's clients 1–2). A ClientHello
 * can carry thousands; each costs work here and words in a log line, so a longer list is refused
 * before any is looked at.
 */
export const MAX_OFFERED_ALPN = 32;

/**
 * Chooses a handler from the protocol table by SNI and ALPN. The choice is made during the
 * handshake (selectAlpn, from Node's ALPNCallback) so that a protocol nobody serves is refused
 * with a TLS alert instead of a handshake that completes and then hangs up.
 */
export class Router {
  private readonly handlers = new Map<ProtocolId, ProtocolHandler>();
  private readonly byAlpn = new Map<string, { protocol: ProtocolSpec; ping: boolean }>();
  private readonly bySni: ProtocolSpec[];
  /** Position of each ALPN name in the table: lower is preferred. */
  private readonly rank = new Map<string, number>();

  constructor(private readonly table: readonly ProtocolSpec[] = PROTOCOLS) {
    this.bySni = table.filter((p) => p.sniPrefix);
    for (const protocol of table) {
      if (protocol.sniPrefix) continue;
      for (const name of protocol.alpn) {
        this.byAlpn.set(name, { protocol, ping: false });
        if (protocol.ping) this.byAlpn.set(name + PING_SUFFIX, { protocol, ping: true });
      }
    }
    for (const name of this.byAlpn.keys()) this.rank.set(name, this.rank.size);
  }

  register(id: ProtocolId, handler: ProtocolHandler): void {
    if (!this.table.some((p) => p.id === id)) throw new Error(`protocol ${id} is not in the protocol table`);
    this.handlers.set(id, handler);
  }

  handler(id: ProtocolId): ProtocolHandler | undefined {
    return this.handlers.get(id);
  }

  /** ALPN names of the protocols that have a handler, for /webapi/ping and docs. */
  served(): string[] {
    return [...this.byAlpn.keys()].filter((name) => this.available(this.byAlpn.get(name)!.protocol, name).ok);
  }

  /** Picks the ALPN to answer with, from what the client offered and who serves it. */
  selectAlpn(servername: string | undefined, offered: readonly string[]): AlpnDecision {
    if (offered.length > MAX_OFFERED_ALPN) {
      return { ok: false, reason: 'alpn_list_too_long', message: `the client offered ${offered.length} ALPN names; at most ${MAX_OFFERED_ALPN} are accepted` };
    }
    const sniProtocol = this.sniProtocol(servername);
    if (sniProtocol) {
      const alpn = sniProtocol.alpn.find((a) => offered.includes(a));
      if (!alpn) return { ok: false, reason: 'unknown_alpn', message: `${sniProtocol.description} speaks ${sniProtocol.alpn.join(' or ')}, the client offered ${list(offered)}`, protocol: sniProtocol };
      return this.available(sniProtocol, alpn);
    }
    let unavailable: AlpnDecision | undefined;
    for (const name of this.preferenceOrder(offered)) {
      const decision = this.available(this.byAlpn.get(name)!.protocol, name);
      if (decision.ok) return decision;
      unavailable ??= decision;
    }
    return unavailable ?? { ok: false, reason: 'unknown_alpn', message: `no protocol of this proxy matches the client's ALPN ${list(offered)}` };
  }

  /** The protocol of a finished handshake. */
  resolve(servername: string | undefined, alpn: string | false): { protocol: ProtocolSpec; ping: boolean } | undefined {
    const sniProtocol = this.sniProtocol(servername);
    if (sniProtocol) return { protocol: sniProtocol, ping: false };
    if (alpn === false) return { protocol: this.table.find((p) => p.id === 'web')!, ping: false };
    return this.byAlpn.get(alpn);
  }

  private sniProtocol(servername: string | undefined): ProtocolSpec | undefined {
    if (!servername) return undefined;
    const name = servername.toLowerCase();
    return this.bySni.find((p) => name.startsWith(p.sniPrefix!));
  }

  /** The offered names we know, in table order (the table lists preferred names first). */
  private preferenceOrder(offered: readonly string[]): readonly string[] {
    if (offered.length === 1) return this.rank.has(offered[0]!) ? offered : [];
    return offered.filter((name) => this.rank.has(name)).sort((a, b) => this.rank.get(a)! - this.rank.get(b)!);
  }

  private available(protocol: ProtocolSpec, alpn: string): AlpnDecision {
    const handler = this.handlers.get(protocol.id);
    const ping = this.byAlpn.get(alpn)?.ping ?? false;
    if (handler && (!ping || handler.ping)) return { ok: true, alpn, protocol };
    if (handler) {
      const plain = alpn.slice(0, -PING_SUFFIX.length);
      return { ok: false, reason: 'protocol_unavailable', message: `${alpn}: the keepalive variant of ${protocol.description} is not available in this version of Postern yet; use ${plain}`, protocol };
    }
    return {
      ok: false,
      reason: 'protocol_unavailable',
      message: `${alpn} (${protocol.description}) is not available in this version of Postern yet`,
      protocol,
    };
  }
}

/** The client's names for a message: a few, each cut short (they are the client's words, not ours). */
function list(names: readonly string[]): string {
  if (!names.length) return '(none)';
  const shown = names.slice(0, 5).map((n) => JSON.stringify(n.length > 40 ? `${n.slice(0, 40)}…` : n));
  return names.length > shown.length ? `${shown.join(', ')} and ${names.length - shown.length} more` : shown.join(', ');
}

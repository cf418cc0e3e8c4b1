import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { PosternError } from '../errors/postern-error.js';
import { issueCertificate } from '../pki/authority.js';
import { importClientKey } from '../pki/client-key.js';
import type { Identity } from '../pki/identity.js';
import type { AuthService } from './auth-service.js';
import type { AgentRole } from '../resources/table.js';

export interface StaticToken {
  roles: AgentRole[];
  value: string;
}

export interface JoinRequest {
  token: string;
  publicKeyPem: string;
  /** How the agent is listed. */
  name: string;
  /** What the agent will serve; the token must allow all of it. */
  roles: AgentRole[];
  remoteAddr: string;
}

export interface HostCertificate {
  agentId: string;
  certPem: string;
  expires: Date;
  roles: AgentRole[];
}

/**
 * How agents get and keep host certificates. Joining trades a token (a single-use dynamic one,
 * or a static one from the config) and the agent's public key for a certificate naming a fresh
 * agent ID and the roles the token allows. Renewing trades a valid host certificate for a new one
 * with the same identity, so an agent that stays connected never needs a token again.
 */
export class AgentEnrollment {
  private readonly staticTokens: { roles: AgentRole[]; digest: Buffer }[];

  constructor(
    private readonly auth: AuthService,
    staticTokens: StaticToken[],
    private readonly certTtlMs: number,
  ) {
    this.staticTokens = staticTokens.map((t) => ({ roles: t.roles, digest: digest(t.value) }));
  }

  async join(req: JoinRequest): Promise<HostCertificate> {
    const refuse = async (reason: string, message: string): Promise<never> => {
      await this.auth.emit({ event: 'agent.join.failed', user: req.name, remote_addr: req.remoteAddr, reason, roles: req.roles });
      throw new PosternError('JOIN_REFUSED', message);
    };
    if (req.roles.length === 0) await refuse('nothing to serve', 'the agent announces no apps, ssh nodes or databases; give it at least one (--app, --ssh or --db)');
    const granted = this.matchStatic(req.token) ?? (await this.auth.joinTokens.peek(req.token));
    if (!granted) return refuse('unknown, expired or used token', 'the join token is unknown, expired or already used; make a new one on the server with `postern ctl tokens add --type=…`');
    const missing = req.roles.filter((r) => !granted.roles.includes(r));
    if (missing.length > 0) {
      return refuse(
        `token does not allow ${missing.join(', ')}`,
        `the join token allows ${granted.roles.join(', ')}, but this agent serves ${missing.join(', ')}; make a token with \`postern ctl tokens add --type=${req.roles.join(',')}\``,
      );
    }
    if ('id' in granted) {
      // Dynamic tokens are single-use: of two agents racing with one, only the first joins.
      if (!(await this.auth.joinTokens.consume(req.token))) return refuse('unknown, expired or used token', 'the join token was just used by another agent; make a new one');
      await this.auth.emit({ event: 'token.used', user: req.name, remote_addr: req.remoteAddr, id: granted.id });
    }
    const cert = await this.issue(randomUUID(), req.name, granted.roles, req.publicKeyPem, req.remoteAddr);
    await this.auth.emit({ event: 'agent.join', user: req.name, remote_addr: req.remoteAddr, agent_id: cert.agentId, agent_name: req.name, roles: cert.roles, via: 'id' in granted ? 'dynamic token' : 'static token' });
    return cert;
  }

  /** A new certificate for an agent whose current one the verifier accepted. */
  renew(identity: Identity, publicKeyPem: string, remoteAddr: string): Promise<HostCertificate> {
    return this.issue(identity.username, identity.traits.agent_name?.[0] ?? identity.username, identity.roles as AgentRole[], publicKeyPem, remoteAddr);
  }

  private async issue(agentId: string, name: string, roles: AgentRole[], publicKeyPem: string, remoteAddr: string): Promise<HostCertificate> {
    const cert = await issueCertificate(this.auth.cluster.authorities.host, {
      publicKey: await importClientKey(publicKeyPem),
      commonName: agentId,
      ttlMs: this.certTtlMs,
      usage: 'client',
      identity: { kind: 'host', roles, traits: { agent_name: [name] } },
    });
    await this.auth.emit({ event: 'cert.issued', user: name, remote_addr: remoteAddr, cert_kind: 'host', agent_id: agentId, ttl: `${Math.round(this.certTtlMs / 1000)}s`, roles, serial: cert.serialNumber });
    return { agentId, certPem: cert.toString('pem'), expires: cert.notAfter, roles };
  }

  /** Static tokens are compared by digest, in constant time, against every configured one. */
  private matchStatic(token: string): { roles: AgentRole[] } | undefined {
    const given = digest(token);
    let found: { roles: AgentRole[] } | undefined;
    for (const t of this.staticTokens) if (timingSafeEqual(t.digest, given)) found = t;
    return found;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

import type { AgentEnrollment, HostCertificate } from '../../auth/agent-enrollment.js';
import type { AuthService } from '../../auth/auth-service.js';
import { parseAgentRoles } from '../../auth/join-tokens.js';
import type { Access } from '../../access/access.js';
import { callerFromIdentity } from '../../access/caller.js';
import type { IdentityVerifier } from '../../auth/verifier.js';
import { PosternError } from '../../errors/postern-error.js';
import type { AgentCertificateResponse } from '../../wire/api.js';
import { field, readJson } from './body.js';
import { sendJson } from './respond.js';
import type { WebHandler } from './web-handler.js';

/** How agents get their host certificates: join with a token, then renew with the certificate itself. */
export function registerAgentRoutes(web: WebHandler, auth: AuthService, enrollment: AgentEnrollment, verifier: IdentityVerifier, access: Access): void {
  const answer = (cert: HostCertificate): AgentCertificateResponse => ({
    agent_id: cert.agentId,
    cert_pem: cert.certPem,
    expires: cert.expires.toISOString(),
    roles: cert.roles,
    host_ca_pem: auth.cluster.authorities.host.certPem,
    cluster_name: auth.cluster.clusterName,
  });

  web.route('POST', '/webapi/join', async ({ req, res, conn }) => {
    const body = await readJson(req);
    const roles = Array.isArray(body.roles) ? parseAgentRoles(body.roles.map(String).join(',')) : [];
    const name = field(body, 'name');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/.test(name)) throw new PosternError('BAD_REQUEST', `"${name}" is not a valid agent name: letters, digits, dots, dashes and underscores`);
    const cert = await enrollment.join({ token: field(body, 'token'), publicKeyPem: field(body, 'public_key'), name, roles, remoteAddr: conn.clientAddr.address });
    sendJson(res, 200, answer(cert));
  });

  web.route('POST', '/webapi/agent/renew', async ({ req, res, conn, log }) => {
    const identity = verifier.verifySocket(conn.socket, 'host');
    // A locked agent gets no new certificate; the refusal is audited.
    await access.admit(callerFromIdentity(identity), { what: 'POST /webapi/agent/renew', clientAddr: conn.clientAddr.address, log });
    const body = await readJson(req);
    sendJson(res, 200, answer(await enrollment.renew(identity, field(body, 'public_key'), conn.clientAddr.address)));
  });
}

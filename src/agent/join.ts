import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { AgentRole } from '../resources/table.js';
import { callApi, type ProxyEndpoint } from '../client/api-client.js';
import { trustByPin } from '../client/login.js';
import { PosternError } from '../errors/postern-error.js';
import type { HostPort } from '../net/addr.js';
import type { AgentCertificateResponse } from '../wire/api.js';
import type { AgentIdentity } from './identity-store.js';


/** A fresh key pair; the private half stays in this process and on this machine's disk. */
function keyPair(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * Joins a cluster: checks the proxy's host CA against the pin before anything else, then trades
 * the token and a new public key for a host certificate.
 */
export async function joinCluster(opts: { proxy: HostPort; token?: string; caPin?: string; name: string; roles: AgentRole[] }): Promise<AgentIdentity> {
  if (!opts.token || !opts.caPin) {
    throw new PosternError('USAGE', 'this agent has not joined yet: pass --token (from `postern ctl tokens add`) and --ca-pin (from `postern ctl status`) on its first start');
  }
  const endpoint = await trustByPin(opts.proxy, opts.caPin);
  const keys = keyPair();
  const res = await callApi<AgentCertificateResponse>(endpoint, 'POST', '/webapi/join', { token: opts.token, public_key: keys.publicPem, name: opts.name, roles: opts.roles });
  return toIdentity(res, keys.privatePem, opts.name);
}

/** Renews with the current certificate (mutual TLS): same identity, new key, new expiry. */
export async function renewIdentity(proxy: HostPort, current: AgentIdentity): Promise<AgentIdentity> {
  const keys = keyPair();
  const endpoint: ProxyEndpoint = { proxy, trustedPem: current.hostCaPem, certPem: current.certPem, keyPem: current.keyPem };
  const res = await callApi<AgentCertificateResponse>(endpoint, 'POST', '/webapi/agent/renew', { public_key: keys.publicPem });
  return toIdentity(res, keys.privatePem, current.name);
}

function toIdentity(res: AgentCertificateResponse, keyPem: string, name: string): AgentIdentity {
  return { agentId: res.agent_id, name, cluster: res.cluster_name, roles: res.roles, certPem: res.cert_pem, keyPem, hostCaPem: res.host_ca_pem, expires: new Date(new X509Certificate(res.cert_pem).validTo) };
}

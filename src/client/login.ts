import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PosternError } from '../errors/postern-error.js';
import { caPin, pinsEqual } from '../pki/pin.js';
import { newSshKeyPair, opensshPrivateKey } from '../pki/ssh.js';
import type { ClusterCa, LoginResponse } from '../wire/api.js';
import { callApi, type ProxyEndpoint } from './api-client.js';
import { formatHostPort, type HostPort } from '../net/addr.js';
import { mustParse, ProfileStore, type Profile } from './profile-store.js';

export interface TrustOptions {
  /** `sha256:…` of the cluster's host CA. */
  caPin?: string;
  /** A PEM file with the CA(s) to trust for the proxy. */
  caFile?: string;
  insecure?: boolean;
}

export interface LoginOptions extends TrustOptions {
  proxy: string;
  user: string;
  password: string;
  otp?: string;
  ttlMs?: number;
}


/**
 * How to trust the proxy on this contact: a CA file; a pin, checked against the CA the proxy
 * serves before anything secret is sent; the CA a previous login pinned; or, with --insecure,
 * nothing. Without any of these the system's CAs must vouch for the proxy.
 */
export async function establishTrust(proxy: string, opts: TrustOptions, store: ProfileStore): Promise<ProxyEndpoint> {
  const addr = mustParse(proxy);
  if (opts.caFile) {
    let pem: string;
    try {
      pem = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new PosternError('USAGE', `--ca-file: cannot read ${opts.caFile}: ${(err as Error).message}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new PosternError('USAGE', `--ca-file: ${opts.caFile} holds no PEM certificate`);
    return { proxy: addr, trustedPem: pem };
  }
  if (opts.caPin) return trustByPin(addr, opts.caPin);
  if (opts.insecure) return { proxy: addr, insecure: true };
  const name = ProfileStore.nameFor(addr);
  return { proxy: addr, ...(store.names().includes(name) ? { trustedPem: store.load(name).trustedPem } : {}) };
}

/**
 * Fetches the cluster's host CA over an unverified connection and trusts it only if its pin is
 * the one given: nothing secret is sent before this check passes.
 */
export async function trustByPin(proxy: HostPort, pin: string): Promise<ProxyEndpoint & { trustedPem: string }> {
  if (!/^sha256:[0-9a-fA-F]{64}$/.test(pin.trim())) throw new PosternError('USAGE', '--ca-pin must look like sha256: followed by 64 hex digits, as `postern ctl status` prints it');
  const served = await callApi<ClusterCa>({ proxy, insecure: true }, 'GET', '/webapi/cluster/ca');
  const servedPin = caPin(served.host_ca_pem);
  if (!pinsEqual(servedPin, pin)) {
    throw new PosternError(
      'UNTRUSTED_CLUSTER',
      `the proxy at ${formatHostPort(proxy)} serves a host CA with pin ${servedPin}, not the ${pin.trim()} you gave: this may be another server. Check the pin with the cluster's administrator (postern ctl status)`,
    );
  }
  return { proxy, trustedPem: served.host_ca_pem };
}

/** Logs in: makes a key pair here, sends only its public half, and saves the profile. */
export async function login(opts: LoginOptions, store: ProfileStore): Promise<{ name: string; profile: Profile }> {
  const endpoint = await establishTrust(opts.proxy, opts, store);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sshKey = newSshKeyPair();
  const res = await callApi<LoginResponse>(endpoint, 'POST', '/webapi/login', {
    user: opts.user,
    password: opts.password,
    ...(opts.otp ? { otp: opts.otp } : {}),
    public_key: publicPem,
    ssh_public_key: sshKey.publicLine,
    ...(opts.ttlMs ? { ttl_ms: opts.ttlMs } : {}),
  });
  const cert = new X509Certificate(res.cert_pem);
  if (!cert.checkPrivateKey(privateKey)) throw new PosternError('PROXY_UNREACHABLE', 'the proxy returned a certificate for another key; refusing it');
  // From now on the profile trusts the cluster's host CA (and what --ca-file added), whatever got us here.
  const trustedPem = [res.host_ca_pem, endpoint.trustedPem].filter((p): p is string => !!p && p.trim() !== '').filter((p, i, all) => all.indexOf(p) === i).join('\n');
  const profile: Profile = { proxy: opts.proxy, user: res.username, cluster: res.cluster_name, roles: res.roles, logins: res.logins, traits: res.traits, expires: res.expires };
  const name = store.save(profile, {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: res.cert_pem,
    trustedPem,
    ...(res.ssh_cert && res.ssh_known_hosts ? { ssh: { privateKey: opensshPrivateKey(sshKey.privateKey, `${res.username}@${res.cluster_name}`), certificate: res.ssh_cert, knownHosts: res.ssh_known_hosts } } : {}),
  });
  return { name, profile };
}

/** The endpoint for calls made with a saved profile; an expired certificate is an error that says to log in. */
export function profileEndpoint(store: ProfileStore, proxy?: string): ProxyEndpoint & { user: string } {
  const p = store.resolve(proxy);
  if (Date.parse(p.expires) <= Date.now()) throw new PosternError('CERT_EXPIRED', `your certificate for ${p.proxy} expired at ${p.expires}; run \`postern login\``);
  return { proxy: mustParse(p.proxy), trustedPem: p.trustedPem, certPem: p.certPem, keyPem: p.keyPem, user: p.user };
}

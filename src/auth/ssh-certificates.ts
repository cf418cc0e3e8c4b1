import { parsePublicKeyLine, SSH_CERT_HOST, SSH_CERT_USER, signSshCertificate } from '../pki/ssh.js';
import type { SshAuthority } from './cluster-state.js';

/**
 * How Postern's SSH certificates keep per-node login rules (docs/architecture.md, "SSH"): every user
 * certificate names logins *bound to nodes*, `root@web-1`, and each node's sshd accepts only
 * principals for itself (`AuthorizedPrincipalsCommand /bin/echo %u@web-1`). So a certificate
 * that lets alice in as root on web-1 is useless on web-2, whichever way it is used: through
 * `postern ssh`, plain ssh with the ProxyCommand, or the files by hand.
 */
export function nodePrincipal(login: string, node: string): string {
  return `${login}@${node}`;
}

/** Per-connection certificates need only outlive the authentication; sessions go on after. */
export const SSH_SESSION_CERT_TTL_MS = 2 * 60_000;
/** Certificates start this early, for clocks that run a little behind. */
const BACKDATE_MS = 60_000;
export const SSH_HOST_CERT_TTL_MS = 365 * 86_400_000;

/** A user certificate for a public key (`ssh-ed25519 AAAA…`) and the given node-bound logins. */
export function sshUserCertificate(ca: SshAuthority, req: { publicKey: string; username: string; principals: string[]; validBefore: Date; purpose: string }): string {
  return signSshCertificate(ca.privateKey, {
    publicKeyBlob: parsePublicKeyLine(req.publicKey),
    type: SSH_CERT_USER,
    keyId: `${req.username} (postern ${req.purpose})`,
    principals: req.principals,
    validAfter: new Date(Date.now() - BACKDATE_MS),
    validBefore: req.validBefore,
  });
}

/** A node's host certificate: valid for its name and its name under the cluster (what ssh verifies). */
export function sshHostCertificate(ca: SshAuthority, req: { publicKey: string; node: string; clusterName: string; ttlMs?: number }): string {
  return signSshCertificate(ca.privateKey, {
    publicKeyBlob: parsePublicKeyLine(req.publicKey),
    type: SSH_CERT_HOST,
    keyId: `${req.node} (postern host)`,
    principals: [req.node, `${req.node}.${req.clusterName}`],
    validAfter: new Date(Date.now() - BACKDATE_MS),
    validBefore: new Date(Date.now() + (req.ttlMs ?? SSH_HOST_CERT_TTL_MS)),
  });
}

/** The known_hosts line that trusts every node certificate of a cluster. */
export function knownHostsLine(ca: SshAuthority, clusterName: string): string {
  return `@cert-authority *.${clusterName} ${ca.publicLine}`;
}

/** What a node's sshd_config needs, for people setting one up. */
export function sshdConfigLines(node: string, paths: { userCa: string; hostCert: string }): string[] {
  return [
    `TrustedUserCAKeys ${paths.userCa}`,
    `AuthorizedPrincipalsCommand /bin/echo %u@${node}`,
    'AuthorizedPrincipalsCommandUser nobody',
    `HostCertificate ${paths.hostCert}`,
  ];
}

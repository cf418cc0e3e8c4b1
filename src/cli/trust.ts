import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { callApi } from '../client/api-client.js';
import { addToNssDatabase, browserNssDatabases, removeFromNssDatabase, trustNickname } from '../client/browser-trust.js';
import { establishTrust } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { PosternError } from '../errors/postern-error.js';
import type { ClusterCa } from '../wire/api.js';

interface TrustFlags {
  proxy?: string;
  caPin?: string;
  caFile?: string;
  nssDb?: string;
  remove?: boolean;
}

export function registerTrust(program: Command): void {
  program
    .command('trust')
    .summary("make this machine's browsers trust the cluster's certificate")
    .description(
      "Add the cluster's host CA to the trust stores browsers read, so that the web UI and apps open without a certificate warning. " +
        'For clusters whose proxy has no publicly trusted certificate (proxy.certificates or ACME): local and private ones.\n\n' +
        'Linux: the shared NSS database (~/.pki/nssdb: Chromium, Chrome) and every Firefox profile, through certutil (libnss3-tools). ' +
        'macOS and Windows: prints the command to run.\n\n' +
        'Which cluster: --proxy with --ca-pin (the pin `postern start` prints; checked before anything is trusted) or --ca-file, ' +
        'or the one you are logged in to.\n\n' +
        "Browsers then accept every certificate this CA issues: trust only a cluster you run or trust.",
    )
    .option('--proxy <host:port>', 'the proxy (default: the one you are logged in to)')
    .option('--ca-pin <sha256:hex>', "trust the proxy only if its cluster's host CA has this pin")
    .option('--ca-file <path>', 'a PEM file with the CA to check the proxy against')
    .option('--nss-db <dir>', 'only this NSS database (default: ~/.pki/nssdb and the Firefox profiles)')
    .option('--remove', "take the cluster's CA out of the trust stores again")
    .addHelpText('after', '\nExamples:\n  postern trust --proxy=postern.localhost:3080 --ca-pin=sha256:…\n  postern trust --remove --proxy=postern.localhost:3080 --ca-pin=sha256:…')
    .action(async (opts: TrustFlags) => {
      const ca = await clusterCa(opts, new ProfileStore());
      const nickname = trustNickname(ca.cluster_name);
      if (process.platform !== 'linux' && !opts.nssDb) return void process.stdout.write(manualSteps(ca, opts.remove === true, new ProfileStore()));
      const databases = opts.nssDb ? [opts.nssDb] : browserNssDatabases();
      if (opts.remove) {
        const from: string[] = [];
        for (const db of databases) if (await removeFromNssDatabase(db, nickname)) from.push(db);
        process.stdout.write(from.length ? `Removed the host CA of cluster ${ca.cluster_name} from:\n${from.map((d) => `  ${d}\n`).join('')}Restart the browser for it to notice.\n` : `The host CA of cluster ${ca.cluster_name} was not in ${databases.join(', ')}; nothing to remove.\n`);
        return;
      }
      for (const db of databases) await addToNssDatabase(db, nickname, ca.host_ca_pem);
      process.stdout.write(
        `Trusted the host CA of cluster ${ca.cluster_name} (pin ${ca.host_ca_pin}) in:\n${databases.map((d) => `  ${d}\n`).join('')}` +
          'Restart the browser to use it (Firefox profiles created later are not included: run this again).\n' +
          'Undo with: postern trust --remove' +
          (opts.proxy ? ` --proxy=${opts.proxy}` : '') +
          '\n',
      );
    });
}

/** The cluster's CAs, fetched from the proxy over a connection checked the way the flags (or the login) say. */
async function clusterCa(opts: TrustFlags, store: ProfileStore): Promise<ClusterCa> {
  const proxy = opts.proxy ?? (store.currentName() ? store.resolve().proxy : undefined);
  if (!proxy) {
    throw new PosternError('USAGE', 'which cluster? Pass --proxy=HOST:PORT with --ca-pin=PIN (the host CA pin that `postern start` and `postern ctl status` print), or log in first');
  }
  const endpoint = await establishTrust(proxy, { ...(opts.caPin ? { caPin: opts.caPin } : {}), ...(opts.caFile ? { caFile: opts.caFile } : {}) }, store);
  if (!endpoint.trustedPem) {
    throw new PosternError('USAGE', `no way to check ${proxy}: pass --ca-pin=PIN (the host CA pin that \`postern start\` and \`postern ctl status\` print) or --ca-file, or log in to it first`);
  }
  return callApi<ClusterCa>(endpoint, 'GET', '/webapi/cluster/ca');
}

/** What to run on macOS or Windows, with the CA saved where the commands can read it. */
function manualSteps(ca: ClusterCa, remove: boolean, store: ProfileStore): string {
  const dir = join(store.home, 'trust');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${ca.cluster_name}-host-ca.crt`);
  writeFileSync(file, ca.host_ca_pem);
  // The CA's own common name, which both systems' tools find it by.
  const commonName = `${ca.cluster_name} host CA`;
  if (process.platform === 'darwin') {
    return remove
      ? `Run:\n  security delete-certificate -c "${commonName}" ~/Library/Keychains/login.keychain-db\n`
      : `Saved the CA to ${file}. Trust it for your user (Safari, Chrome; Firefox: set security.enterprise_roots.enabled) with:\n  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db "${file}"\n`;
  }
  if (process.platform === 'win32') {
    return remove ? `Run:\n  certutil -user -delstore Root "${commonName}"\n` : `Saved the CA to ${file}. Trust it for your user (Edge, Chrome) with:\n  certutil -user -addstore Root "${file}"\n`;
  }
  return `Saved the CA to ${file}. Add it to your system's or browser's trusted CAs (on Linux with NSS, run with --nss-db DIR).\n`;
}

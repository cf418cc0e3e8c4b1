import type { Command } from 'commander';
import { appCertificate } from '../client/app-certificates.js';
import { callApi } from '../client/api-client.js';
import { startLocalProxy } from '../client/local-proxy.js';
import { profileEndpoint } from '../client/login.js';
import { ProfileStore } from '../client/profile-store.js';
import { formatHostPort } from '../net/addr.js';
import type { AppList } from '../wire/api.js';
import { listenAddress, listenOptions, serveUntilStopped, type ListenOptions } from './local-listen.js';
import { warnAboutPermissions } from './login.js';
import { formatOption, labelText, print, table, type Format } from './output.js';


function session(proxy?: string) {
  const store = new ProfileStore();
  warnAboutPermissions(store);
  const profile = store.resolve(proxy);
  return { profile, endpoint: profileEndpoint(store, proxy) };
}

export function registerApps(program: Command): void {
  const apps = program.command('apps').summary('list web and TCP apps, and get certificates for them').description('The apps you may reach through the proxy (with your profile from `postern login`).');

  apps
    .command('ls')
    .description('List the apps you may open: online now, and allowed by your roles.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .addOption(formatOption())
    .action(async (opts: { proxy?: string; format: Format }) => {
      const { endpoint } = session(opts.proxy);
      const { apps: list } = await callApi<AppList>(endpoint, 'GET', '/webapi/apps');
      print(opts.format, list, () =>
        table(
          ['NAME', 'TYPE', 'ADDRESS', 'LABELS', 'DESCRIPTION'],
          list.map((a) => [a.name, a.type, a.type === 'http' ? `https://${a.public_addr}` : `postern proxy app ${a.name}`, labelText(a.labels), a.description]),
          '(no apps available to you: ask an administrator for a role that allows some)',
        ),
      );
    });

  apps
    .command('login')
    .argument('<app>', 'the app name (see `postern apps ls`)')
    .description('Get a certificate for one app, for tools like curl: it is saved in your profile and printed with the command to use it.')
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .addOption(formatOption())
    .action(async (app: string, opts: { proxy?: string; format: Format }) => {
      const { profile, endpoint } = session(opts.proxy);
      const cert = await appCertificate(profile, endpoint, app);
      const ca = `${profile.dir}/trusted-ca.pem`;
      const { certPem: _c, keyPem: _k, ...shown } = cert;
      print(opts.format, { ...shown, ca_file: ca }, () =>
        `Certificate for app ${app} saved (valid until ${cert.expires}).\n\n` +
        (cert.app.type === 'http'
          ? `Use it with curl:\n\n  curl --cert ${cert.certFile} \\\n       --key ${cert.keyFile} \\\n       --cacert ${ca} \\\n       https://${cert.app.public_addr}/\n\nor without certificates, through a local proxy: postern proxy app ${app}\n`
          : `${app} is a TCP app: reach it through a local proxy: postern proxy app ${app} --port PORT\n`),
      );
    });

  const proxy = program.command('proxy').summary('local proxies for programs that cannot speak Postern themselves');
  listenOptions(
    proxy
      .command('app')
      .argument('<app>', 'the app name (see `postern apps ls`)')
      .description('Listen on localhost and carry each connection to the app: plain HTTP (curl, a browser) for web apps, any TCP client for TCP apps. Runs until Ctrl-C.'),
  )
    .option('--proxy <host:port>', 'use the profile for this proxy (default: the current one)')
    .action(async (app: string, opts: ListenOptions & { proxy?: string }) => {
      const { profile, endpoint } = session(opts.proxy);
      const cert = await appCertificate(profile, endpoint, app, { reuse: true });
      const listen = listenAddress(opts);
      const servername = cert.app.public_addr.replace(/:\d+$/, '');
      // Web apps: the app's own certificate (routed to it); TCP apps: postern-tcp with the login certificate.
      const local = await startLocalProxy({
        listen,
        endpoint: cert.app.type === 'http' ? { ...endpoint, certPem: cert.certPem, keyPem: cert.keyPem } : endpoint,
        servername,
        carries: cert.app.type,
        onError: (err) => process.stderr.write(`postern: a connection to ${app} failed: ${err.message}\n`),
      });
      const where = formatHostPort(local.addr);
      process.stdout.write(
        cert.app.type === 'http'
          ? `Proxying http://${where} → ${app} (https://${cert.app.public_addr}).\nTry: curl http://${where}/\nCtrl-C stops it.\n`
          : `Proxying ${where} → TCP app ${app}.\nPoint your client at ${where}. Ctrl-C stops it.\n`,
      );
      serveUntilStopped(local);
    });
}

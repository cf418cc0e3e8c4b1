import { chromium, type Browser } from 'playwright-core';
import { haveProgram } from '../helpers/programs.js';

/** Debian's Chromium (apt-get install chromium); playwright-core drives it, it downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run: skips them (with a message) on a developer machine without
 * Chromium, and throws under CI=true, where .ci/run must have installed it.
 */
export function haveChromium(): boolean {
  return haveProgram(CHROMIUM, ['--version']);
}

/**
 * The `--ignore-certificate-errors-spki-list` entry for a CA pin (`sha256:` + hex SHA-256 of its
 * SubjectPublicKeyInfo): the same hash in base64, which is how Chromium takes it.
 */
export function spkiFromPin(pin: string): string {
  const hex = pin.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`not a CA pin: ${pin}`);
  return Buffer.from(hex, 'hex').toString('base64');
}

/**
 * Launches headless Chromium. `trustSpki` lists base64 SHA-256 hashes of public keys whose
 * certificates Chromium accepts although no system CA issued them (spkiFromPin turns a cluster's
 * host CA pin into one), so a test trusts exactly one cluster instead of ignoring every TLS error.
 * `env` is the browser's environment on top of this process's.
 */
export function launchChromium(opts: { trustSpki?: string[]; env?: Record<string, string> } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // HOME chooses the NSS database (~/.pki/nssdb) Chromium reads trusted CAs from.
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.trustSpki?.length ? [`--ignore-certificate-errors-spki-list=${opts.trustSpki.join(',')}`] : []),
    ],
  });
}

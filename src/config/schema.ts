import { z } from 'zod';
import { parseHostPort, type HostPort } from '../net/addr.js';
import { formatDuration, parseDuration } from './duration.js';

/**
 * The schema of postern.yaml (DESIGN.md §8). Every key has a default or a flag, so an empty file
 * (or none) is a working single-node cluster. Objects are strict: a misspelt key is an error that
 * names the key, never a silently ignored setting.
 */

const hostPort = (example: string, defaultPort?: number) =>
  z.string().transform((s, ctx): HostPort => {
    const parsed = parseHostPort(s, defaultPort);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: `${parsed} (example: ${example})` });
      return z.NEVER;
    }
    return parsed;
  });

const duration = (min: number, max: number, example: string) =>
  z.string().transform((s, ctx): number => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write a number with a unit (ms, s, m, h, d), like ${example}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is out of range; use between ${formatDuration(min)} and ${formatDuration(max)}` });
      return z.NEVER;
    }
    return ms;
  });

export const clusterName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'use lower-case letters, digits, dots and dashes (a DNS-like name, 1-63 characters)');

const certificatePair = z.strictObject({
  cert_file: z.string().min(1, 'give the path of a PEM certificate (chain) file'),
  key_file: z.string().min(1, 'give the path of the PEM private key file'),
});

const proxySchema = z.strictObject({
  listen_addr: hostPort('0.0.0.0:3080').prefault('0.0.0.0:3080'),
  public_addr: hostPort('postern.example.com:443', 443).prefault('postern.localhost:3080'),
  certificates: z.array(certificatePair).default([]),
  use_proxy_protocol: z.boolean().default(false),
  handshake_timeout: duration(100, 10 * 60_000, '10s').prefault('10s'),
  max_connections: z.number().int().min(1).default(10_000),
});

const authSchema = z.strictObject({
  second_factor: z.enum(['otp', 'off'], { error: 'use otp (a TOTP app, the default) or off (password only)' }).default('otp'),
  cert_ttl: duration(60_000, 7 * 86_400_000, '12h').prefault('12h'),
});

export const configSchema = z.strictObject({
  version: z.literal('v1', { error: 'the only config version is v1; write `version: v1`' }).default('v1'),
  cluster_name: clusterName.optional(),
  data_dir: z.string().min(1).default('./postern-data'),
  diag_addr: hostPort('127.0.0.1:3000').optional(),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      format: z.enum(['auto', 'json', 'text']).default('auto'),
    })
    .prefault({}),
  auth: authSchema.prefault({}),
  storage: z.strictObject({ type: z.literal('sqlite', { error: 'only `sqlite` is available in this version' }).default('sqlite') }).prefault({}),
  proxy: proxySchema.prefault({}),
});

/** The checked config with every default filled in; `cluster_name` defaults to the public host. */
export type PosternConfig = Omit<z.output<typeof configSchema>, 'cluster_name'> & { cluster_name: string };
export type RawConfig = z.input<typeof configSchema>;

import { z } from 'zod';
import { parseHostPort, PUBLIC_ADDR, type HostPort } from '../net/addr.js';

/**
 * Field schemas shared by the resource kinds, the agent's config and the proxy's: names that
 * become DNS labels, label maps, target addresses. Messages say what to write.
 */

export const RESOURCE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const resourceName = z.string().regex(RESOURCE_NAME, 'use lower-case letters, digits and dashes (it becomes a DNS label: <name>.<proxy host>)');

/** Labels as people write them in a config or flag: checked keys, defaulting to none. */
export const labelMap = z.record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,62}$/, 'label keys are letters, digits and . _ / -'), z.string().max(256)).default({});

export const description = z.string().max(1024, 'a description is at most 1024 characters').optional();

/** true or false, in YAML or as the text of a flag field (`--app …,insecure_skip_verify=true`). */
export const flagBoolean = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean({ error: 'write true or false' }));

export const publicAddr = z.string().regex(PUBLIC_ADDR, 'write a public address as host or host:port, like grafana.example.com');

export const hostPort = (example: string, defaultPort?: number) =>
  z.string().transform((s, ctx): HostPort => {
    const parsed = parseHostPort(s, defaultPort);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: `${parsed} (example: ${example})` });
      return z.NEVER;
    }
    return parsed;
  });

export const targetUri = (schemes: string[]) =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return schemes.includes(u.protocol) && u.hostname !== '';
    } catch {
      return false;
    }
  }, `give a URI with host and port, like ${schemes[0]}//localhost:3000 (schemes: ${schemes.map((x) => x.slice(0, -1)).join(', ')})`);

import type { IncomingHttpHeaders } from 'node:http';
import { PosternError } from '../../errors/postern-error.js';
import type { WebRequest } from './http.js';

/** API and form bodies are small; anything larger is refused before it is buffered. */
const DEFAULT_LIMIT = 64 * 1024;

export async function readBody(req: WebRequest, limit = DEFAULT_LIMIT): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const tooLarge = (limit: number) => new PosternError('TOO_LARGE', `the request body is larger than ${limit / 1024} KiB, the most this endpoint accepts`);

/**
 * A JSON body. The content type must say JSON: browsers cannot send that cross-site without a
 * CORS preflight (which Postern never grants), so cookie-authenticated JSON endpoints are not
 * reachable by cross-site forms.
 */
export async function readJson(req: WebRequest): Promise<Record<string, unknown>> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new PosternError('BAD_REQUEST', 'send the body as JSON with Content-Type: application/json');
  }
  const body = await readBody(req);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PosternError('BAD_REQUEST', 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PosternError('BAD_REQUEST', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** An HTML form post (application/x-www-form-urlencoded). */
export async function readForm(req: WebRequest): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req)).toString('utf8'));
}

/** A named cookie from request headers, or undefined; a value that cannot be decoded is a BAD_REQUEST. */
export function cookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        throw new PosternError('BAD_REQUEST', `the ${name} cookie is malformed (a bad % escape); clear this site's cookies and sign in again`);
      }
    }
  }
  return undefined;
}

/** A string field of a JSON body; missing or wrong type is a BAD_REQUEST naming the field. */
export function field(body: Record<string, unknown>, name: string): string;
export function field(body: Record<string, unknown>, name: string, optional: true): string | undefined;
export function field(body: Record<string, unknown>, name: string, optional?: true): string | undefined {
  const value = body[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string') throw new PosternError('BAD_REQUEST', `the field "${name}" must be a string`);
  return value;
}

/**
 * Form posts must come from our own pages: a browser sends Origin with a POST, and it must be
 * this host (a cross-site form cannot pass; clients that send no Origin are not browsers).
 */
export function requireSameOrigin(ctx: { req: WebRequest }): void {
  const origin = ctx.req.headers.origin;
  const host = ctx.req.headers.host ?? (ctx.req.headers as Record<string, string | undefined>)[':authority'];
  if (origin !== undefined && origin !== `https://${host}`) throw new PosternError('ACCESS_DENIED', 'this form can only be sent from the page that shows it');
}

import type { Http2ServerResponse } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { PosternError } from '../../errors/postern-error.js';

export type WebResponse = ServerResponse | Http2ServerResponse;

export function sendJson(res: WebResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Sends the wire form of an error: `{"error": {"code", "message", "request_id"}}`. */
export function sendError(res: WebResponse, err: PosternError, requestId: string): void {
  sendJson(res, err.status, err.toJSON(requestId));
}

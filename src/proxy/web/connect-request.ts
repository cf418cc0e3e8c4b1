import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { PosternError } from '../../errors/postern-error.js';
import type { RoutedConnection } from '../router.js';
import { sendJson } from './respond.js';

/**
 * An HTTP CONNECT request, the same for HTTP/1.1 (a raw socket after the request head) and
 * HTTP/2 (a stream): what was asked for, on which connection, and the two ways to answer it.
 */
export interface ConnectRequest {
  /** host:port, as the client wrote it. */
  authority: string;
  headers: IncomingHttpHeaders;
  conn: RoutedConnection;
  requestId: string;
  /** Answers 200 and returns the byte stream to relay. */
  accept(): Duplex;
  /** Answers with an error (the wire form) and closes. */
  refuse(err: PosternError, headers?: Record<string, string>): void;
  /** Answers 302 to `location` and closes (a browser that should sign in first). */
  redirect(location: string): void;
}

export function http1Connect(req: IncomingMessage, socket: Duplex, head: Buffer, conn: RoutedConnection): ConnectRequest {
  return {
    authority: req.url ?? '',
    headers: req.headers,
    conn,
    requestId: randomUUID(),
    accept() {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) socket.unshift(head);
      return socket;
    },
    refuse(err, headers = {}) {
      const body = JSON.stringify(err.toJSON(this.requestId));
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(`HTTP/1.1 ${err.status} ${reasonPhrase(err.status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
    },
    redirect(location) {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location.replace(/[\r\n]/g, '')}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    },
  };
}

export function http2Connect(req: Http2ServerRequest, res: Http2ServerResponse, conn: RoutedConnection): ConnectRequest {
  return {
    authority: req.headers[':authority'] ?? '',
    headers: req.headers,
    conn,
    requestId: randomUUID(),
    accept() {
      res.writeHead(200);
      return req.stream;
    },
    refuse(err, headers = {}) {
      sendJson(res, err.status, err.toJSON(this.requestId), headers);
    },
    redirect(location) {
      res.writeHead(302, { location }).end();
    },
  };
}

function reasonPhrase(status: number): string {
  return { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable' }[status] ?? 'Error';
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A request to the web handler, over HTTP/1.1 or HTTP/2. */
export type WebRequest = IncomingMessage | Http2ServerRequest;

/** Its response. */
export type WebResponse = ServerResponse | Http2ServerResponse;

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen.js';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalApiServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the API Lambda's handler over HTTP the way API Gateway (HTTP API, payload 2.0) would
 * call it. Bodies are read up to `maxBodyBytes + 1`, so an oversized body reaches the API (which
 * answers 400) without the server buffering it whole.
 */
export async function startLocalApiServer(opts: { handler: ApiHandler; port: number; maxBodyBytes: number }): Promise<LocalApiServer> {
  const server = createServer((req, res) => {
    serve(req, res, opts).catch(() => {
      if (!res.headersSent) res.writeHead(500, JSON_HEADERS);
      res.end(JSON.stringify({ error: 'internal error', code: 'internal_error' }));
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  const listening = await listenOnLoopback(server, opts.port);
  return { url: listening.url, server, close: listening.close };
}

const JSON_HEADERS = { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' };

/**
 * The request target as a URL, or null when it is none API Gateway would route: not a path
 * (`http://host/x`, the absolute form) or not parseable (`//[`, which reads as a host).
 */
function targetUrl(target: string): URL | null {
  if (!target.startsWith('/')) return null;
  try {
    return new URL(target, 'http://localhost');
  } catch {
    return null;
  }
}

async function serve(req: IncomingMessage, res: ServerResponse, opts: { handler: ApiHandler; maxBodyBytes: number }) {
  const url = targetUrl(req.url ?? '/');
  if (!url) {
    req.resume();
    res.writeHead(400, JSON_HEADERS);
    res.end(JSON.stringify({ error: 'the request target is not a URL path', code: 'invalid_request' }));
    return;
  }
  // The path as sent, like API Gateway's rawPath: a WHATWG URL would resolve `..` and `%2e%2e`.
  const rawPath = (req.url ?? '/').split('?')[0] || '/';
  const method = (req.method ?? 'GET').toUpperCase();
  const body = await readCapped(req, opts.maxBodyBytes + 1);
  const result = await opts.handler(toEvent(req, method, rawPath, url, body));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(method === 'HEAD' ? undefined : result.body);
}

/**
 * Keeps at most `limit` bytes; the rest of an oversized body is drained and dropped (not
 * buffered), so the connection stays usable for the 400 answer.
 */
async function readCapped(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size >= limit) continue;
    const kept = chunk.subarray(0, limit - size);
    chunks.push(kept);
    size += kept.length;
  }
  return Buffer.concat(chunks);
}

function toEvent(req: IncomingMessage, method: string, rawPath: string, url: URL, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    body: body.length ? body.toString('utf8') : undefined,
    isBase64Encoded: false,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
  };
}

import { createHash, createHmac, randomUUID, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, isIPv4, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenOnLoopback } from './listen.js';

/**
 * The EC2 Instance Connect Endpoint's `openTunnel` WebSocket API on loopback (SPEC §8), as the
 * delivery functions (lambdas/delivery/eic-tunnel.ts) and `aws ec2-instance-connect open-tunnel`
 * use it. Before the upgrade it checks the SigV4 presigned query as AWS does: the signature,
 * recomputed with the local credentials; the credential scope (date, region, service
 * `ec2-instance-connect`); the expiry; the tunnel parameters (a known endpoint, remote port 22, an
 * IPv4 private address, `maxTunnelDuration` ≤ 3600). A refusal is an HTTP error answer (403 for
 * anything about the signature, as AWS answers); an accepted tunnel carries bytes both ways
 * between the WebSocket (binary frames) and the SSH server of the instances, for at most
 * `maxTunnelDuration`, and at most `tunnelsPerEndpoint` at once per endpoint (then 429).
 */
export interface EiceEmulatorOptions {
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Endpoint ids this emulator serves. */
  endpointIds: readonly string[];
  /** Where every tunnel leads: the SSH server standing in for port 22 of the instances. */
  sshTarget: { host: string; port: number };
  tunnelsPerEndpoint?: number;
  /** Milliseconds since the epoch; tests move it to expire presigned URLs. */
  now?: () => number;
  /**
   * A fault for tests: the tunnel is cut once this many bytes went from the client to the
   * instance (asked once per tunnel; undefined: never).
   */
  cutAfterBytes?: () => number | undefined;
}

export interface TunnelStats {
  /** Tunnels opened since the start (or the last reset). */
  opened: number;
  /** Tunnels open now. */
  open: number;
  /** The most that were open at once, per endpoint id. */
  maxOpen: Record<string, number>;
  /** Bytes from the client to the instance, per tunnel in the order they closed. */
  bytesUp: number[];
  /** Requests refused, by HTTP status, and why (the last 100). */
  refused: Record<number, number>;
  reasons: string[];
}

export interface EiceEmulator {
  /** `ws://127.0.0.1:<port>`: PLUGIN_EIC_TUNNEL_URL. */
  url: string;
  stats(): TunnelStats;
  resetStats(): void;
  close(): Promise<void>;
}

const SERVICE = 'ec2-instance-connect';
const REMOTE_PORT = '22';
const MAX_TUNNEL_SECONDS = 3_600;
const MAX_EXPIRES_SECONDS = 604_800;
/** SigV4 tolerates this much clock skew on a request dated in the future. */
const MAX_SKEW_MS = 15 * 60_000;

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startEiceEmulator(opts: EiceEmulatorOptions): Promise<EiceEmulator> {
  const now = opts.now ?? Date.now;
  const cap = opts.tunnelsPerEndpoint ?? 20;
  const endpoints = new Set(opts.endpointIds);
  const openPerEndpoint = new Map<string, number>();
  const live = new Set<{ ws: WebSocket; tcp: Socket }>();
  let stats: TunnelStats = emptyStats();

  const signer = new SignatureV4({ service: SERVICE, region: opts.region, credentials: opts.credentials, sha256: Sha256 });

  /** Everything AWS checks before it opens a tunnel; throws Refused. */
  async function verify(req: IncomingMessage): Promise<{ endpointId: string; maxTunnelSeconds: number }> {
    const url = new URL(req.url ?? '/', 'ws://placeholder');
    if (req.method !== 'GET' || url.pathname !== '/openTunnel') throw new Refused(404, 'Not Found');
    const q = url.searchParams;
    const one = (name: string) => {
      const values = q.getAll(name);
      if (values.length !== 1) throw new Refused(403, `${name} must be given once`);
      return values[0]!;
    };
    if (one('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw new Refused(403, 'unsupported signing algorithm');
    const amzDate = one('X-Amz-Date');
    const signedAt = parseAmzDate(amzDate);
    if (signedAt === undefined) throw new Refused(403, 'X-Amz-Date is not a valid date');
    const [accessKeyId, day, region, service, terminator, ...rest] = one('X-Amz-Credential').split('/');
    if (accessKeyId !== opts.credentials.accessKeyId) throw new Refused(403, 'The security token included in the request is invalid');
    if (rest.length > 0 || day !== amzDate.slice(0, 8) || terminator !== 'aws4_request') throw new Refused(403, 'the credential scope is malformed');
    if (region !== opts.region) throw new Refused(403, `Credential should be scoped to a valid region, not '${region}'`);
    if (service !== SERVICE) throw new Refused(403, `Credential should be scoped to correct service: '${SERVICE}'`);
    const expires = Number(one('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_SECONDS) throw new Refused(403, 'X-Amz-Expires is not valid');
    if (now() > signedAt + expires * 1000) throw new Refused(403, 'Request has expired');
    if (signedAt > now() + MAX_SKEW_MS) throw new Refused(403, 'Signature not yet current');
    const signedHeaders = one('X-Amz-SignedHeaders').split(';');
    if (!signedHeaders.includes('host')) throw new Refused(403, 'the host header must be signed');

    const query: Record<string, string> = {};
    for (const [key, value] of q) if (key !== 'X-Amz-Signature') query[key] = value;
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) headers[name] = String(req.headers[name] ?? '');
    const expected = await signer.presign(
      { method: 'GET', protocol: 'ws:', hostname: '127.0.0.1', path: url.pathname, query, headers },
      { signingDate: new Date(signedAt), expiresIn: expires, signableHeaders: new Set(signedHeaders) },
    );
    const given = Buffer.from(one('X-Amz-Signature'));
    const wanted = Buffer.from(String(expected.query?.['X-Amz-Signature'] ?? ''));
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      throw new Refused(403, 'The request signature we calculated does not match the signature you provided.');
    }

    const endpointId = one('instanceConnectEndpointId');
    if (!endpoints.has(endpointId)) throw new Refused(404, `The instance connect endpoint '${endpointId}' does not exist`);
    if (one('remotePort') !== REMOTE_PORT) throw new Refused(403, 'the tunnel may only reach port 22');
    if (!isIPv4(one('privateIpAddress'))) throw new Refused(400, 'privateIpAddress must be an IPv4 address');
    const maxTunnelSeconds = q.has('maxTunnelDuration') ? Number(one('maxTunnelDuration')) : MAX_TUNNEL_SECONDS;
    if (!Number.isInteger(maxTunnelSeconds) || maxTunnelSeconds < 1 || maxTunnelSeconds > MAX_TUNNEL_SECONDS) {
      throw new Refused(400, 'maxTunnelDuration must be from 1 to 3600 seconds');
    }
    if ((openPerEndpoint.get(endpointId) ?? 0) >= cap) throw new Refused(429, 'the endpoint has the most tunnels it allows open');
    return { endpointId, maxTunnelSeconds };
  }

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: 'openTunnel is a WebSocket API' }));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    verify(req).then(
      (tunnel) => {
        // Counted before the upgrade completes, so concurrent requests see each other.
        openPerEndpoint.set(tunnel.endpointId, (openPerEndpoint.get(tunnel.endpointId) ?? 0) + 1);
        wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, tunnel));
      },
      (err: unknown) => {
        const refused = err instanceof Refused ? err : new Refused(500, 'InternalError');
        stats.refused[refused.status] = (stats.refused[refused.status] ?? 0) + 1;
        stats.reasons = [...stats.reasons.slice(-99), refused.message];
        const body = JSON.stringify({ message: refused.message });
        socket.end(
          `HTTP/1.1 ${refused.status} ${STATUS_TEXT[refused.status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(body)}\r\nx-amzn-requestid: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
        );
      },
    );
  });

  function bridge(ws: WebSocket, { endpointId, maxTunnelSeconds }: { endpointId: string; maxTunnelSeconds: number }): void {
    const open = openPerEndpoint.get(endpointId) ?? 0;
    stats.opened++;
    stats.open++;
    stats.maxOpen[endpointId] = Math.max(stats.maxOpen[endpointId] ?? 0, open);
    const tcp = connect(opts.sshTarget.port, opts.sshTarget.host);
    const entry = { ws, tcp };
    live.add(entry);
    const cutAt = opts.cutAfterBytes?.();
    let up = 0;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(deadline);
      live.delete(entry);
      stats.open--;
      stats.bytesUp.push(up);
      openPerEndpoint.set(endpointId, (openPerEndpoint.get(endpointId) ?? 1) - 1);
      tcp.destroy();
      ws.terminate();
    };
    const deadline = setTimeout(close, maxTunnelSeconds * 1000);
    tcp.on('error', close);
    tcp.on('close', close);
    ws.on('error', close);
    ws.on('close', close);
    tcp.on('data', (chunk: Buffer) => ws.send(chunk, { binary: true }));
    ws.on('message', (data: Buffer) => {
      if (cutAt !== undefined && up + data.length >= cutAt) {
        tcp.write(data.subarray(0, Math.max(0, cutAt - up)));
        up = cutAt;
        return close();
      }
      up += data.length;
      tcp.write(data);
    });
  }

  const listening = await listenOnLoopback(server, 0);
  return {
    url: `ws://127.0.0.1:${listening.port}`,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = { ...emptyStats(), open: stats.open };
    },
    async close() {
      for (const { ws, tcp } of live) {
        tcp.destroy();
        ws.terminate();
      }
      wss.close();
      await listening.close();
    },
  };
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): Buffer =>
  typeof data === 'string' ? Buffer.from(data) : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape the SigV4 signer hashes with. */
class Sha256 {
  private hash!: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.reset();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function emptyStats(): TunnelStats {
  return { opened: 0, open: 0, maxOpen: {}, bytesUp: [], refused: {}, reasons: [] };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error' };

/** `20240501T120000Z` → epoch ms. */
function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(ms) ? undefined : ms;
}

import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { EC2Client, Ec2InstanceConnectEndpoint } from '@aws-sdk/client-ec2';
import { DeliveryFailed, WorkspaceBusy, WorkspaceUnreachable } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { awsThrottled, isTransientAwsError } from '../shared/aws-faults.js';

/**
 * EC2 Instance Connect Endpoint (EICE) tunnels, the way `aws ec2-instance-connect open-tunnel`
 * opens them: the endpoint of the instance's VPC (`DescribeInstanceConnectEndpoints`, cached),
 * a WebSocket to `wss://<endpoint DNS name>/openTunnel?instanceConnectEndpointId=…&remotePort=22&
 * privateIpAddress=…&maxTunnelDuration=…` presigned with SigV4 (service `ec2-instance-connect`,
 * valid 60 s) with the function's own credentials, and its bytes as a Duplex that ssh2 takes as
 * its socket. The functions need no network path to the instances, only to the endpoint's DNS name.
 *
 * - The endpoint allows 20 tunnels at once: `TunnelSlots` caps them per endpoint across every step
 *   of every Lambda container (PostgreSQL, lambdas/store/tunnel-slots.ts), waiting for a free slot
 *   with backoff and jitter, then `workspace_busy`, which the workflow retries.
 * - Bounded: the handshake (open), silence from the endpoint (idle) and the whole tunnel (total,
 *   also sent as `maxTunnelDuration`, so the endpoint closes it too).
 * - `ws` and the signer are loaded on first use, so the SSM path and cold starts never pay for them.
 */

export interface InstanceConnectEndpoint {
  id: string;
  dnsName: string;
  vpcId: string;
  subnetId?: string;
}

/** The SSH port the tunnel reaches; the OpenTunnel grant allows no other (infra/constructs/eic-endpoint.ts). */
export const TUNNEL_REMOTE_PORT = 22;
/** What the endpoint accepts as `maxTunnelDuration`, in seconds. */
const MAX_TUNNEL_SECONDS = 3_600;
/** How long a presigned OpenTunnel URL is valid: it is used at once (as the AWS CLI does). */
const PRESIGN_EXPIRY_SECONDS = 60;
const USABLE_STATES = ['create-complete', 'update-in-progress', 'update-failed', 'update-complete'];

// ---------------------------------------------------------------------------------------------
// Finding the endpoint
// ---------------------------------------------------------------------------------------------

export interface EndpointDirectoryOptions {
  /** Only these endpoints are used (those the delivery role may open tunnels on); empty: any. */
  endpointIds?: readonly string[];
  ttlMs?: number;
  maxVpcs?: number;
  now?: () => number;
}

const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
const DEFAULT_CACHE_VPCS = 256;
const MAX_PAGES = 10;

/**
 * The usable endpoints of each VPC, looked up once per VPC and kept for a while (an endpoint's
 * DNS name never changes, and a new one is rare), at most `maxVpcs` of them, oldest dropped first.
 * An instance uses its subnet's endpoint when there is one, else any of its VPC's.
 */
export class EndpointDirectory {
  private readonly byVpc = new Map<string, { at: number; endpoints: InstanceConnectEndpoint[] }>();
  private readonly ttlMs: number;
  private readonly maxVpcs: number;
  private readonly now: () => number;

  constructor(
    private readonly ec2: EC2Client,
    private readonly options: EndpointDirectoryOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_CACHE_TTL_MS;
    this.maxVpcs = options.maxVpcs ?? DEFAULT_CACHE_VPCS;
    this.now = options.now ?? Date.now;
  }

  async find(vpcId: string, subnetId: string | undefined, signal?: AbortSignal): Promise<InstanceConnectEndpoint | undefined> {
    let entry = this.byVpc.get(vpcId);
    if (!entry || this.now() - entry.at >= this.ttlMs) {
      entry = { at: this.now(), endpoints: await this.describe(vpcId, signal) };
      this.byVpc.delete(vpcId);
      this.byVpc.set(vpcId, entry);
      while (this.byVpc.size > this.maxVpcs) this.byVpc.delete(this.byVpc.keys().next().value as string);
    }
    return entry.endpoints.find((e) => e.subnetId === subnetId) ?? entry.endpoints[0];
  }

  /** Forgets a VPC's endpoints, e.g. after one refused a tunnel or no longer answered. */
  forget(vpcId: string): void {
    this.byVpc.delete(vpcId);
  }

  private async describe(vpcId: string, signal?: AbortSignal): Promise<InstanceConnectEndpoint[]> {
    const { DescribeInstanceConnectEndpointsCommand } = await import('@aws-sdk/client-ec2');
    const ids = this.options.endpointIds ?? [];
    const found: InstanceConnectEndpoint[] = [];
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const out = await this.ec2.send(
          new DescribeInstanceConnectEndpointsCommand({
            Filters: [
              { Name: 'state', Values: USABLE_STATES },
              { Name: 'vpc-id', Values: [vpcId] },
            ],
            ...(ids.length > 0 && { InstanceConnectEndpointIds: [...ids] }),
            ...(nextToken && { NextToken: nextToken }),
            ...(ids.length === 0 && { MaxResults: 50 }),
          }),
          { abortSignal: signal },
        );
        for (const e of out.InstanceConnectEndpoints ?? []) {
          const usable = usableEndpoint(e, vpcId);
          if (usable) found.push(usable);
        }
        nextToken = out.NextToken;
        if (!nextToken) break;
      }
    } catch (err) {
      const context = { vpcId, transport: 'eic-endpoint' };
      if (isTransientAwsError(err)) throw awsThrottled(err, 'the EC2 Instance Connect Endpoint lookup', context);
      throw new DeliveryFailed(
        'could not look up the EC2 Instance Connect Endpoints of the workspace VPC',
        { ...context, awsError: (err as Error).name },
        { cause: err },
      );
    }
    return found;
  }
}

function usableEndpoint(e: Ec2InstanceConnectEndpoint, vpcId: string): InstanceConnectEndpoint | undefined {
  if (!e.InstanceConnectEndpointId || !e.DnsName || e.VpcId !== vpcId || !USABLE_STATES.includes(e.State ?? '')) return undefined;
  return { id: e.InstanceConnectEndpointId, dnsName: e.DnsName, vpcId, ...(e.SubnetId && { subnetId: e.SubnetId }) };
}

const directories = new WeakMap<EC2Client, Map<string, EndpointDirectory>>();

/** One directory per EC2 client and endpoint restriction: the client lives as long as the container. */
export function endpointDirectory(ec2: EC2Client, endpointIds: readonly string[] = []): EndpointDirectory {
  const perClient = directories.get(ec2) ?? new Map<string, EndpointDirectory>();
  directories.set(ec2, perClient);
  const key = [...endpointIds].sort().join(',');
  const directory = perClient.get(key) ?? new EndpointDirectory(ec2, { endpointIds });
  perClient.set(key, directory);
  return directory;
}

// ---------------------------------------------------------------------------------------------
// The per-endpoint cap
// ---------------------------------------------------------------------------------------------

/** A shared count of open tunnels per endpoint: numbered slots below the cap, each leased to one tunnel. */
export interface TunnelSlots {
  /** A free slot's number, now leased to `holder` for `ttlMs`, or undefined when all are taken. */
  take(endpointId: string, holder: string, cap: number, ttlMs: number): Promise<number | undefined>;
  release(endpointId: string, slot: number, holder: string): Promise<void>;
}

/** Slots in this process only: for direct calls and tests; the steps share PostgreSQL's. */
export function memoryTunnelSlots(now: () => number = Date.now): TunnelSlots {
  const held = new Map<string, { holder: string; expiresAt: number }>();
  return {
    async take(endpointId, holder, cap, ttlMs) {
      for (let slot = 0; slot < cap; slot++) {
        const key = `${endpointId}\0${slot}`;
        const current = held.get(key);
        if (current && current.expiresAt > now()) continue;
        held.set(key, { holder, expiresAt: now() + ttlMs });
        return slot;
      }
      return undefined;
    },
    async release(endpointId, slot, holder) {
      const key = `${endpointId}\0${slot}`;
      if (held.get(key)?.holder === holder) held.delete(key);
    },
  };
}

export const processTunnelSlots = memoryTunnelSlots();

export interface SlotWait {
  cap: number;
  leaseMs: number;
  /** Epoch ms after which no further attempt is made. */
  waitUntil: number;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

const SLOT_BASE_DELAY_MS = 100;
const SLOT_MAX_DELAY_MS = 5_000;

/**
 * Takes a slot of the endpoint's cap, waiting for one with exponential backoff and jitter until
 * `waitUntil`; then WorkspaceBusy (`workspace_busy`, retried by the workflow). Resolves to the
 * function that gives the slot back (never throws: an unreleased lease ends by itself).
 */
export async function holdTunnelSlot(slots: TunnelSlots, endpointId: string, wait: SlotWait): Promise<{ release: () => Promise<void>; waitedMs: number }> {
  const { now = Date.now, sleep = sleepFor, random = Math.random } = wait;
  const holder = randomUUID();
  const started = now();
  for (let attempt = 0; ; attempt++) {
    const slot = await slots.take(endpointId, holder, wait.cap, wait.leaseMs);
    if (slot !== undefined) {
      const release = () =>
        slots.release(endpointId, slot, holder).catch((err: unknown) => {
          logger.warn('could not release an EC2 Instance Connect Endpoint tunnel slot; its lease ends by itself', {
            endpointId,
            slot,
            error: (err as Error).name,
          });
        });
      return { release, waitedMs: now() - started };
    }
    const remaining = wait.waitUntil - now();
    if (remaining <= 0 || wait.signal?.aborted) {
      throw new WorkspaceBusy(`all ${wait.cap} tunnels of the EC2 Instance Connect Endpoint are in use; the delivery will be retried`, {
        endpointId,
        cap: wait.cap,
        transport: 'eic-endpoint',
      });
    }
    const ceiling = Math.min(SLOT_MAX_DELAY_MS, SLOT_BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
    await sleep(Math.min(remaining, ceiling * (0.5 + random() / 2)), wait.signal);
  }
}

/** Waits `ms`, or less if the step is aborted: the loop then sees the signal and gives up. */
const sleepFor = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

// ---------------------------------------------------------------------------------------------
// Presigning and opening the tunnel
// ---------------------------------------------------------------------------------------------

/** What signs the OpenTunnel request: the EC2 client's own region, credentials and hash. */
export interface TunnelSigning {
  region: string;
  credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  sha256: ConstructorParameters<typeof import('@smithy/signature-v4').SignatureV4>[0]['sha256'];
}

export async function signingFrom(ec2: EC2Client): Promise<TunnelSigning> {
  return { region: await ec2.config.region(), credentials: () => ec2.config.credentials(), sha256: ec2.config.sha256 };
}

export interface TunnelRequest {
  endpoint: InstanceConnectEndpoint;
  privateIpAddress: string;
  maxTunnelSeconds: number;
  /** `ws://host:port` or `wss://host` in place of `wss://<endpoint DNS name>` (PLUGIN_EIC_TUNNEL_URL: an emulator, a proxy). */
  tunnelUrl?: string;
  signingDate?: Date;
}

/** The presigned `openTunnel` URL, as the AWS CLI's open-tunnel builds it. */
export async function presignTunnelUrl(signing: TunnelSigning, request: TunnelRequest): Promise<string> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const base = new URL(request.tunnelUrl ?? `wss://${request.endpoint.dnsName}`);
  const signer = new SignatureV4({ service: 'ec2-instance-connect', region: signing.region, credentials: signing.credentials, sha256: signing.sha256 });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: base.protocol,
      hostname: base.hostname,
      ...(base.port && { port: Number(base.port) }),
      path: '/openTunnel',
      query: {
        instanceConnectEndpointId: request.endpoint.id,
        remotePort: String(TUNNEL_REMOTE_PORT),
        privateIpAddress: request.privateIpAddress,
        maxTunnelDuration: String(clampSeconds(request.maxTunnelSeconds)),
      },
      headers: { host: base.host },
    },
    { expiresIn: PRESIGN_EXPIRY_SECONDS, ...(request.signingDate && { signingDate: request.signingDate }) },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base.protocol}//${base.host}/openTunnel?${query}`;
}

export function clampSeconds(seconds: number): number {
  return Math.max(1, Math.min(MAX_TUNNEL_SECONDS, Math.ceil(seconds)));
}

export interface TunnelTimeouts {
  /** The WebSocket handshake, TLS and DNS included. */
  openMs: number;
  /** Nothing received from the endpoint for this long (SSH keepalives answer every 15 s). */
  idleMs: number;
  /** The whole tunnel, however busy. */
  totalMs: number;
}

/**
 * Opens the WebSocket and hands back its bytes as a Duplex. A refusal of the handshake is a
 * documented error: 401/403 (signature, expiry, or the role may not open this tunnel) and other
 * 4xx are `delivery_failed`; 429 and 5xx are AWS trouble that passes (`workspace_unreachable`
 * after the workflow's retries); no answer at all is `workspace_unreachable`.
 */
export async function openTunnel(url: string, timeouts: TunnelTimeouts, context: Record<string, unknown>, signal?: AbortSignal): Promise<Duplex> {
  const { WebSocket, createWebSocketStream } = await import('ws');
  const ws = new WebSocket(url, { handshakeTimeout: timeouts.openMs, perMessageDeflate: false, followRedirects: false });
  ws.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        ws.terminate();
        reject(error);
      } else resolve();
    };
    const timer = setTimeout(() => settle(new WorkspaceUnreachable('timed out opening the EC2 Instance Connect Endpoint tunnel', context)), timeouts.openMs);
    const onAbort = () => settle(new DeliveryFailed('the delivery command was aborted', context, { cause: signal?.reason }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('open', () => settle());
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      settle(refusal(res.statusCode ?? 0, context));
    });
    ws.once('error', (err: Error & { code?: string }) => {
      const timedOut = /handshake has timed out/i.test(err.message);
      settle(
        new WorkspaceUnreachable(
          timedOut ? 'timed out opening the EC2 Instance Connect Endpoint tunnel' : 'could not reach the EC2 Instance Connect Endpoint',
          { ...context, ...(err.code && { errno: err.code }) },
          { cause: err },
        ),
      );
    });
    ws.once('close', () => settle(new WorkspaceUnreachable('the EC2 Instance Connect Endpoint closed the tunnel before it opened', context)));
  });

  const stream = createWebSocketStream(ws);
  // The endpoint closing the tunnel ends the stream; closing it too tells ssh2 the connection is gone, as a TCP socket would.
  stream.once('end', () => stream.destroy());
  let idle = setTimeout(onIdle, timeouts.idleMs);
  function onIdle() {
    stream.destroy(new Error('the EC2 Instance Connect Endpoint tunnel was idle too long'));
  }
  ws.on('message', () => {
    clearTimeout(idle);
    idle = setTimeout(onIdle, timeouts.idleMs);
  });
  const total = setTimeout(() => stream.destroy(new Error('the EC2 Instance Connect Endpoint tunnel reached its maximum duration')), timeouts.totalMs);
  stream.once('close', () => {
    clearTimeout(idle);
    clearTimeout(total);
    ws.terminate();
  });
  return stream;
}

function refusal(status: number, context: Record<string, unknown>): Error {
  const details = { ...context, httpStatus: status };
  if (status === 401 || status === 403) {
    return new DeliveryFailed(
      `the EC2 Instance Connect Endpoint refused to open the tunnel (HTTP ${status}): the signed request was not accepted, or the delivery role may not open tunnels to this instance`,
      details,
    );
  }
  if (status === 429 || status >= 500) {
    const err = Object.assign(new Error(`EC2 Instance Connect Endpoint answered HTTP ${status}`), {
      name: 'TunnelThrottled',
      $metadata: { httpStatusCode: status },
    });
    return awsThrottled(err, 'the EC2 Instance Connect Endpoint tunnel', details);
  }
  return new DeliveryFailed(`the EC2 Instance Connect Endpoint refused to open the tunnel (HTTP ${status})`, details);
}

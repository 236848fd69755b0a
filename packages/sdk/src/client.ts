import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as z from 'zod/mini';
import type * as contract from './contract/responses.js';
import { retryAfterMs } from './retry.js';

/**
 * A typed client for the plugin delivery API (SPEC §4), for scripts, the CLI and agents. Every
 * request has a timeout. Reads are retried on 429/502/503/504 and network errors with
 * exponential backoff and full jitter; installs carry an Idempotency-Key, so they are retried
 * the same way without risking a second operation. Uninstalls are not retried.
 */
export interface ClientOptions {
  baseUrl: string;
  token: string;
  /** Per request. Default 30 s (a `Prefer: wait` request gets its wait on top). */
  timeoutMs?: number;
  /** Attempts for retryable requests. Default 4. */
  attempts?: number;
  fetch?: typeof fetch;
}

/** The API's own shapes: one definition for the service and its clients. */
export type Operation = z.infer<typeof contract.Operation>;
export type StepRecord = z.infer<typeof contract.StepRecord>;
export type RegistryPlugin = z.infer<typeof contract.RegistryEntry>;
/** What an install would change (`dryRun`, SPEC §9). */
export type Plan = z.infer<typeof contract.Plan>;
/** One delivered version of a plugin on a workspace (SPEC §9). */
export type Revision = z.infer<typeof contract.Revision>;
export type RolledBack = z.infer<typeof contract.RolledBack>;
export type Rollout = z.infer<typeof contract.Rollout>;
export type RolloutSummary = z.infer<typeof contract.RolloutSummary>;
export type RolloutAccepted = z.infer<typeof contract.RolloutAccepted>;

/** `POST /orgs/{orgId}/rollouts` (SPEC §10). */
export interface RolloutCreate {
  source: string;
  sha256?: string;
  targets: { workspaceIds: string[] } | { runtime: string } | { all: true };
  maxConcurrency?: number | string;
  maxErrors?: number | string;
  canary?: number;
  failureMode?: 'tolerant' | 'strict';
  restart?: boolean;
  healthCheck?: boolean;
  signature?: string;
  dryRun?: boolean;
}
/** An org's trusted plugin signers and its signature policy (SPEC §11). */
export type OrgTrust = z.infer<typeof contract.OrgTrust>;
/** What `PUT /orgs/{orgId}/plugins/trust` takes: the document without the fingerprints GET adds. */
export interface TrustUpdate {
  requireSignature: boolean;
  signers: Array<{ principal: string; publicKey: string; validAfter?: string; validBefore?: string }>;
  revokedKeys?: string[];
}
/** What a verify found on the host against the records (SPEC §12). */
export type Verification = z.infer<typeof contract.Verification>;
/** What a repair changed (SPEC §12). */
export type Repair = z.infer<typeof contract.Repair>;
export type { RepairMode } from './contract/vocabulary.js';
export type { OperationStatus } from './contract/vocabulary.js';
import type { OperationKind } from './contract/vocabulary.js';

export interface InstalledPlugin {
  name: string;
  version: string | null;
  source: string;
  sha256: string;
  installedAt: string;
  supported_on_runtime: boolean;
}

export interface InstallRequest {
  source: string;
  sha256?: string;
  restart?: boolean;
  uninstallAfter?: string;
  /** `false` skips the health gate after the restart. */
  healthCheck?: boolean;
  /** The plugin's armored SSH signature, checked by the service instead of a root plugin.sig (SPEC §11). */
  signature?: string;
}

/** A plugin's staged tarball, opened: `sha256` is the content hash the bytes must match ('' when none was announced). */
export interface Download {
  name: string;
  source: string;
  sha256: string;
  /** The tarball's size, when the server said. */
  bytes?: number;
  body: Readable;
  /** A signed plugin's armored signature (`X-Plugin-Signature`, SPEC §11), to check against what is unpacked. */
  signature?: string;
  /** `<principal> <fingerprint>` of its signer, when the org trusts the key (`X-Plugin-Signer`). */
  signer?: string;
}

/** The answer to an install or uninstall: accepted (202) or, after a wait, finished. */
/** `GET /operations` filters (the ops contract). */
export interface OperationsFilter {
  status?: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  workspaceId?: string;
  orgId?: string;
  plugin?: string;
  kind?: OperationKind;
  /** ISO-8601: created at or after. */
  since?: string;
  limit?: number;
  cursor?: string;
}

export type Accepted = z.infer<typeof contract.Accepted>;
export type Finished =
  | { status: 'installed'; plugin: string; source: string; sha256?: string; operationId: string }
  | { status: 'uninstalled'; plugin: string; operationId: string };
export type Scheduled = { status: 'scheduled'; plugin: string; uninstallAt: string };

/** An error answer from the API, with its documented `code` and any context it carried. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const BASE_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;
/** A plugin is at most 100 MiB compressed; the presigned URL lives 300 s. */
const DOWNLOAD_TIMEOUT_MS = 300_000;

export class PluginDeliveryClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.fetch = options.fetch ?? fetch;
  }

  /** Starts an install; with `waitSeconds` (≤ 25) the API answers once it finished, if it does in time. */
  install(workspaceId: string, request: InstallRequest, opts: { waitSeconds?: number; idempotencyKey?: string } = {}): Promise<Accepted | Finished> {
    const headers: Record<string, string> = { 'idempotency-key': opts.idempotencyKey ?? randomUUID() };
    if (opts.waitSeconds) headers.prefer = `wait=${opts.waitSeconds}`;
    return this.request('POST', `${workspacePath(workspaceId)}/plugins`, { body: request, headers, retry: true, waitSeconds: opts.waitSeconds });
  }

  /** Plans an install (`dryRun`): what it would change, nothing delivered; with `waitSeconds` the plan itself when it is ready in time. */
  plan(workspaceId: string, request: InstallRequest, opts: { waitSeconds?: number } = {}): Promise<Accepted | Plan> {
    const headers: Record<string, string> = { 'idempotency-key': randomUUID() };
    if (opts.waitSeconds) headers.prefer = `wait=${opts.waitSeconds}`;
    return this.request('POST', `${workspacePath(workspaceId)}/plugins`, {
      body: { ...request, dryRun: true },
      headers,
      retry: true,
      waitSeconds: opts.waitSeconds,
    });
  }

  /** The plugin's revisions on the workspace, newest first. */
  async revisions(workspaceId: string, name: string): Promise<Revision[]> {
    const list = await this.request<{ revisions: Revision[] }>('GET', `${workspacePath(workspaceId)}/plugins/${encodeURIComponent(name)}/revisions`);
    return list.revisions;
  }

  /** Puts back an earlier revision (default: the one before the active one). Carries an Idempotency-Key, so it is retried safely. */
  rollback(workspaceId: string, name: string, opts: { revision?: number; waitSeconds?: number } = {}): Promise<Accepted | RolledBack> {
    const headers: Record<string, string> = { 'idempotency-key': randomUUID() };
    if (opts.waitSeconds) headers.prefer = `wait=${opts.waitSeconds}`;
    return this.request('POST', `${workspacePath(workspaceId)}/plugins/${encodeURIComponent(name)}/rollback`, {
      body: opts.revision === undefined ? {} : { revision: opts.revision },
      headers,
      retry: true,
      waitSeconds: opts.waitSeconds,
    });
  }

  /** The org's trust document: its signers with their fingerprints, revoked keys and whether it requires signatures. */
  trust(orgId: string): Promise<OrgTrust> {
    return this.request('GET', `/orgs/${encodeURIComponent(orgId)}/plugins/trust`);
  }

  /** The trust document with its ETag, to replace it with `replaceTrust(…, { ifMatch })` only if nobody changed it since. */
  async trustWithEtag(orgId: string): Promise<{ trust: OrgTrust; etag: string | null }> {
    const res = await this.send('GET', `/orgs/${encodeURIComponent(orgId)}/plugins/trust`, { retry: true });
    return { etag: res.headers.get('etag'), trust: (await res.json()) as OrgTrust };
  }

  /** Starts a fleet rollout (SPEC §10); the body as the API takes it. */
  createRollout(orgId: string, body: RolloutCreate): Promise<RolloutAccepted> {
    return this.request('POST', `${orgPath(orgId)}/rollouts`, { body, retry: false });
  }

  rollout(orgId: string, rolloutId: string): Promise<Rollout> {
    return this.request('GET', `${orgPath(orgId)}/rollouts/${encodeURIComponent(rolloutId)}`);
  }

  async rollouts(orgId: string, limit = 20): Promise<RolloutSummary[]> {
    return (await this.request<{ rollouts: RolloutSummary[] }>('GET', `${orgPath(orgId)}/rollouts?limit=${limit}`)).rollouts;
  }

  /** `cancel`, `resume` (optionally with a new maxErrors) or `rollback` (a new rollout undoing this one). */
  rolloutAction(orgId: string, rolloutId: string, action: 'cancel' | 'resume' | 'rollback', body?: { maxErrors?: number | string }): Promise<RolloutAccepted> {
    return this.request('POST', `${orgPath(orgId)}/rollouts/${encodeURIComponent(rolloutId)}/${action}`, { ...(body ? { body } : {}), retry: false });
  }

  patchRollout(orgId: string, rolloutId: string, controls: { maxConcurrency?: number | string; maxErrors?: number | string }): Promise<Rollout> {
    return this.request('PATCH', `${orgPath(orgId)}/rollouts/${encodeURIComponent(rolloutId)}`, { body: controls, retry: false });
  }

  /**
   * Replaces the org's trust document whole (retried: putting the same document twice is putting it
   * once). With `ifMatch`, only the version that ETag names: else ApiError `precondition_failed` (412).
   */
  replaceTrust(orgId: string, trust: TrustUpdate, opts: { ifMatch?: string } = {}): Promise<OrgTrust> {
    return this.request('PUT', `/orgs/${encodeURIComponent(orgId)}/plugins/trust`, {
      body: trust,
      retry: true,
      ...(opts.ifMatch !== undefined && { headers: { 'if-match': opts.ifMatch } }),
    });
  }

  /** Verifies the workspace's host against the records (SPEC §12); with `waitSeconds` the result itself when it is ready in time. */
  verify(workspaceId: string, opts: { waitSeconds?: number; idempotencyKey?: string } = {}): Promise<Accepted | Verification> {
    return this.request('POST', `${workspacePath(workspaceId)}/plugins/verify`, {
      headers: this.operationHeaders(opts),
      retry: true,
      waitSeconds: opts.waitSeconds,
    });
  }

  /** Mends drift: `reinstall`, `adopt` or `clean`, optionally only the plugins named (SPEC §12). Carries an Idempotency-Key, so it is retried safely. */
  repair(
    workspaceId: string,
    request: { mode: Repair['mode']; plugins?: string[] },
    opts: { waitSeconds?: number; idempotencyKey?: string } = {},
  ): Promise<Accepted | Repair> {
    return this.request('POST', `${workspacePath(workspaceId)}/plugins/repair`, {
      body: request,
      headers: this.operationHeaders(opts),
      retry: true,
      waitSeconds: opts.waitSeconds,
    });
  }

  private operationHeaders(opts: { waitSeconds?: number; idempotencyKey?: string }): Record<string, string> {
    return { 'idempotency-key': opts.idempotencyKey ?? randomUUID(), ...(opts.waitSeconds ? { prefer: `wait=${opts.waitSeconds}` } : {}) };
  }

  /** Uninstalls now, or schedules it for `at` (an ISO time with its offset). */
  uninstall(workspaceId: string, name: string, opts: { waitSeconds?: number; at?: string } = {}): Promise<Accepted | Finished | Scheduled> {
    const query = opts.at ? `?at=${encodeURIComponent(opts.at)}` : '';
    const headers: Record<string, string> = opts.waitSeconds ? { prefer: `wait=${opts.waitSeconds}` } : {};
    return this.request('DELETE', `${workspacePath(workspaceId)}/plugins/${encodeURIComponent(name)}${query}`, {
      headers,
      retry: false,
      waitSeconds: opts.waitSeconds,
    });
  }

  listInstalled(workspaceId: string): Promise<InstalledPlugin[]> {
    return this.request('GET', `${workspacePath(workspaceId)}/plugins`);
  }

  available(workspaceId: string): Promise<RegistryPlugin[]> {
    return this.request('GET', `${workspacePath(workspaceId)}/plugins/available`);
  }

  operation(workspaceId: string, operationId: string): Promise<Operation> {
    return this.request('GET', `${workspacePath(workspaceId)}/plugins/operations/${encodeURIComponent(operationId)}`);
  }

  /** Any operation by its id, without its workspace (admin token). */
  operationById(operationId: string): Promise<Operation> {
    return this.request('GET', `/operations/${encodeURIComponent(operationId)}`);
  }

  /** Recent operations, newest first, one page of at most `limit` (admin token; the ops view). */
  operations(filter: OperationsFilter = {}): Promise<Operation[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined && value !== '') params.set(key, String(value));
    const query = params.toString();
    return this.request('GET', `/operations${query ? `?${query}` : ''}`);
  }

  /**
   * Stages a plugin for this (external) workspace and opens its tarball: the API answers with a
   * presigned URL (302) and the plugin's name and content hash, and the bytes come from there.
   */
  async download(workspaceId: string, name: string, source?: string): Promise<Download> {
    const query = source ? `?source=${encodeURIComponent(source)}` : '';
    const res = await this.fetch(`${this.baseUrl}${workspacePath(workspaceId)}/plugins/${encodeURIComponent(name)}/download${query}`, {
      headers: { authorization: `Bearer ${this.options.token}` },
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
    }).catch((err: unknown) => {
      throw networkError(this.baseUrl, err);
    });
    const location = res.headers.get('location');
    // This service answers 302 to a presigned URL; the original platform sends the tarball itself.
    const tarball =
      res.status === 302 && location
        ? // The presigned URL carries its own authorization; S3 refuses a second one.
          await this.fetch(location, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) }).catch((err: unknown) => {
            throw networkError(new URL(location).origin, err);
          })
        : res.status === 200
          ? res
          : undefined;
    if (!tarball) throw await toApiError(res);
    if (!tarball.ok || !tarball.body) throw new ApiError(tarball.status, 'fetch_failed', `the plugin download answered HTTP ${tarball.status}`);
    const length = Number(tarball.headers.get('content-length'));
    const signature = res.headers.get('x-plugin-signature');
    const signer = res.headers.get('x-plugin-signer');
    return {
      name: res.headers.get('x-plugin-name') ?? name,
      source: res.headers.get('x-plugin-source') ?? source ?? `local://${name}`,
      sha256: res.headers.get('x-plugin-sha256') ?? '',
      ...(Number.isSafeInteger(length) && length > 0 ? { bytes: length } : {}),
      ...(signature ? { signature: Buffer.from(signature, 'base64').toString('utf8') } : {}),
      ...(signer ? { signer } : {}),
      body: Readable.fromWeb(tarball.body as import('node:stream/web').ReadableStream),
    };
  }

  registry(runtime?: string): Promise<RegistryPlugin[]> {
    return this.request('GET', `/plugins${runtime ? `?runtime=${encodeURIComponent(runtime)}` : ''}`);
  }

  async sources(): Promise<string[]> {
    return (await this.request<{ schemes: string[] }>('GET', '/plugins/sources')).schemes;
  }

  /**
   * Polls an operation until it finishes or `timeoutMs` passes, calling `onChange` whenever a
   * step or the status changes. Returns the last operation seen (RUNNING if it timed out).
   */
  async waitForOperation(
    workspaceId: string,
    operationId: string,
    opts: { timeoutMs?: number; pollMs?: number; onChange?: (op: Operation) => void; signal?: AbortSignal } = {},
  ): Promise<Operation> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
    let seen = '';
    for (;;) {
      const op = await this.operation(workspaceId, operationId);
      const fingerprint = JSON.stringify([op.status, op.steps.map((s) => [s.name, s.status])]);
      if (fingerprint !== seen) {
        seen = fingerprint;
        opts.onChange?.(op);
      }
      if (op.status !== 'RUNNING' || Date.now() >= deadline) return op;
      await sleep(Math.min(opts.pollMs ?? 250, Math.max(0, deadline - Date.now())), undefined, { signal: opts.signal });
    }
  }

  private async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await (await this.send(method, path, opts)).json()) as T;
  }

  /** The successful response, retried as `retry` says; any other answer thrown as an ApiError. */
  private async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const retry = opts.retry ?? method === 'GET';
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = this.timeoutMs + (opts.waitSeconds ?? 0) * 1000;
    for (let attempt = 1; ; attempt++) {
      const last = !retry || attempt >= this.attempts;
      let res: Response;
      try {
        res = await this.fetch(this.baseUrl + path, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        if (last) throw networkError(this.baseUrl, err);
        await backoff(attempt);
        continue;
      }
      if (res.ok) return res;
      if (!last && RETRYABLE_STATUS.has(res.status)) {
        await res.body?.cancel();
        await backoff(attempt, res.headers.get('retry-after'));
        continue;
      }
      throw await toApiError(res);
    }
  }
}

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  retry?: boolean;
  waitSeconds?: number;
}

function orgPath(orgId: string): string {
  return `/orgs/${encodeURIComponent(orgId)}`;
}

function workspacePath(workspaceId: string): string {
  return `/workspaces/${encodeURIComponent(workspaceId)}`;
}

/** Full jitter: a random wait up to the exponential step, or what Retry-After asks for (seconds or an HTTP-date). */
async function backoff(attempt: number, retryAfter?: string | null): Promise<void> {
  const asked = retryAfterMs(retryAfter, Date.now());
  const delay = asked ?? Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  await sleep(Math.min(delay, MAX_DELAY_MS * 6));
}

/**
 * A request that got no answer, named by its cause (`ECONNREFUSED 127.0.0.1:3000`, a timeout)
 * rather than fetch's bare "fetch failed"; `details.cause` carries the system code.
 */
export function networkError(origin: string, err: unknown): ApiError {
  const cause = (err as { cause?: { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const where = cause?.address !== undefined ? `${String(cause.address)}${cause.port !== undefined ? `:${String(cause.port)}` : ''}` : cause?.hostname;
  const name = (err as Error | undefined)?.name;
  const reason = code
    ? `${code}${where !== undefined ? ` ${String(where)}` : ''}`
    : name === 'TimeoutError'
      ? 'no answer before the timeout'
      : typeof cause?.message === 'string'
        ? cause.message
        : ((err as Error | undefined)?.message ?? String(err));
  return new ApiError(0, 'network_error', `could not reach ${origin}: ${reason}`, code ? { cause: code } : {});
}

export async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const { error, code, ...details } = JSON.parse(text) as { error?: string; code?: string } & Record<string, unknown>;
    return new ApiError(res.status, code ?? 'http_error', error ?? `HTTP ${res.status}`, details);
  } catch {
    return new ApiError(res.status, 'http_error', `HTTP ${res.status} from the API`);
  }
}

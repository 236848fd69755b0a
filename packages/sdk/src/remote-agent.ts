import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiError, networkError, PluginDeliveryClient, toApiError } from './client.js';
import { assertPluginName, downloadWhenStaged, installDownload, type PulledPlugin } from './pull.js';
import { retryDelayMs } from './retry.js';
import type { TrustDocument } from './signing/index.js';
import { TokenCache, workspaceStateDir } from './token-cache.js';

/**
 * A remote agent's client for the Molecule platform, with the behaviour of the platform's Python
 * `RemoteAgentClient`: register and cache the workspace token, pull secrets, heartbeat and poll
 * state until the workspace is paused or deleted, find and call peers (direct first, the
 * platform's A2A proxy when that fails), delegate with an idempotency key, and install a plugin
 * pulled from the download route. Time, sleep and randomness are injected so callers (and tests)
 * decide what a wait costs.
 */
export interface RemoteAgentOptions {
  workspaceId: string;
  platformUrl: string;
  /** A2A agent card; default `{name: "remote-agent-<first 8 of the id>"}`. */
  agentCard?: Record<string, unknown>;
  /** Where peers can reach this agent's A2A endpoint; without it the platform is told there is none. */
  reportedUrl?: string;
  /** Default `~/.molecule/<workspace>`: the token file and `plugins/`. */
  stateDir?: string;
  heartbeatIntervalMs?: number;
  urlCacheTtlMs?: number;
  /** Retries of a GET answered 429. */
  getMaxRetries?: number;
  setupTimeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  logger?: AgentLogger;
}

export interface AgentLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface WorkspaceState {
  workspaceId: string;
  /** `online`, `paused`, `degraded`, `removed`, `offline`, ... as the platform says. */
  status: string;
  paused: boolean;
  deleted: boolean;
  /** Paused or deleted: the agent should leave its run loop. */
  shouldStop: boolean;
}

export interface PeerInfo {
  id: string;
  name: string;
  url: string;
  role: string;
  tier: number;
  status: string;
  agentCard: Record<string, unknown>;
}

export interface HeartbeatReport {
  currentTask?: string;
  activeTasks?: number;
  errorRate?: number;
  sampleError?: string;
}

export type SetupOutcome = 'ok' | 'failed' | 'timed_out' | 'absent' | 'skipped';

export interface LocalInstall extends PulledPlugin {
  setup: SetupOutcome;
  /** Whether the platform accepted the install report. */
  reported: boolean;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;
export const DEFAULT_URL_CACHE_TTL_MS = 300_000;
export const DEFAULT_SETUP_TIMEOUT_MS = 120_000;
const GET_RETRY = { baseMs: 1_000, maxMs: 30_000, jitter: 0.25 };
const NO_INBOUND = 'remote://no-inbound';
const REQUEST_TIMEOUT_MS = 10_000;
const A2A_TIMEOUT_MS = 30_000;
const DELEGATE_TIMEOUT_MS = 300_000;

/**
 * The key the platform deduplicates delegations by: the same task within the same minute is one
 * delegation (a restarted agent re-sending it), another minute or another task is a new one. Same
 * input as the Python client's, so both clients agree on a key.
 */
export function makeIdempotencyKey(task: string, nowMs: number = Date.now()): string {
  const minute = Math.floor(nowMs / 60_000) * 60;
  return createHash('sha256').update(`${task}:${minute}`, 'utf8').digest('hex');
}

const consoleLogger: AgentLogger = {
  info: (message) => console.info(message),
  warn: (message) => console.warn(message),
};

export class RemoteAgentClient {
  readonly workspaceId: string;
  readonly platformUrl: string;
  readonly stateDir: string;
  private readonly tokens: TokenCache;
  private token: string | undefined;
  private readonly urlCache = new Map<string, { url: string; expiresAt: number }>();
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly log: AgentLogger;
  private readonly startedAt: number;

  constructor(private readonly options: RemoteAgentOptions) {
    this.workspaceId = options.workspaceId;
    this.platformUrl = options.platformUrl.replace(/\/+$/, '');
    this.stateDir = options.stateDir ?? workspaceStateDir(options.workspaceId);
    this.tokens = new TokenCache(this.stateDir);
    this.fetch = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.random = options.random ?? Math.random;
    this.log = options.logger ?? consoleLogger;
    this.startedAt = this.now();
  }

  get tokenFile(): string {
    return this.tokens.file;
  }

  /** Pulled plugins live next to the token, so removing `~/.molecule/<id>` removes the agent's state. */
  get pluginsDir(): string {
    return join(this.stateDir, 'plugins');
  }

  async loadToken(): Promise<string | undefined> {
    this.token ??= await this.tokens.load();
    return this.token;
  }

  async saveToken(token: string): Promise<void> {
    await this.tokens.save(token);
    this.token = token.trim();
  }

  /**
   * Claims the workspace and caches the token the platform issues. A workspace that already has
   * one gets none back; the cached one is kept. Returns the token in use ('' when there is none).
   */
  async register(): Promise<string> {
    const res = await this.send('POST', '/registry/register', {
      body: { id: this.workspaceId, url: this.options.reportedUrl || NO_INBOUND, agent_card: this.agentCard() },
      auth: false,
    });
    if (!res.ok) throw await toApiError(res);
    const { auth_token: issued } = ((await json(res)) ?? {}) as { auth_token?: unknown };
    if (typeof issued === 'string' && issued.trim()) {
      await this.saveToken(issued);
      this.log.info(`registered; new token ${issued.slice(0, 8)}… cached in ${this.tokenFile}`);
    } else if (!(await this.loadToken())) {
      this.log.warn('register issued no token and none is cached: authenticated calls will be refused until one is minted');
    }
    return this.token ?? '';
  }

  /** The workspace's decrypted secrets ({} when it has none). */
  async pullSecrets(): Promise<Record<string, string>> {
    const res = await this.getWithRetry(`/workspaces/${this.id()}/secrets/values`);
    if (!res.ok) throw await toApiError(res);
    return ((await json(res)) ?? {}) as Record<string, string>;
  }

  /** The workspace's state; a 404 means it was deleted. */
  async pollState(): Promise<WorkspaceState> {
    const res = await this.getWithRetry(`/workspaces/${this.id()}/state`);
    if (res.status === 404) {
      await res.body?.cancel();
      return state(this.workspaceId, 'removed', false, true);
    }
    if (!res.ok) throw await toApiError(res);
    const data = ((await json(res)) ?? {}) as { status?: unknown; paused?: unknown; deleted?: unknown };
    return state(this.workspaceId, data.status === undefined ? 'unknown' : String(data.status), Boolean(data.paused), Boolean(data.deleted));
  }

  async heartbeat(report: HeartbeatReport = {}): Promise<void> {
    const res = await this.send('POST', '/registry/heartbeat', {
      body: {
        workspace_id: this.workspaceId,
        current_task: report.currentTask ?? '',
        active_tasks: report.activeTasks ?? 0,
        error_rate: report.errorRate ?? 0,
        sample_error: report.sampleError ?? '',
        uptime_seconds: Math.floor((this.now() - this.startedAt) / 1000),
      },
    });
    if (!res.ok) throw await toApiError(res);
    await res.body?.cancel();
  }

  /**
   * Heartbeats and polls state every interval until the platform pauses or deletes the workspace
   * (returns its status), `maxIterations` runs out (`max_iterations`) or `signal` aborts
   * (`aborted`). A failed heartbeat or poll is logged and the loop goes on: a platform hiccup must
   * not take the agent offline.
   */
  async runHeartbeatLoop(opts: { maxIterations?: number; taskSupplier?: () => HeartbeatReport; signal?: AbortSignal } = {}): Promise<string> {
    for (let i = 0; ; i++) {
      if (opts.signal?.aborted) return 'aborted';
      if (opts.maxIterations !== undefined && i >= opts.maxIterations) return 'max_iterations';
      let report: HeartbeatReport = {};
      try {
        report = opts.taskSupplier?.() ?? {};
      } catch (err) {
        this.log.warn(`taskSupplier failed: ${message(err)}`);
      }
      await this.heartbeat(report).catch((err: unknown) => this.log.warn(`heartbeat failed, continuing: ${message(err)}`));
      const current = await this.pollState().catch((err: unknown) => {
        this.log.warn(`state poll failed, continuing: ${message(err)}`);
        return undefined;
      });
      if (current?.shouldStop) {
        this.log.info(`workspace ${this.workspaceId} is ${current.status} (paused ${current.paused}, deleted ${current.deleted}): stopping`);
        return current.status;
      }
      try {
        await this.sleep(this.options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS, opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) return 'aborted';
        throw err;
      }
    }
  }

  /** The workspaces this agent may talk to; their URLs go into the cache. */
  async getPeers(): Promise<PeerInfo[]> {
    const res = await this.getWithRetry(`/registry/${this.id()}/peers`, { 'x-workspace-id': this.workspaceId });
    if (!res.ok) throw await toApiError(res);
    const rows = (await json(res)) ?? [];
    if (!Array.isArray(rows)) throw new ApiError(res.status, 'invalid_response', 'the peer list is not a list');
    const peers: PeerInfo[] = [];
    for (const row of rows as Array<Record<string, unknown>>) {
      const id = String(row.id ?? '');
      if (!id) continue;
      const url = String(row.url ?? '');
      peers.push({
        id,
        name: String(row.name ?? ''),
        url,
        role: String(row.role ?? ''),
        tier: Number(row.tier) || 2,
        status: String(row.status ?? 'unknown'),
        agentCard: (row.agent_card as Record<string, unknown> | null | undefined) ?? {},
      });
      this.cacheUrl(id, url);
    }
    return peers;
  }

  /** A peer's URL, from the cache while fresh; undefined when the platform knows no reachable one. */
  async discoverPeer(targetId: string): Promise<string | undefined> {
    const cached = this.urlCache.get(targetId);
    if (cached && this.now() < cached.expiresAt) return cached.url;
    this.urlCache.delete(targetId);
    const res = await this.getWithRetry(`/registry/discover/${encodeURIComponent(targetId)}`, { 'x-workspace-id': this.workspaceId });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) throw await toApiError(res);
    const { url } = ((await json(res)) ?? {}) as { url?: unknown };
    return this.cacheUrl(targetId, String(url ?? ''));
  }

  /** Forgets a peer's URL (it failed), so the next call discovers it again. */
  invalidatePeerUrl(targetId: string): void {
    this.urlCache.delete(targetId);
  }

  /**
   * Sends an A2A `message/send` to a peer: straight to its URL when one is known, else (or when
   * that fails in any way) through the platform's proxy. Returns the whole JSON-RPC answer.
   */
  async callPeer(targetId: string, text: string, opts: { preferDirect?: boolean } = {}): Promise<Record<string, unknown>> {
    const envelope = {
      jsonrpc: '2.0',
      id: randomUUID(),
      method: 'message/send',
      params: { message: { role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } },
    };
    const headers = { 'x-workspace-id': this.workspaceId };
    if (opts.preferDirect ?? true) {
      const url = await this.discoverPeer(targetId);
      if (url) {
        try {
          const res = await this.send('POST', url, { body: envelope, headers, timeoutMs: A2A_TIMEOUT_MS, absolute: true });
          if (!res.ok) throw await toApiError(res);
          return (await res.json()) as Record<string, unknown>;
        } catch (err) {
          this.log.warn(`direct A2A to ${targetId} (${url}) failed: ${message(err)}; forgetting the URL and using the proxy`);
          this.invalidatePeerUrl(targetId);
        }
      }
    }
    const res = await this.send('POST', `/workspaces/${encodeURIComponent(targetId)}/a2a`, { body: envelope, headers, timeoutMs: A2A_TIMEOUT_MS });
    if (!res.ok) throw await toApiError(res);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Delegates a task through the platform, under {@link makeIdempotencyKey} unless a key is given. */
  async delegate(task: string, targetId: string, opts: { idempotencyKey?: string; timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const res = await this.send('POST', `/workspaces/${encodeURIComponent(targetId)}/delegate`, {
      body: { task, idempotency_key: opts.idempotencyKey || makeIdempotencyKey(task, this.now()) },
      headers: { 'x-workspace-id': this.workspaceId },
      timeoutMs: opts.timeoutMs ?? DELEGATE_TIMEOUT_MS,
    });
    if (!res.ok) throw await toApiError(res);
    return (await res.json()) as Record<string, unknown>;
  }

  /**
   * Pulls a plugin into `<pluginsDir>/<name>`: downloads it, unpacks it with every entry checked,
   * verifies it against the announced hash and plugin.yaml's `sha256`, swaps it in, runs its
   * `setup.sh` if there is one (a failure or timeout is logged, not thrown: the files are in place
   * and setup can be re-run by hand) and reports the install to the platform (best effort too).
   */
  async installPlugin(
    name: string,
    opts: {
      source?: string;
      runSetup?: boolean;
      reportToPlatform?: boolean;
      onProgress?: (p: { bytes: number; total?: number }) => void;
      /** Trusted signers: the plugin's signature is checked as Stage checks it, and a refused plugin is not installed (SPEC §11). */
      trust?: TrustDocument;
    } = {},
  ): Promise<LocalInstall> {
    assertPluginName(name);
    const token = await this.loadToken();
    if (!token) throw new ApiError(0, 'unauthorized', `no workspace token in ${this.tokenFile}: call register() first`);
    const delivery = new PluginDeliveryClient({ baseUrl: this.platformUrl, token, fetch: this.fetch });
    // A plugin the service is still staging answers 202 + Retry-After: wait and ask again (bounded).
    const download = await downloadWhenStaged(delivery, this.workspaceId, name, opts.source);
    const pulled = await installDownload(download, {
      name,
      pluginsDir: this.pluginsDir,
      requireAnnouncedHash: false,
      onWarning: (warning) => this.log.warn(`plugin ${name}: ${warning}`),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.trust ? { trust: opts.trust, now: () => new Date(this.now()) } : {}),
    });
    this.log.info(`plugin ${name} (sha256 ${pulled.sha256}) installed in ${pulled.dir}`);
    const setup = opts.runSetup === false ? 'skipped' : await this.runSetup(name, pulled.dir);
    const reported = opts.reportToPlatform === false ? false : await this.reportInstall(name, opts.source ?? `local://${name}`);
    return { ...pulled, setup, reported };
  }

  private async runSetup(name: string, dir: string): Promise<SetupOutcome> {
    const script = join(dir, 'setup.sh');
    if (
      !(await stat(script).then(
        (s) => s.isFile(),
        () => false,
      ))
    )
      return 'absent';
    const timeoutMs = this.options.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    const outcome = await new Promise<{ result: SetupOutcome; detail: string }>((resolve) => {
      // Its own process group, so a timeout kills what the script started too.
      const child = spawn('bash', [script], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-200);
      });
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group ended between the timer firing and the kill: nothing is left to stop.
        }
        resolve({ result: 'timed_out', detail: `timed out after ${timeoutMs} ms` });
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ result: 'failed', detail: err.message });
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code === 0 ? { result: 'ok', detail: '' } : { result: 'failed', detail: `exit ${code ?? signal}: ${stderr.trim()}` });
      });
    });
    if (outcome.result === 'ok') this.log.info(`plugin ${name}: setup.sh ok`);
    else this.log.warn(`plugin ${name}: setup.sh ${outcome.detail}`);
    return outcome.result;
  }

  /** `POST /workspaces/{id}/plugins {"source"}` with the workspace token: the platform records the pull. */
  private async reportInstall(name: string, source: string): Promise<boolean> {
    try {
      const res = await this.send('POST', `/workspaces/${this.id()}/plugins`, { body: { source } });
      if (res.ok) {
        await res.body?.cancel();
        return true;
      }
      const refused = await toApiError(res);
      this.log.warn(`plugin ${name}: the install report was refused: ${refused.message} (${refused.code}, HTTP ${refused.status})`);
    } catch (err) {
      this.log.warn(`plugin ${name}: the install report failed: ${message(err)}`);
    }
    return false;
  }

  private agentCard(): Record<string, unknown> {
    return this.options.agentCard ?? { name: `remote-agent-${this.workspaceId.slice(0, 8)}` };
  }

  private id(): string {
    return encodeURIComponent(this.workspaceId);
  }

  /** Only http(s) URLs are cached (the no-inbound placeholder is not a URL to call). */
  private cacheUrl(id: string, url: string): string | undefined {
    if (!/^https?:\/\//.test(url)) return undefined;
    this.urlCache.set(id, { url, expiresAt: this.now() + (this.options.urlCacheTtlMs ?? DEFAULT_URL_CACHE_TTL_MS) });
    return url;
  }

  /**
   * A GET retried while it is answered 429: after what `Retry-After` asks (seconds or a date),
   * else exponential backoff with jitter, at most 30 s. The last answer is returned as it is.
   * Only idempotent reads come here; a POST may already have been acted on.
   */
  private async getWithRetry(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const retries = this.options.getMaxRetries ?? 3;
    for (let attempt = 1; ; attempt++) {
      const res = await this.send('GET', path, { headers });
      if (res.status !== 429 || attempt > retries) return res;
      await res.body?.cancel();
      await this.sleep(retryDelayMs(attempt, res.headers.get('retry-after'), GET_RETRY, { now: this.now, random: this.random }));
    }
  }

  private async send(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; auth?: boolean; timeoutMs?: number; absolute?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const token = opts.auth === false ? undefined : await this.loadToken();
    if (token) headers.authorization = `Bearer ${token}`;
    const url = opts.absolute ? path : this.platformUrl + path;
    return this.fetch(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS),
    }).catch((err: unknown) => {
      throw networkError(new URL(url).origin, err);
    });
  }
}

function state(workspaceId: string, status: string, paused: boolean, deleted: boolean): WorkspaceState {
  return { workspaceId, status, paused, deleted, shouldStop: paused || deleted };
}

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'invalid_response', `the platform answered HTTP ${res.status} with a body that is not JSON`);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

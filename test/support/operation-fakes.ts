import type { KeptTarballs } from '../../lambdas/workflow/ports.js';
import type { InstalledPlugin } from '../../lambdas/store/installed.js';
import type { CleanupCandidate } from '../../lambdas/store/installed.js';
import type { AllowlistEntry } from '../../lambdas/store/allowlist.js';
import type { Operation, StagedPlugin, Workspace } from '../../lambdas/shared/types.js';
import type { WorkflowState } from '../../lambdas/workflow/steps/state.js';
import type {
  AllowlistStore,
  Clock,
  InstalledStore,
  OperationStore,
  PluginStager,
  SourceCatalog,
  TokenStore,
  TrustStore,
  WorkflowStarter,
  WorkspaceStore,
} from '../../lambdas/use-cases/ports.js';
import { NO_TRUST_VERSION, type StoredTrust } from '../../lambdas/store/trust.js';

/** In-memory ports: each use case's decisions, without a database or AWS. */

export function fakeClock(start = new Date('2026-06-01T12:00:00.000Z')): Clock & { set(at: Date): void } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    sleep: async (ms) => {
      now += ms;
    },
    set: (at) => {
      now = at.getTime();
    },
  };
}

export function fakeWorkspaces(list: Workspace[]): WorkspaceStore & { rows: Map<string, Workspace>; purged: number[] } {
  const rows = new Map(list.map((w) => [w.id, w]));
  const purged: number[] = [];
  return {
    rows,
    purged,
    get: async (id) => rows.get(id) ?? null,
    upsert: async (id, input) => {
      const created = !rows.has(id);
      const workspace: Workspace = {
        id,
        orgId: input.orgId,
        runtime: input.runtime,
        instanceId: input.instanceId ?? null,
        transport: input.transport ?? 'auto',
        status: input.status ?? 'online',
      };
      rows.set(id, workspace);
      return { workspace, created };
    },
    orgExists: async (orgId) => [...rows.values()].some((w) => w.orgId === orgId),
    purgeRemovedPlugins: async (batch) => {
      purged.push(batch);
      return 0;
    },
  };
}

export function fakeOperations(clock: Clock): OperationStore & { rows: Map<string, Operation & { key: string | null; requestHash: string | null }> } {
  const rows = new Map<string, Operation & { key: string | null; requestHash: string | null }>();
  const byKey = (workspaceId: string, key: string) => [...rows.values()].find((o) => o.workspaceId === workspaceId && o.key === key);
  return {
    rows,
    create: async (op) => {
      const earlier = op.idempotencyKey ? byKey(op.workspaceId, op.idempotencyKey) : undefined;
      if (earlier) return { operation: earlier, created: false, requestHash: earlier.requestHash };
      const at = clock.now().toISOString();
      const operation = {
        operationId: op.id,
        workspaceId: op.workspaceId,
        orgId: op.orgId,
        kind: op.kind,
        status: 'RUNNING' as const,
        plugin: op.plugin,
        source: op.source,
        sha256: op.sha256,
        executionArn: op.executionArn,
        executionName: op.executionName ?? null,
        consoleUrl: null,
        createdAt: at,
        updatedAt: at,
        steps: [],
        warnings: [],
        key: op.idempotencyKey,
        requestHash: op.requestHash,
      };
      rows.set(op.id, operation);
      return { operation, created: true };
    },
    findByIdempotencyKey: async (workspaceId, key) => {
      const found = byKey(workspaceId, key);
      return found ? { operation: found, requestHash: found.requestHash } : null;
    },
    get: async (id) => rows.get(id) ?? null,
    list: async () => ({ operations: [...rows.values()], nextCursor: null }),
    setExecutionArn: async (id, executionArn) => {
      const row = rows.get(id);
      if (row) row.executionArn = executionArn;
    },
    fail: async (id, error) => {
      const row = rows.get(id);
      if (row) Object.assign(row, { status: 'FAILED', error });
    },
  };
}

export function fakeInstalled(
  list: InstalledPlugin[] = [],
  candidates: CleanupCandidate[] = [],
): InstalledStore & { scheduled: Array<[string, string, string]>; rows: InstalledPlugin[] } {
  const scheduled: Array<[string, string, string]> = [];
  return {
    scheduled,
    rows: list,
    get: async (workspaceId, name) => list.find((p) => p.workspaceId === workspaceId && p.name === name) ?? null,
    list: async (workspaceId) => list.filter((p) => p.workspaceId === workspaceId),
    record: async (p) => {
      const at = '2026-06-01T12:00:00.000Z';
      const index = list.findIndex((row) => row.workspaceId === p.workspaceId && row.name === p.name);
      const row: InstalledPlugin = { ...p, installedVia: p.installedVia ?? 'push', installedAt: list[index]?.installedAt ?? at, updatedAt: at };
      if (index === -1) list.push(row);
      else list[index] = row;
    },
    scheduleUninstall: async (workspaceId, name, at) => {
      scheduled.push([workspaceId, name, at]);
    },
    cleanupCandidates: async (batch) => candidates.slice(0, batch),
  };
}

/** By name only; `checked` keeps what each check was asked, the source included. */
export function fakeAllowlist(allowed: Record<string, string[]> = {}): AllowlistStore & { checked: Array<[orgId: string, name: string, source: string]> } {
  const checked: Array<[string, string, string]> = [];
  return {
    checked,
    match: async (orgId, name, source) => {
      checked.push([orgId, name, source]);
      const list = allowed[orgId] ?? [];
      return { restricted: list.length > 0, listed: list.includes(name), pin: null, pinMatches: false };
    },
    get: async (orgId): Promise<AllowlistEntry[]> =>
      (allowed[orgId] ?? []).map((n) => ({ plugin_name: n, enabled_by: 'test', enabled_at: '2026-01-01T00:00:00.000Z' })),
    replace: async () => [],
  };
}

export function fakeTokens(): TokenStore & { minted: Array<{ kind: string; orgId: string; workspaceId?: string }>; live: Set<string> } {
  const minted: Array<{ kind: string; orgId: string; workspaceId?: string }> = [];
  const live = new Set<string>();
  return {
    minted,
    live,
    mint: async (kind, scope) => {
      minted.push({ kind, ...scope });
      const prefix = `mpd_${kind[0]}_${String(minted.length).padStart(8, '0')}`;
      live.add(prefix);
      return { token: `${prefix}secret`, prefix };
    },
    revokeByPrefix: async (prefix) => (live.delete(prefix) ? 1 : 0),
  };
}

export function fakeWorkflow(opts: { fail?: boolean } = {}): WorkflowStarter & { started: Array<{ name: string; input: WorkflowState }> } {
  const started: Array<{ name: string; input: WorkflowState }> = [];
  return {
    started,
    start: async (name, input) => {
      if (opts.fail) throw new Error('throttled');
      started.push({ name, input: input as WorkflowState });
      return `arn:aws:states:us-east-1:1:execution:m:${name}`;
    },
    executionArnFor: (name) => `arn:aws:states:us-east-1:1:execution:m:${name}`,
  };
}

/** `local://<name>` and `github://owner/<name>#ref` name their plugin; anything else is refused here. */
export const fakeSources: SourceCatalog = {
  schemes: () => ['github', 'local'],
  validate: (raw) => {
    const canonical = raw.includes('://') ? raw : `local://${raw}`;
    const [scheme, spec = ''] = canonical.split('://');
    if (scheme !== 'local' && scheme !== 'github') throw new Error(`unexpected source ${raw}`);
    const expectedName = scheme === 'local' ? spec : spec.split('#')[0]?.split('/')[1];
    return { raw, canonical, scheme: scheme ?? '', ...(expectedName ? { expectedName } : {}) };
  },
};

/** Trust documents by org; an org without one trusts no one. Each replacement is a new version, as in PostgreSQL. */
export function fakeTrust(byOrg: Record<string, Omit<StoredTrust, 'updatedAt' | 'version'>> = {}): TrustStore {
  let versions = 1;
  const stamp = () => ({ updatedAt: '2026-06-01T12:00:00.000Z', version: String(versions++) });
  const rows = new Map<string, StoredTrust>(Object.entries(byOrg).map(([org, trust]) => [org, { ...trust, ...stamp() }]));
  return {
    get: async (orgId) => rows.get(orgId) ?? null,
    replace: async (orgId, trust, ifVersion) => {
      if (ifVersion !== undefined && ifVersion !== (rows.get(orgId)?.version ?? NO_TRUST_VERSION)) return null;
      const stored = { ...trust, signers: [...trust.signers], revokedKeys: [...(trust.revokedKeys ?? [])], ...stamp() };
      rows.set(orgId, stored);
      return stored;
    },
  };
}

export function fakeStager(name: string, signed?: StagedPlugin['signed']): PluginStager & { staged: string[] } {
  const staged: string[] = [];
  return {
    staged,
    stage: async (source): Promise<StagedPlugin> => {
      staged.push(source);
      return {
        bucket: 'b',
        key: `staged/x/${name}.tar.gz`,
        name,
        version: '1',
        sha256: 'c'.repeat(64),
        skills: [],
        runtimes: [],
        fileCount: 1,
        bytes: 1,
        warnings: [],
        ...(signed ? { signed } : {}),
      };
    },
    presign: async (s) => `https://s3.example/${s.key}?sig`,
  };
}

export const workspace = (id: string, over: Partial<Workspace> = {}): Workspace => ({
  id,
  orgId: 'acme',
  runtime: 'claude-code',
  instanceId: 'i-0123456789abcdef0',
  transport: 'auto',
  status: 'online',
  ...over,
});

export const installed = (workspaceId: string, name: string): InstalledPlugin => ({
  workspaceId,
  name,
  version: '1',
  source: `local://${name}`,
  sha256: 'a'.repeat(64),
  skills: [],
  runtimes: [],
  installedAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  uninstallAt: null,
  installedVia: 'push',
});

/**
 * Kept revision tarballs in memory, for steps tested without S3 (`keepsTarballsInMemory()` spreads
 * them into Record's and RecordFailure's deps with the default number kept).
 */
export function fakeKeptTarballs(bucket = 'molecule-plugin-staging'): KeptTarballs & { kept: Set<string> } {
  const kept = new Set<string>();
  return {
    kept,
    locate: (sha256) => ({ bucket, key: `revisions/${sha256}.tar.gz` }),
    keep: async (_staged, sha256) => {
      kept.add(sha256);
    },
    exists: async (sha256) => kept.has(sha256),
  };
}

export const keepsTarballsInMemory = () => ({ tarballs: fakeKeptTarballs(), config: { revisionsKept: 5 } });

import type * as z from '../shared/zod.js';
import type { Config } from '../shared/config.js';
import type { Log } from '../shared/logger.js';
import { InvalidRequest } from '../shared/errors.js';
import { describeZodError } from './respond.js';
import type { ApiRequest } from './http.js';
import { requireAdmin, type Principal } from '../use-cases/access.js';
import type {
  AllowlistStore,
  Clock,
  InstalledStore,
  OperationStore,
  PluginStager,
  RevisionStore,
  RegistryReader,
  SourceCatalog,
  TokenStore,
  TrustStore,
  WorkflowStarter,
  WorkspaceStore,
} from '../use-cases/ports.js';
import type { CleanupSummary } from '../use-cases/cleanup.js';
import type { OrgWorkspaces, RolloutStarter, RolloutStore } from '../use-cases/rollouts.js';

export type { RegistryEntry, RegistryReader, SourceCatalog } from '../use-cases/ports.js';

/** Every port the API's use cases take. */
export interface ApiPorts {
  workspaces: WorkspaceStore;
  operations: OperationStore;
  installed: InstalledStore;
  allowlist: AllowlistStore;
  tokens: TokenStore;
  revisions: RevisionStore;
  rollouts: RolloutStore;
  orgWorkspaces: OrgWorkspaces;
  driver: RolloutStarter;
  trust: TrustStore;
  workflow: WorkflowStarter;
  sources: SourceCatalog;
  registry: RegistryReader;
  stager: PluginStager;
  clock: Clock;
}

export interface ApiDeps {
  config: Config;
  ports: ApiPorts;
  /** Who the bearer token belongs to (401 unauthorized when no one). */
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  runCleanup: () => Promise<CleanupSummary>;
}

/** What one request's route handlers see. */
export interface RequestScope {
  req: ApiRequest;
  deps: ApiDeps;
  log: Log;
  principal: () => Promise<Principal>;
  /** The route pattern that answered (`/workspaces/:id/plugins`), set once routing is done; null when none matched. */
  route?: string | null;
}

/** Parses a JSON body against `schema`: oversize, bad JSON and schema failures are all 400 invalid_request. */
export function parseBody<S extends z.ZodMiniType>(req: ApiRequest, schema: S, maxBytes: number, opts: { allowEmpty?: boolean } = {}): z.infer<S> {
  const raw = req.body ?? '';
  if (Buffer.byteLength(raw) > maxBytes) throw new InvalidRequest(`request body exceeds ${maxBytes} bytes`);
  let data: unknown;
  try {
    // A UTF-8 byte order mark (some Windows tools write one) is not part of the JSON text.
    const text = raw.replace(/^\uFEFF/, '');
    // A route whose every field is optional takes no body as `{}` (`allowEmpty`).
    data = text.trim() === '' ? (opts.allowEmpty ? {} : undefined) : JSON.parse(text);
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new InvalidRequest('request body must be a JSON object');
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new InvalidRequest(describeZodError(parsed.error));
  return parsed.data;
}

/** A query string against `schema`; a failure is 400 invalid_request naming the parameter. */
export function parseQuery<S extends z.ZodMiniType>(query: Record<string, string | undefined>, schema: S): z.infer<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new InvalidRequest(describeZodError(parsed.error).replace('request body', 'query'));
  return parsed.data;
}

/** One path or query value against its schema; `invalid` is the documented error for a bad one. */
export function parseValue<S extends z.ZodMiniType>(value: unknown, schema: S, invalid: () => Error): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid();
  return parsed.data;
}

export function idempotencyKey(req: ApiRequest): string | null {
  const key = req.headers['idempotency-key']?.trim();
  if (!key) return null;
  if (key.length > 255) throw new InvalidRequest('Idempotency-Key must be at most 255 characters');
  return key;
}

/**
 * The admin routes check the token before anything else (401 without a valid one, 403 for any
 * other), so a non-admin caller learns nothing from them.
 */
export async function requireAdminScope(scope: RequestScope): Promise<void> {
  requireAdmin(await scope.principal());
}

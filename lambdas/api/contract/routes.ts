import * as z from '../../shared/zod.js';
import type { ErrorName } from '../../shared/errors.js';
import { PluginName } from '../../shared/types.js';
import {
  AllowlistBody,
  DownloadQuery,
  IdempotencyKey,
  InstallBody,
  OperationId,
  RepairBody,
  RollbackBody,
  RolloutBody,
  RolloutId,
  RolloutPatchBody,
  RolloutResumeBody,
  RolloutsQuery,
  OperationsQuery,
  RegistryQuery,
  TokenPrefix,
  TrustBody,
  UninstallQuery,
  WorkspaceBody,
  WorkspaceId,
} from '../schemas.js';
import type * as bodies from './responses.js';

/**
 * Every route of the API (SPEC §4), declared once: what it takes (path values, query, headers,
 * body: the zod schemas its handler parses with), what it answers (bodies named from
 * contract/responses.ts) and which documented errors it can answer. The router registers handlers against these (`on` in api/router.ts), and the OpenAPI
 * document (api/openapi-document.ts) describes the routes the router registered, so a route is in the
 * document as soon as it is served. No server-only import: a client may use this.
 */

/** Who may call: no token, the admin token, an org's token, a workspace's own token. */
export type Caller = 'anyone' | 'admin' | 'org' | 'workspace';

export interface HeaderContract {
  /** A request header's is the schema it is parsed with; an answer's may be named. */
  schema: SchemaName | z.ZodMiniType;
  description: string;
}

/** A schema of an answer (a body, a header) by its name in contract/responses.ts, loaded only by the document and clients. */
export type SchemaName = { [N in keyof typeof bodies]: (typeof bodies)[N] extends z.ZodMiniType ? N : never }[keyof typeof bodies];

export interface ResponseContract {
  description: string;
  /** The JSON body: a schema of contract/responses.ts by name, or a schema of its own (the local stack's routes). */
  body?: SchemaName | z.ZodMiniType;
  /** The media types of a body that is not JSON (the ops page's files). */
  media?: readonly string[];
  headers?: Readonly<Record<string, HeaderContract>>;
}

/** A group of routes in the document. */
export interface Tag {
  name: string;
  description: string;
}

export interface RouteContract {
  /** Unique: the document's operationId. */
  id: string;
  method: 'get' | 'put' | 'post' | 'patch' | 'delete';
  /** `{name}` for a path value. */
  path: string;
  summary: string;
  tag: Tag;
  callers: readonly Caller[];
  params?: Readonly<Record<string, z.ZodMiniType>>;
  query?: z.ZodMiniObject;
  headers?: Readonly<Record<string, HeaderContract>>;
  body?: z.ZodMiniType;
  /** The answers other than errors, by status. */
  responses: Readonly<Record<number, ResponseContract>>;
  /**
   * The documented errors the route answers besides those of every route (401 `unauthorized` for a
   * route that takes a token, 500 `internal_error`, 503 `platform_unavailable`): each name's code
   * and status come from its declaration (shared/errors.ts).
   */
  errors: readonly ErrorName[];
}

const route = <const R extends RouteContract>(declared: R): R => declared;

const SERVICE = { name: 'service', description: 'Liveness and this description' };
const PLUGINS = { name: 'plugins', description: "A workspace's plugins: install, uninstall, list, download, and the operations that change them" };
const REGISTRY = { name: 'registry', description: 'The curated registry and the sources plugins install from' };
const ALLOWLIST = { name: 'allowlist', description: "An org's plugin allowlist" };
const ROLLOUTS = {
  name: 'rollouts',
  description: 'One plugin version to many workspaces: canaries, rate controls, an error budget, and a way on from every state',
};
const TRUST = { name: 'trust', description: "An org's trusted plugin signers and its signature policy (SPEC §11)" };
const OPERATIONS = { name: 'operations', description: 'The ops view of every operation' };
const ADMIN = { name: 'admin', description: "The platform's own calls: workspaces, tokens, the cleanup" };
const OPS_PAGE = { name: 'ops page', description: 'The operations page and its files' };

/** What staging a source can fail with: the download route and an external workspace's pull report stage synchronously. */
const STAGING_ERRORS = [
  'SourceNotFound',
  'FetchFailed',
  'FetchTimeout',
  'PluginTooLarge',
  'InvalidArchive',
  'ManifestInvalid',
  'IntegrityMismatch',
  'InvalidPluginName',
] as const satisfies readonly ErrorName[];

/** A failed install's own error, answered with its status when it failed within `Prefer: wait`. */
/** A signature Stage refused (SPEC §11): an install's, a rollback's, a download's. */
const SIGNATURE_ERRORS = ['SignatureInvalid', 'SignatureRequired'] as const satisfies readonly ErrorName[];

const INSTALL_FAILURES = [
  ...STAGING_ERRORS,
  ...SIGNATURE_ERRORS,
  'PluginNotAllowed',
  'PluginSourceConflict',
  'WorkspaceUnreachable',
  'WorkspaceBusy',
  'DeliveryFailed',
  'HealthCheckFailed',
] as const satisfies readonly ErrorName[];

/** A failed rollback's own error, answered with its status when it failed within `Prefer: wait`. */
const ROLLBACK_FAILURES = [
  'RevisionExpired',
  ...SIGNATURE_ERRORS,
  'PluginNotAllowed',
  'WorkspaceUnreachable',
  'WorkspaceBusy',
  'DeliveryFailed',
  'HealthCheckFailed',
] as const satisfies readonly ErrorName[];

/** A failed uninstall's own error, answered with its status when it failed within `Prefer: wait`. */
const UNINSTALL_FAILURES = ['PluginNotInstalled', 'WorkspaceUnreachable', 'WorkspaceBusy', 'DeliveryFailed'] as const satisfies readonly ErrorName[];

/** A failed verify's own error, answered with its status when it failed within `Prefer: wait`. */
const VERIFY_FAILURES = ['WorkspaceUnreachable', 'WorkspaceBusy', 'DeliveryFailed'] as const satisfies readonly ErrorName[];

/** A failed repair's own error, answered with its status when it failed within `Prefer: wait`. */
const REPAIR_FAILURES = [...VERIFY_FAILURES, 'RevisionExpired', 'HealthCheckFailed'] as const satisfies readonly ErrorName[];

const workspacePath = { id: WorkspaceId };
const pluginPath = { ...workspacePath, name: PluginName };

const OPERATION_HEADERS = {
  'Idempotency-Key': {
    schema: IdempotencyKey,
    description:
      'The same key (per workspace) with the same request returns the same operation, never a second one; with another request it is 422 idempotency_key_reused.',
  },
  Prefer: {
    schema: z.string(),
    description: '`wait=N` (N ≤ 25, more is taken as 25): wait up to N seconds for the operation to finish and answer with its outcome.',
  },
} as const;

const OPERATION_ID_HEADER = { 'X-Operation-Id': { schema: 'OperationIdHeader', description: 'the operation the answer is about' } } as const;
const RETRY_AFTER = { 'Retry-After': { schema: 'RetryAfterHeader', description: 'seconds to wait before trying again' } } as const;

export const health = route({
  id: 'health',
  method: 'get',
  path: '/health',
  summary: 'Liveness: 200 while the function runs, also when the database schema is behind',
  tag: SERVICE,
  callers: ['anyone'],
  responses: { 200: { description: 'alive', body: 'Health' } },
  errors: [],
});

export const describeApi = route({
  id: 'describeApi',
  method: 'get',
  path: '/openapi.json',
  summary: 'This document: every route the API serves',
  tag: SERVICE,
  callers: ['anyone'],
  responses: { 200: { description: 'the OpenAPI 3.1 document', body: 'OpenApiDocument' } },
  errors: [],
});

export const installPlugin = route({
  id: 'installPlugin',
  method: 'post',
  path: '/workspaces/{id}/plugins',
  summary:
    'Install a plugin: validated at once, then delivered by a workflow (202, or its outcome within Prefer: wait). With `"dryRun": true`, a plan of what the install would change, nothing delivered. An external workspace reporting with its own token a plugin it pulled is recorded at once (200, no operation).',
  tag: PLUGINS,
  callers: ['org', 'admin', 'workspace'],
  params: workspacePath,
  headers: OPERATION_HEADERS,
  body: InstallBody,
  responses: {
    200: {
      description: 'installed (or planned, with dryRun) within Prefer: wait, or a pulled plugin recorded',
      body: 'InstallOutcome',
      headers: OPERATION_ID_HEADER,
    },
    202: { description: 'accepted: the install (or plan) runs; poll statusUrl', body: 'Accepted', headers: OPERATION_ID_HEADER },
  },
  errors: [
    'InvalidRequest',
    'InvalidSource',
    'InvalidPluginName',
    'Forbidden',
    'WorkspaceNotFound',
    'ExternalRuntime',
    'UnpinnedSource',
    'PluginSourceConflict',
    'IdempotencyKeyReused',
    'TooManyOperations',
    ...INSTALL_FAILURES,
  ],
});

export const uninstallPlugin = route({
  id: 'uninstallPlugin',
  method: 'delete',
  path: '/workspaces/{id}/plugins/{name}',
  summary: 'Uninstall a plugin now (202, or its outcome within Prefer: wait), or schedule it with ?at=',
  tag: PLUGINS,
  callers: ['org', 'admin'],
  params: pluginPath,
  query: UninstallQuery,
  headers: OPERATION_HEADERS,
  responses: {
    200: { description: 'uninstalled within Prefer: wait', body: 'Uninstalled', headers: OPERATION_ID_HEADER },
    202: { description: 'accepted (the uninstall runs; poll statusUrl), or scheduled for ?at=', body: 'UninstallAccepted', headers: OPERATION_ID_HEADER },
  },
  errors: [
    'InvalidRequest',
    'InvalidPluginName',
    'Forbidden',
    'WorkspaceNotFound',
    'ExternalRuntime',
    'IdempotencyKeyReused',
    'TooManyOperations',
    ...UNINSTALL_FAILURES,
  ],
});

export const listRevisions = route({
  id: 'listRevisions',
  method: 'get',
  path: '/workspaces/{id}/plugins/{name}/revisions',
  summary: "The plugin's revisions on the workspace, newest first: every version delivered, its files, and which is active",
  tag: PLUGINS,
  callers: ['org', 'admin', 'workspace'],
  params: pluginPath,
  responses: { 200: { description: 'the revisions', body: 'RevisionList' } },
  errors: ['InvalidPluginName', 'Forbidden', 'WorkspaceNotFound', 'PluginNotInstalled'],
});

export const rollbackPlugin = route({
  id: 'rollbackPlugin',
  method: 'post',
  path: '/workspaces/{id}/plugins/{name}/rollback',
  summary:
    'Put back an earlier revision byte for byte (default: the newest one older than the active one), through the health gate (202, or its outcome within Prefer: wait)',
  tag: PLUGINS,
  callers: ['org', 'admin'],
  params: pluginPath,
  headers: OPERATION_HEADERS,
  body: RollbackBody,
  responses: {
    200: { description: 'rolled back within Prefer: wait', body: 'RolledBack', headers: OPERATION_ID_HEADER },
    202: { description: 'accepted: the rollback runs; poll statusUrl', body: 'Accepted', headers: OPERATION_ID_HEADER },
  },
  errors: [
    'InvalidRequest',
    'InvalidPluginName',
    'Forbidden',
    'WorkspaceNotFound',
    'ExternalRuntime',
    'PluginNotInstalled',
    'RevisionNotFound',
    'NoPreviousRevision',
    'IdempotencyKeyReused',
    'TooManyOperations',
    ...ROLLBACK_FAILURES,
  ],
});

export const verifyPlugins = route({
  id: 'verifyPlugins',
  method: 'post',
  path: '/workspaces/{id}/plugins/verify',
  summary:
    'Drift: inventory what the host really has under plugins/ (content hashes, debris, markers, owned skills), read-only, and hold it against the records (202, or the result within Prefer: wait)',
  tag: PLUGINS,
  callers: ['org', 'admin'],
  params: workspacePath,
  headers: OPERATION_HEADERS,
  responses: {
    200: { description: 'verified within Prefer: wait', body: 'Verification', headers: OPERATION_ID_HEADER },
    202: { description: 'accepted: the verify runs; poll statusUrl', body: 'Accepted', headers: OPERATION_ID_HEADER },
  },
  errors: ['InvalidRequest', 'Forbidden', 'WorkspaceNotFound', 'ExternalRuntime', 'IdempotencyKeyReused', 'TooManyOperations', ...VERIFY_FAILURES],
});

export const repairPlugins = route({
  id: 'repairPlugins',
  method: 'post',
  path: '/workspaces/{id}/plugins/repair',
  summary:
    'Mend drift: `reinstall` delivers the active revisions again to modified and missing plugins (restart, health gate), `adopt` records what the host has, `clean` removes debris; nothing else on the host changes (202, or the result within Prefer: wait)',
  tag: PLUGINS,
  callers: ['org', 'admin'],
  params: workspacePath,
  headers: OPERATION_HEADERS,
  body: RepairBody,
  responses: {
    200: { description: 'repaired within Prefer: wait', body: 'Repair', headers: OPERATION_ID_HEADER },
    202: { description: 'accepted: the repair runs; poll statusUrl', body: 'Accepted', headers: OPERATION_ID_HEADER },
  },
  errors: [
    'InvalidRequest',
    'InvalidPluginName',
    'Forbidden',
    'WorkspaceNotFound',
    'ExternalRuntime',
    'IdempotencyKeyReused',
    'TooManyOperations',
    ...REPAIR_FAILURES,
  ],
});

export const listInstalledPlugins = route({
  id: 'listInstalledPlugins',
  method: 'get',
  path: '/workspaces/{id}/plugins',
  summary: "The workspace's installed plugins",
  tag: PLUGINS,
  callers: ['org', 'admin', 'workspace'],
  params: workspacePath,
  responses: { 200: { description: 'installed plugins', body: 'InstalledPluginList' } },
  errors: ['WorkspaceNotFound'],
});

export const listAvailablePlugins = route({
  id: 'listAvailablePlugins',
  method: 'get',
  path: '/workspaces/{id}/plugins/available',
  summary: "The registry, filtered by the workspace's runtime",
  tag: PLUGINS,
  callers: ['org', 'admin', 'workspace'],
  params: workspacePath,
  responses: { 200: { description: 'registry plugins that run on the workspace', body: 'RegistryList' } },
  errors: ['WorkspaceNotFound'],
});

export const getWorkspaceOperation = route({
  id: 'getWorkspaceOperation',
  method: 'get',
  path: '/workspaces/{id}/plugins/operations/{operationId}',
  summary: "One of the workspace's operations",
  tag: PLUGINS,
  callers: ['org', 'admin'],
  params: { ...workspacePath, operationId: OperationId },
  responses: { 200: { description: 'the operation', body: 'Operation', headers: OPERATION_ID_HEADER } },
  errors: ['Forbidden', 'WorkspaceNotFound', 'OperationNotFound'],
});

export const downloadPlugin = route({
  id: 'downloadPlugin',
  method: 'get',
  path: '/workspaces/{id}/plugins/{name}/download',
  summary: 'Stage a plugin and hand out its tarball: a redirect to a presigned URL valid at most 300 s',
  tag: PLUGINS,
  callers: ['workspace', 'admin'],
  params: pluginPath,
  query: DownloadQuery,
  responses: {
    202: { description: 'still staging past the budget: retry after Retry-After', body: 'Staging', headers: RETRY_AFTER },
    302: {
      description: 'the tarball',
      headers: {
        Location: { schema: 'LocationHeader', description: 'the presigned URL of the tarball' },
        'X-Plugin-Name': { schema: z.string(), description: 'the plugin name' },
        'X-Plugin-Source': { schema: z.string(), description: 'the source it was staged from' },
        'X-Plugin-Sha256': { schema: z.string(), description: 'the content hash of the plugin' },
        'X-Plugin-Signer': {
          schema: z.string(),
          description: "a signed plugin's signer the org trusts (SPEC §11): `<principal> <fingerprint>`",
        },
        'X-Plugin-Signature': {
          schema: z.string(),
          description: "a signed plugin's SSH signature (armored, then base64), to check against the statement of the unpacked plugin",
        },
      },
    },
  },
  errors: [
    'InvalidPluginName',
    'InvalidSource',
    'UnpinnedSource',
    'NameMismatch',
    'Forbidden',
    'WorkspaceNotFound',
    'PluginNotAllowed',
    ...STAGING_ERRORS,
    ...SIGNATURE_ERRORS,
  ],
});

export const listRegistry = route({
  id: 'listRegistry',
  method: 'get',
  path: '/plugins',
  summary: 'The curated registry',
  tag: REGISTRY,
  callers: ['org', 'admin', 'workspace'],
  query: RegistryQuery,
  responses: { 200: { description: 'registry plugins', body: 'RegistryList' } },
  errors: [],
});

export const listSourceSchemes = route({
  id: 'listSourceSchemes',
  method: 'get',
  path: '/plugins/sources',
  summary: 'The source schemes this service installs from',
  tag: REGISTRY,
  callers: ['org', 'admin', 'workspace'],
  responses: { 200: { description: 'the schemes, sorted', body: 'SourceSchemes' } },
  errors: [],
});

const orgPath = { orgId: z.string() };

const rolloutPath = { orgId: WorkspaceId, rolloutId: RolloutId };
const ROLLOUT_ACCEPTED = { description: 'accepted: the rollout runs; poll statusUrl', body: 'RolloutAccepted' } as const;

export const listAllRollouts = route({
  id: 'listAllRollouts',
  method: 'get',
  path: '/rollouts',
  summary: "Every org's rollouts, newest first, without their workspaces (the ops view)",
  tag: OPERATIONS,
  callers: ['admin'],
  query: RolloutsQuery,
  responses: { 200: { description: 'rollouts', body: 'RolloutList' } },
  errors: ['InvalidRequest', 'Forbidden'],
});

export const createRollout = route({
  id: 'createRollout',
  method: 'post',
  path: '/orgs/{orgId}/rollouts',
  summary: "Roll one plugin version out to the org's workspaces: canaries first, then at most maxConcurrency at once, stopping past maxErrors",
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: { orgId: WorkspaceId },
  body: RolloutBody,
  responses: { 202: ROLLOUT_ACCEPTED },
  errors: ['InvalidRequest', 'InvalidSource', 'InvalidPluginName', 'UnpinnedSource', 'Forbidden', 'WorkspaceNotFound', 'NoTargets'],
});

export const listRollouts = route({
  id: 'listRollouts',
  method: 'get',
  path: '/orgs/{orgId}/rollouts',
  summary: "The org's rollouts, newest first, without their workspaces",
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: { orgId: WorkspaceId },
  query: RolloutsQuery,
  responses: { 200: { description: 'rollouts', body: 'RolloutList' } },
  errors: ['InvalidRequest', 'Forbidden'],
});

export const getRollout = route({
  id: 'getRollout',
  method: 'get',
  path: '/orgs/{orgId}/rollouts/{rolloutId}',
  summary: 'One rollout with its counts and every workspace, each linked to its operation',
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: rolloutPath,
  responses: { 200: { description: 'the rollout', body: 'Rollout' } },
  errors: ['Forbidden', 'RolloutNotFound'],
});

export const patchRollout = route({
  id: 'patchRollout',
  method: 'patch',
  path: '/orgs/{orgId}/rollouts/{rolloutId}',
  summary: "Change a running rollout's maxConcurrency or maxErrors from its next start on",
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: rolloutPath,
  body: RolloutPatchBody,
  responses: { 200: { description: 'the rollout', body: 'Rollout' } },
  errors: ['InvalidRequest', 'Forbidden', 'RolloutNotFound', 'RolloutFinished'],
});

export const cancelRollout = route({
  id: 'cancelRollout',
  method: 'post',
  path: '/orgs/{orgId}/rollouts/{rolloutId}/cancel',
  summary: 'Start no new install; the rollout ends CANCELLED once those in flight finish',
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: rolloutPath,
  responses: { 202: ROLLOUT_ACCEPTED },
  errors: ['Forbidden', 'RolloutNotFound', 'RolloutFinished'],
});

export const resumeRollout = route({
  id: 'resumeRollout',
  method: 'post',
  path: '/orgs/{orgId}/rollouts/{rolloutId}/resume',
  summary: 'Start the pending workspaces of a STOPPED or CANCELLED rollout again, optionally with a new maxErrors',
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: rolloutPath,
  body: RolloutResumeBody,
  responses: { 202: ROLLOUT_ACCEPTED },
  errors: ['InvalidRequest', 'Forbidden', 'RolloutNotFound', 'RolloutRunning', 'RolloutFinished'],
});

export const rollbackRollout = route({
  id: 'rollbackRollout',
  method: 'post',
  path: '/orgs/{orgId}/rollouts/{rolloutId}/rollback',
  summary:
    'Undo a rollout: a new rollout of kind rollback, with the same rate controls, putting back on each workspace whose install succeeded the revision active before it (or removing the plugin where there was none)',
  tag: ROLLOUTS,
  callers: ['org', 'admin'],
  params: rolloutPath,
  responses: { 202: ROLLOUT_ACCEPTED },
  errors: ['Forbidden', 'RolloutNotFound', 'NoTargets'],
});

export const getAllowlist = route({
  id: 'getAllowlist',
  method: 'get',
  path: '/orgs/{orgId}/plugins/allowlist',
  summary: "The org's plugin allowlist (empty: every plugin is allowed)",
  tag: ALLOWLIST,
  callers: ['org', 'admin'],
  params: orgPath,
  responses: { 200: { description: 'the allowlist', body: 'Allowlist' } },
  errors: ['Forbidden', 'OrgNotFound'],
});

export const replaceAllowlist = route({
  id: 'replaceAllowlist',
  method: 'put',
  path: '/orgs/{orgId}/plugins/allowlist',
  summary: "Replace the org's allowlist atomically: a bare name allows the plugin from anywhere, a source pins it to an origin or owner prefix",
  tag: ALLOWLIST,
  callers: ['org', 'admin'],
  params: orgPath,
  body: AllowlistBody,
  responses: { 200: { description: 'the new allowlist', body: 'Allowlist' } },
  errors: ['InvalidRequest', 'InvalidPluginName', 'InvalidSource', 'Forbidden', 'OrgNotFound'],
});

const TRUST_ETAG = {
  ETag: { schema: z.string(), description: "the document's version, for `If-Match` on a later PUT" },
} as const;

export const getTrust = route({
  id: 'getTrust',
  method: 'get',
  path: '/orgs/{orgId}/plugins/trust',
  summary: "The org's trusted plugin signers, each with its key's fingerprint, its revoked keys and whether it requires signatures",
  tag: TRUST,
  callers: ['org', 'admin'],
  params: orgPath,
  responses: { 200: { description: 'the trust document', body: 'OrgTrust', headers: TRUST_ETAG } },
  errors: ['Forbidden', 'OrgNotFound'],
});

export const replaceTrust = route({
  id: 'replaceTrust',
  method: 'put',
  path: '/orgs/{orgId}/plugins/trust',
  summary:
    "Replace the org's trust document atomically: ed25519 signers with optional validity windows, one entry per principal, revoked fingerprints, requireSignature",
  tag: TRUST,
  callers: ['org', 'admin'],
  params: orgPath,
  headers: {
    'If-Match': {
      schema: z.string(),
      description: 'the ETag GET gave: replace only that version of the document, else 412 precondition_failed (a change made in between is not lost)',
    },
  },
  body: TrustBody,
  responses: { 200: { description: 'the new trust document', body: 'OrgTrust', headers: TRUST_ETAG } },
  errors: ['InvalidRequest', 'Forbidden', 'OrgNotFound', 'PreconditionFailed'],
});

export const listOperations = route({
  id: 'listOperations',
  method: 'get',
  path: '/operations',
  summary: 'Recent operations, newest first, filtered and paged (the ops view)',
  tag: OPERATIONS,
  callers: ['admin'],
  query: OperationsQuery,
  responses: {
    200: {
      description: 'one page of operations',
      body: 'OperationList',
      headers: {
        'X-Next-Cursor': { schema: z.string(), description: 'when more match: the cursor of the next page' },
        Link: { schema: z.string(), description: 'when more match: `</operations?...&cursor=<cursor>>; rel="next"`' },
      },
    },
  },
  errors: ['InvalidRequest', 'Forbidden'],
});

export const getOperation = route({
  id: 'getOperation',
  method: 'get',
  path: '/operations/{operationId}',
  summary: 'Any operation by its id (the ops view)',
  tag: OPERATIONS,
  callers: ['admin'],
  params: { operationId: OperationId },
  responses: { 200: { description: 'the operation', body: 'Operation' } },
  errors: ['Forbidden', 'OperationNotFound'],
});

export const putWorkspace = route({
  id: 'putWorkspace',
  method: 'put',
  path: '/admin/workspaces/{id}',
  summary: 'Create or update a workspace; the first workspace naming an org creates the org',
  tag: ADMIN,
  callers: ['admin'],
  params: { id: WorkspaceId },
  body: WorkspaceBody,
  responses: {
    200: { description: 'updated', body: 'Workspace' },
    201: { description: 'created', body: 'Workspace' },
  },
  errors: ['InvalidRequest', 'Forbidden', 'Conflict'],
});

export const mintWorkspaceToken = route({
  id: 'mintWorkspaceToken',
  method: 'post',
  path: '/admin/workspaces/{id}/tokens',
  summary: "Mint a workspace's own token",
  tag: ADMIN,
  callers: ['admin'],
  params: workspacePath,
  responses: { 201: { description: 'the token', body: 'MintedToken' } },
  errors: ['Forbidden', 'WorkspaceNotFound'],
});

export const mintOrgToken = route({
  id: 'mintOrgToken',
  method: 'post',
  path: '/admin/orgs/{orgId}/tokens',
  summary: "Mint an org's token",
  tag: ADMIN,
  callers: ['admin'],
  params: orgPath,
  responses: { 201: { description: 'the token', body: 'MintedToken' } },
  errors: ['Forbidden', 'OrgNotFound'],
});

export const revokeToken = route({
  id: 'revokeToken',
  method: 'delete',
  path: '/admin/tokens/{prefix}',
  summary: 'Revoke the live tokens with this prefix',
  tag: ADMIN,
  callers: ['admin'],
  params: { prefix: TokenPrefix },
  responses: { 200: { description: 'revoked', body: 'RevokedToken' } },
  errors: ['Forbidden', 'NotFound'],
});

export const runCleanup = route({
  id: 'runCleanup',
  method: 'post',
  path: '/admin/cleanup/run',
  summary: 'Run the scheduled cleanup now',
  tag: ADMIN,
  callers: ['admin'],
  responses: { 200: { description: 'what the run started', body: 'CleanupSummary' } },
  errors: ['Forbidden'],
});

const PAGE_MEDIA = ['text/html', 'text/javascript', 'text/css', 'image/svg+xml'] as const;
const IF_NONE_MATCH = { 'If-None-Match': { schema: z.string(), description: 'the ETag of the copy the browser has' } } as const;

export const opsPage = route({
  id: 'opsPage',
  method: 'get',
  path: '/ops',
  summary: 'The operations page (HTML; it asks for the admin token and calls the API with it)',
  tag: OPS_PAGE,
  callers: ['anyone'],
  headers: IF_NONE_MATCH,
  responses: { 200: { description: 'the page', media: ['text/html'] }, 304: { description: 'unchanged' } },
  errors: [],
});

export const opsPageAsset = route({
  id: 'opsPageAsset',
  method: 'get',
  path: '/ops/{asset}',
  summary: "The operations page's script, stylesheet and icon",
  tag: OPS_PAGE,
  callers: ['anyone'],
  params: { asset: z.string() },
  headers: IF_NONE_MATCH,
  responses: { 200: { description: 'the file', media: PAGE_MEDIA }, 304: { description: 'unchanged' } },
  errors: ['NotFound'],
});

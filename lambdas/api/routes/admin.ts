import type { Router } from '../router.js';
import type { Ctx } from '../context.js';
import { parseBody } from '../context.js';
import { json } from '../http.js';
import { requireAdmin } from '../auth.js';
import { WORKSPACE_ID_RE, WorkspaceBody } from '../schemas.js';
import { getWorkspace, orgExists, upsertWorkspace } from '../../store/workspaces.js';
import { mintToken, revokeTokensByPrefix } from '../../store/tokens.js';
import { InvalidRequest, NotFound, OrgNotFound } from '../../shared/errors.js';
import { requireLiveWorkspace } from '../workspace.js';
import { INSTANCE_ID_RE } from '../../shared/types.js';

export function registerAdminRoutes(router: Router<Ctx>): void {
  router.on('PUT', '/admin/workspaces/{id}', async (ctx, { id }) => {
    requireAdmin(await ctx.principal());
    if (!WORKSPACE_ID_RE.test(id!)) throw new InvalidRequest('workspace id must be 1-128 letters, digits, ".", "_" or "-"');
    const body = parseBody(ctx.req, WorkspaceBody, ctx.deps.config.limits.maxBodyBytes);
    if (body.instanceId && !INSTANCE_ID_RE.test(body.instanceId)) {
      throw new InvalidRequest('instanceId must look like i-0123456789abcdef0');
    }
    const { workspace, created } = await upsertWorkspace(ctx.deps.db, id!, body);
    ctx.log.info(created ? 'workspace created' : 'workspace updated', { workspaceId: id, orgId: body.orgId });
    return json(created ? 201 : 200, workspace);
  });

  router.on('POST', '/admin/workspaces/{id}/tokens', async (ctx, { id }) => {
    requireAdmin(await ctx.principal());
    const workspace = requireLiveWorkspace(id!, WORKSPACE_ID_RE.test(id!) ? await getWorkspace(ctx.deps.db, id!) : null);
    const minted = await mintToken(ctx.deps.db, 'workspace', { orgId: workspace.orgId, workspaceId: workspace.id });
    ctx.log.info('workspace token minted', { workspaceId: id, prefix: minted.prefix });
    return json(201, minted);
  });

  router.on('POST', '/admin/orgs/{orgId}/tokens', async (ctx, { orgId }) => {
    requireAdmin(await ctx.principal());
    if (!(await orgExists(ctx.deps.db, orgId!))) throw new OrgNotFound(`org "${orgId}" not found`);
    const minted = await mintToken(ctx.deps.db, 'org', { orgId: orgId! });
    ctx.log.info('org token minted', { orgId, prefix: minted.prefix });
    return json(201, minted);
  });

  router.on('DELETE', '/admin/tokens/{prefix}', async (ctx, { prefix }) => {
    requireAdmin(await ctx.principal());
    const revoked = /^mpd_[ow]_[\w-]{8}$/.test(prefix!) ? await revokeTokensByPrefix(ctx.deps.db, prefix!) : 0;
    if (revoked === 0) throw new NotFound(`no live token with prefix "${prefix}"`);
    ctx.log.info('token revoked', { prefix, revoked });
    return json(200, { prefix, revoked });
  });

  router.on('POST', '/admin/cleanup/run', async (ctx) => {
    requireAdmin(await ctx.principal());
    return json(200, await ctx.deps.runCleanup());
  });
}

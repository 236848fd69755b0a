import type { Router } from '../router.js';
import type { Ctx } from '../context.js';
import { parseBody } from '../context.js';
import { json } from '../http.js';
import { authorizeOrg } from '../auth.js';
import { AllowlistBody } from '../schemas.js';
import { orgExists } from '../../store/workspaces.js';
import { getAllowlist, replaceAllowlist } from '../../store/allowlist.js';
import { InvalidPluginName } from '../../shared/errors.js';
import { PLUGIN_NAME_RE } from '../../shared/types.js';

export function registerAllowlistRoutes(router: Router<Ctx>): void {
  router.on('GET', '/orgs/{orgId}/plugins/allowlist', async (ctx, { orgId }) => {
    authorizeOrg(await ctx.principal(), orgId!, await orgExists(ctx.deps.db, orgId!));
    const plugins = await getAllowlist(ctx.deps.db, orgId!);
    return json(200, { org_id: orgId, plugins, allow_all: plugins.length === 0 });
  });

  router.on('PUT', '/orgs/{orgId}/plugins/allowlist', async (ctx, { orgId }) => {
    authorizeOrg(await ctx.principal(), orgId!, await orgExists(ctx.deps.db, orgId!));
    const body = parseBody(ctx.req, AllowlistBody, ctx.deps.config.limits.maxBodyBytes);
    const invalid = body.plugins.find((name) => !PLUGIN_NAME_RE.test(name));
    if (invalid !== undefined) throw new InvalidPluginName(`invalid plugin name "${invalid}"`);
    const plugins = await replaceAllowlist(ctx.deps.db, orgId!, body.plugins, body.enabled_by);
    ctx.log.info('allowlist replaced', { orgId, count: plugins.length });
    return json(200, { org_id: orgId, plugins, allow_all: plugins.length === 0 });
  });
}

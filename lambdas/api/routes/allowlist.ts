import type { ApiApp } from '../router.js';
import { toResponse } from '../router.js';
import { parseBody } from '../context.js';
import { json } from '../http.js';
import { AllowlistBody } from '../schemas.js';
import { readAllowlist, replaceAllowlist } from '../../operations/allowlist.js';
import { InvalidPluginName } from '../../shared/errors.js';
import { PLUGIN_NAME_RE } from '../../shared/types.js';

export function registerAllowlistRoutes(app: ApiApp): void {
  app.get('/orgs/:orgId/plugins/allowlist', async (c) => {
    const principal = await c.env.principal();
    const orgId = c.req.param('orgId');
    const plugins = await readAllowlist(c.env.deps.ports, { principal, orgId });
    return toResponse(json(200, { org_id: orgId, plugins, allow_all: plugins.length === 0 }));
  });

  app.put('/orgs/:orgId/plugins/allowlist', async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const orgId = c.req.param('orgId');
    const plugins = await replaceAllowlist(deps.ports, log, {
      principal,
      orgId,
      body: () => {
        const body = parseBody(req, AllowlistBody, deps.config.limits.maxBodyBytes);
        const names = body.plugins.map((entry) => (typeof entry === 'string' ? entry : entry.name));
        const invalid = names.find((name) => !PLUGIN_NAME_RE.test(name));
        if (invalid !== undefined) throw new InvalidPluginName(`invalid plugin name "${invalid}"`);
        return body;
      },
    });
    return toResponse(json(200, { org_id: orgId, plugins, allow_all: plugins.length === 0 }));
  });
}

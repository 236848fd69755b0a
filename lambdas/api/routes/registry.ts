import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseQuery } from '../context.js';
import * as routes from '../contract/routes.js';
import { registryFor } from '../../use-cases/queries.js';

export function registerRegistryRoutes(app: ApiApp): void {
  on(app, routes.listRegistry, async (c) => {
    await c.env.principal();
    const { runtime } = parseQuery(c.req.query(), routes.listRegistry.query);
    return reply(routes.listRegistry, 200, await registryFor(c.env.deps.ports.registry, runtime));
  });

  on(app, routes.listSourceSchemes, async (c) => {
    await c.env.principal();
    return reply(routes.listSourceSchemes, 200, { schemes: c.env.deps.ports.sources.schemes() });
  });
}

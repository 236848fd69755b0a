import type { ApiApp } from '../router.js';
import { toResponse } from '../router.js';
import { json } from '../http.js';
import { registryFor } from '../../operations/queries.js';

export function registerRegistryRoutes(app: ApiApp): void {
  app.get('/plugins', async (c) => {
    await c.env.principal();
    const runtime = c.req.query('runtime')?.trim();
    return toResponse(json(200, await registryFor(c.env.deps.ports.registry, runtime)));
  });

  app.get('/plugins/sources', async (c) => {
    await c.env.principal();
    return toResponse(json(200, { schemes: c.env.deps.ports.sources.schemes() }));
  });
}

import type { Router } from '../router.js';
import type { Ctx } from '../context.js';
import { json } from '../http.js';
import { supportsRuntime } from './plugins.js';

export function registerRegistryRoutes(router: Router<Ctx>): void {
  router.on('GET', '/plugins', async (ctx) => {
    await ctx.principal();
    const runtime = ctx.req.query.runtime?.trim();
    const entries = await ctx.deps.registry.list();
    return json(200, runtime ? entries.filter((e) => supportsRuntime(e.runtimes, runtime)) : entries);
  });

  router.on('GET', '/plugins/sources', async (ctx) => {
    await ctx.principal();
    return json(200, { schemes: ctx.deps.sources.schemes() });
  });
}

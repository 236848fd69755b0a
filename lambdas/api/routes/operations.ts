import type { Router } from '../router.js';
import type { Ctx } from '../context.js';
import { parseQuery } from '../context.js';
import { json } from '../http.js';
import { requireAdmin } from '../auth.js';
import { OperationsQuery } from '../schemas.js';
import { listOperations } from '../../store/operations.js';

export function registerOperationRoutes(router: Router<Ctx>): void {
  router.on('GET', '/operations', async (ctx) => {
    requireAdmin(await ctx.principal());
    const filter = parseQuery(ctx.req, OperationsQuery);
    return json(200, await listOperations(ctx.deps.db, filter));
  });
}

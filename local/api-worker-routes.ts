import type { ExtraRoutes } from '../lambdas/api/app.js';
import { toResponse } from '../lambdas/api/router.js';
import { parseValue, requireAdminScope } from '../lambdas/api/context.js';
import { InstanceId } from '../lambdas/api/schemas.js';
import { json } from '../lambdas/api/http.js';
import { InvalidRequest } from '../lambdas/shared/errors.js';

/**
 * What the stop/start routes change: the stack's `LocalInstances` when the API runs beside it, or
 * a message to the thread that owns them when the API runs in its worker (`api-worker.ts`).
 */
export interface InstanceSwitch {
  stop(instanceId: string): void | Promise<void>;
  start(instanceId: string): void | Promise<void>;
}

/** `POST /admin/local/instances/{id}/stop|start`: admin routes of the API like any other, answered by its error mapping. */
export function localInstanceRoutes(instances: InstanceSwitch): ExtraRoutes {
  return (app) => {
    for (const action of ['stop', 'start'] as const) {
      app.post(`/admin/local/instances/:instanceId/${action}`, async (c) => {
        await requireAdminScope(c.env);
        const instanceId = parseValue(c.req.param('instanceId'), InstanceId, () => new InvalidRequest('invalid instance id'));
        await instances[action](instanceId);
        return toResponse(json(200, { instanceId, state: action === 'stop' ? 'stopped' : 'running' }));
      });
    }
  };
}

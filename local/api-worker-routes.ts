import * as z from '../lambdas/shared/zod.js';
import type { ExtraRoutes } from '../lambdas/api/app.js';
import type { RouteContract } from '../lambdas/api/contract/routes.js';
import { on, reply } from '../lambdas/api/router.js';
import { parseValue, requireAdminScope } from '../lambdas/api/context.js';
import { InstanceId } from '../lambdas/api/schemas.js';
import { InvalidRequest } from '../lambdas/shared/errors.js';

/**
 * What the stop/start routes change: the stack's `LocalInstances` when the API runs beside it, or
 * a message to the thread that owns them when the API runs in its worker (`api-worker.ts`).
 */
export interface InstanceSwitch {
  stop(instanceId: string): void | Promise<void>;
  start(instanceId: string): void | Promise<void>;
}

const InstanceState = z.object({ instanceId: z.string(), state: z.enum(['stopped', 'running']) });

const instanceRoute = <A extends 'stop' | 'start'>(action: A) =>
  ({
    id: `${action}LocalInstance`,
    method: 'post',
    path: `/admin/local/instances/{instanceId}/${action}`,
    summary: `Local stack only: ${action} an emulated instance`,
    tag: { name: 'local stack', description: 'Routes only the local stack serves (`npm start`)' },
    callers: ['admin'],
    params: { instanceId: InstanceId },
    responses: { 200: { description: `the instance's state`, body: InstanceState } },
    errors: ['InvalidRequest', 'Forbidden'],
  }) as const satisfies RouteContract;

/** `POST /admin/local/instances/{id}/stop|start`: admin routes of the API like any other, answered by its error mapping and in its document. */
export function localInstanceRoutes(instances: InstanceSwitch): ExtraRoutes {
  return (app) => {
    for (const action of ['stop', 'start'] as const) {
      const route = instanceRoute(action);
      on(app, route, async (c) => {
        await requireAdminScope(c.env);
        const instanceId = parseValue(c.req.param('instanceId'), InstanceId, () => new InvalidRequest('invalid instance id'));
        await instances[action](instanceId);
        return reply(route, 200, { instanceId, state: action === 'stop' ? 'stopped' : 'running' });
      });
    }
  };
}

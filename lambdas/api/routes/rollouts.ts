import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseBody, parseQuery, parseValue } from '../context.js';
import { RolloutId } from '../schemas.js';
import * as routes from '../contract/routes.js';
import {
  cancelRollout,
  createRollout,
  listRollouts,
  rollbackRollout,
  loadRollout,
  patchRollout,
  resumeRollout,
  rolloutView,
  type RolloutDeps,
  type RolloutStore,
} from '../../use-cases/rollouts.js';
import { RolloutNotFound } from '../../shared/errors.js';
import { requireAdmin } from '../../use-cases/access.js';
import type { Rollout, RolloutCounts, RolloutTarget } from '../../store/rollouts.js';
import type { Plan } from '../../shared/types.js';

const rolloutIdParam = (id: string) => parseValue(id, RolloutId, () => new RolloutNotFound(`rollout "${id}" not found`));
const statusUrl = (r: Rollout) => `/orgs/${encodeURIComponent(r.orgId)}/rollouts/${r.id}`;

function summary(r: Rollout, counts: RolloutCounts) {
  return {
    rolloutId: r.id,
    orgId: r.orgId,
    status: r.status,
    kind: r.kind,
    plugin: r.plugin,
    source: r.source,
    sha256: r.sha256,
    maxConcurrency: r.maxConcurrency,
    maxErrors: r.maxErrors,
    canary: r.canary,
    failureMode: r.failureMode,
    cancelRequested: r.cancelRequested,
    counts: {
      total: counts.total,
      pending: counts.pending,
      running: counts.running,
      succeeded: counts.succeeded,
      failed: counts.failed,
      unreachable: counts.unreachable,
      skipped: counts.skipped,
    },
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.error ? { error: r.error } : {}),
  };
}

/** A listing's rows, their counts read in one round trip (a rollout always has targets). */
async function summaries(store: Pick<RolloutStore, 'countsOf'>, rollouts: Rollout[]) {
  const counts = await store.countsOf(rollouts.map((r) => r.id));
  return rollouts.map((r) => summary(r, counts.get(r.id) ?? NO_TARGETS));
}

const NO_TARGETS: RolloutCounts = { total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, unreachable: 0, skipped: 0, rolledBack: 0 };

function full(view: { rollout: Rollout; counts: RolloutCounts; targets: RolloutTarget[] }) {
  return {
    ...summary(view.rollout, view.counts),
    workspaces: view.targets.map((t) => ({
      workspaceId: t.workspaceId,
      status: t.status,
      ...(t.operationId ? { operationId: t.operationId } : {}),
      ...(t.error ? { error: t.error } : {}),
      ...(t.reason ? { reason: t.reason } : {}),
      ...(t.plan ? { plan: t.plan as Plan } : {}),
    })),
  };
}

/** SPEC §10: fleet rollouts of an org. */
export function registerRolloutRoutes(app: ApiApp): void {
  const deps = (c: { env: { deps: { ports: RolloutDeps } } }) => c.env.deps.ports;

  on(app, routes.createRollout, async (c) => {
    const { req, log } = c.env;
    const principal = await c.env.principal();
    const request = parseBody(req, routes.createRollout.body, c.env.deps.config.limits.maxBodyBytes);
    const rollout = await createRollout(deps(c), log, { principal, orgId: c.req.param('orgId'), request });
    return reply(routes.createRollout, 202, { rolloutId: rollout.id, statusUrl: statusUrl(rollout) });
  });

  on(app, routes.listRollouts, async (c) => {
    const principal = await c.env.principal();
    const orgId = c.req.param('orgId');
    const { limit } = parseQuery(c.req.query(), routes.listRollouts.query);
    const ports = deps(c);
    const rollouts = await listRollouts(ports, principal, orgId, limit);
    return reply(routes.listRollouts, 200, { rollouts: await summaries(ports.rollouts, rollouts) });
  });

  on(app, routes.listAllRollouts, async (c) => {
    const principal = await c.env.principal();
    requireAdmin(principal);
    const { limit } = parseQuery(c.req.query(), routes.listAllRollouts.query);
    const ports = deps(c);
    const rollouts = await ports.rollouts.listAll(limit);
    return reply(routes.listAllRollouts, 200, { rollouts: await summaries(ports.rollouts, rollouts) });
  });

  on(app, routes.getRollout, async (c) => {
    const principal = await c.env.principal();
    const rollout = await loadRollout(deps(c), principal, c.req.param('orgId'), rolloutIdParam(c.req.param('rolloutId')));
    return reply(routes.getRollout, 200, full(await rolloutView(deps(c), rollout)));
  });

  on(app, routes.patchRollout, async (c) => {
    const { req } = c.env;
    const principal = await c.env.principal();
    const body = parseBody(req, routes.patchRollout.body, c.env.deps.config.limits.maxBodyBytes);
    const rollout = await patchRollout(deps(c), principal, c.req.param('orgId'), rolloutIdParam(c.req.param('rolloutId')), body);
    return reply(routes.patchRollout, 200, full(await rolloutView(deps(c), rollout)));
  });

  on(app, routes.cancelRollout, async (c) => {
    const principal = await c.env.principal();
    const rollout = await cancelRollout(deps(c), principal, c.req.param('orgId'), rolloutIdParam(c.req.param('rolloutId')));
    return reply(routes.cancelRollout, 202, { rolloutId: rollout.id, statusUrl: statusUrl(rollout) });
  });

  on(app, routes.rollbackRollout, async (c) => {
    const principal = await c.env.principal();
    const rollout = await rollbackRollout(deps(c), c.env.log, principal, c.req.param('orgId'), rolloutIdParam(c.req.param('rolloutId')));
    return reply(routes.rollbackRollout, 202, { rolloutId: rollout.id, statusUrl: statusUrl(rollout) });
  });

  on(app, routes.resumeRollout, async (c) => {
    const { req } = c.env;
    const principal = await c.env.principal();
    const body = parseBody(req, routes.resumeRollout.body, c.env.deps.config.limits.maxBodyBytes, { allowEmpty: true });
    const rollout = await resumeRollout(deps(c), principal, c.req.param('orgId'), rolloutIdParam(c.req.param('rolloutId')), body.maxErrors);
    return reply(routes.resumeRollout, 202, { rolloutId: rollout.id, statusUrl: statusUrl(rollout) });
  });
}

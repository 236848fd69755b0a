import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Runtime } from '../runtime.js';
import type { Db } from '../store/db.js';
import { getOperation, getOperationByExecutionArn } from '../store/operations.js';
import { failStaleOperation, listStaleOperations, recordHostState } from '../store/reconcile.js';
import { createSfnClient, createSsmClient } from '../shared/aws.js';
import { logger } from '../shared/logger.js';
import { probePlugin, type DeliveryDeps } from '../delivery/index.js';
import { bindDb, pgWorkspaces } from '../use-cases/adapters/postgres.js';
import { sfnStarter } from '../use-cases/adapters/sfn.js';
import {
  reconcileExecution,
  reconcileStale,
  type ExecutionReader,
  type ExecutionStatus,
  type HostProber,
  type ReconcileDeps,
  type ReconcileStore,
} from '../use-cases/reconcile.js';
import { deliveryDeps } from './steps.js';
import { runningRollouts, setRolloutExecution } from '../store/rollouts.js';
import { rolloutDriverStarter } from '../rollouts/starter.js';
import { reconcileRollouts } from '../rollouts/reconcile.js';

/** Wires the reconciler to a Runtime: PostgreSQL, Step Functions' DescribeExecution, and the host transports. */

export function pgReconcileStore(db: Db): ReconcileStore {
  return bindDb(db, {
    listStale: listStaleOperations,
    get: getOperation,
    findByExecutionArn: getOperationByExecutionArn,
    recordHostState,
    failStale: failStaleOperation,
  });
}

const STATUSES = new Set<string>(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** DescribeExecution; an execution Step Functions does not know (lost with a local engine) is null. */
export function sfnExecutions(sfn: SFNClient): ExecutionReader {
  return {
    async describe(executionArn) {
      const { DescribeExecutionCommand } = await import('@aws-sdk/client-sfn'); // with the client's chunk, not at module load
      try {
        const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        // PENDING_REDRIVE is a failed execution that may be redriven: it runs no step now.
        const status = out.status && STATUSES.has(out.status) ? (out.status as ExecutionStatus) : 'FAILED';
        return { status, ...(out.error ? { error: out.error } : {}), ...(out.cause ? { cause: out.cause } : {}) };
      } catch (err) {
        if ((err as Error).name === 'ExecutionDoesNotExist') return null;
        throw err;
      }
    },
  };
}

export function hostProber(delivery: DeliveryDeps): HostProber {
  return { probe: (workspace, pluginName) => probePlugin(delivery, { workspace, pluginName }) };
}

export async function buildReconcileDeps({ db, config, aws }: Runtime): Promise<ReconcileDeps> {
  const [sfn, ssm] = await Promise.all([createSfnClient(aws), createSsmClient(aws)]);
  return {
    store: pgReconcileStore(db),
    workspaces: pgWorkspaces(db),
    executions: sfnExecutions(sfn),
    workflow: sfnStarter(sfn, config.stateMachineArn),
    host: hostProber(deliveryDeps(ssm, config, aws, db)),
    log: logger,
  };
}

/** The reconcile Lambda's two entries: a sweep of stale operations, or the one execution an event names. */
export async function buildReconcile(rt: Runtime) {
  const deps = await buildReconcileDeps(rt);
  const workflow = sfnStarter(await createSfnClient(rt.aws), rt.config.stateMachineArn);
  const { graceMs, batch } = rt.config.reconcile;
  const { db } = rt;
  const rollouts = {
    rollouts: { running: (olderThanMs: number, limit: number) => runningRollouts(db, olderThanMs, limit) },
    executions: deps.executions,
    driver: rolloutDriverStarter(workflow, (id, arn) => setRolloutExecution(db, id, arn)),
    log: deps.log,
  };
  return {
    sweep: async () => {
      const summary = await reconcileStale(deps, { graceMs, batch });
      await reconcileRollouts(rollouts, { graceMs, batch });
      return summary;
    },
    execution: (executionArn: string) => reconcileExecution(deps, executionArn),
  };
}

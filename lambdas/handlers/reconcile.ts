import * as z from '../shared/zod.js';
import { lazyHandler } from './lazy.js';
import { buildReconcile } from '../composition/reconcile.js';
import type { Reconciled, ReconcileSummary } from '../use-cases/reconcile.js';
import { emitMetric, METRIC } from '../shared/metrics.js';

/**
 * EventBridge's "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) names one
 * execution; anything else (the schedule's event) sweeps every stale operation.
 */
const StatusChange = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({ executionArn: z.string().check(z.minLength(1)) }),
});

export const handler = lazyHandler<unknown, ReconcileSummary | Reconciled | null>(async (rt) => {
  const reconcile = await buildReconcile(rt);
  return async (event) => {
    const change = StatusChange.safeParse(event);
    if (change.success) return reconcile.execution(change.data.detail.executionArn);
    const summary = await reconcile.sweep();
    if (summary) await emitMetric(METRIC.OperationsOverdue, summary.results.filter((r) => r.outcome === 'unknown').length);
    return summary;
  };
});

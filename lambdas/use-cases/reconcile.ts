import { ERROR_DECLARATIONS, ERROR_STATUS, errorFromStepFailure, type ErrorRecord } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Operation, Workspace } from '../shared/types.js';
import type { HostPlugin, HostStateChange, StaleOperationPage, StaleOperationQuery } from '../store/reconcile.js';
import type { WorkflowStarter, WorkspaceStore } from './ports.js';

/**
 * Issue #7: no execution may end (succeeded, failed, timed out, aborted, lost with its engine)
 * leaving its operation RUNNING. The reconciler asks Step Functions whether an old RUNNING
 * operation's execution still runs; when it does not, it asks the host what it really has for the
 * plugin, records that, and closes the operation with a documented code (which frees its lease).
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionReader {
  /** The execution's status and, when it failed, Step Functions' `{Error, Cause}`; null: it does not exist. */
  describe(executionArn: string): Promise<{ status: ExecutionStatus; error?: string; cause?: string } | null>;
}

/** What the last install wrote next to the plugin; the directory alone does not prove it. */
export interface InstalledIdentity {
  sha256: string;
  source: string;
  version: string | null;
  skills: string[];
  runtimes: string[];
}

/** `installed: null`: the plugin dir is there but nothing says what it is. */
export type HostReport = { present: false } | { present: true; version: string | null; installed: InstalledIdentity | null };

export interface HostProber {
  /** Throws when the host cannot be reached or does not answer. */
  probe(workspace: Workspace, pluginName: string): Promise<HostReport>;
}

export interface ReconcileStore {
  listStale(q: StaleOperationQuery): Promise<StaleOperationPage>;
  get(operationId: string): Promise<Operation | null>;
  /** The operation whose execution has this ARN (executions are named after what they do, not the id). */
  findByExecutionArn(executionArn: string): Promise<Operation | null>;
  recordHostState(workspaceId: string, name: string, onHost: HostPlugin | null): Promise<HostStateChange>;
  /** Compare-and-set close; false when the operation was no longer RUNNING. */
  failStale(operationId: string, error: ErrorRecord): Promise<boolean>;
}

export interface ReconcileDeps {
  store: ReconcileStore;
  workspaces: Pick<WorkspaceStore, 'get'>;
  executions: ExecutionReader;
  /** Derives the ARN of an operation whose execution ARN was never recorded. */
  workflow: Pick<WorkflowStarter, 'executionArnFor'>;
  host: HostProber;
  log: Log;
}

/** What the host check did: a change to the record, or why the record was left alone. */
export type HostOutcome = HostStateChange | 'unidentified' | 'unreachable' | 'not-touched';

export type Reconciled =
  | { operationId: string; outcome: 'running' }
  | { operationId: string; outcome: 'unknown'; reason: string }
  | { operationId: string; outcome: 'closed' | 'already-closed'; error: ErrorRecord; host: HostOutcome };

export interface ReconcileSummary {
  checked: number;
  results: Reconciled[];
}

/**
 * One sweep: every RUNNING operation older than `graceMs`, `batch` per page, oldest first. An
 * operation whose execution cannot be described now is left for the next sweep.
 */
export async function reconcileStale(deps: ReconcileDeps, { graceMs, batch }: { graceMs: number; batch: number }): Promise<ReconcileSummary> {
  const results: Reconciled[] = [];
  let cursor: string | null = null;
  do {
    const page: StaleOperationPage = await deps.store.listStale({ olderThanMs: graceMs, limit: batch, cursor });
    for (const operation of page.operations) results.push(await reconcileOperation(deps, operation));
    cursor = page.nextCursor;
  } while (cursor);
  const closed = results.filter((r) => r.outcome === 'closed').length;
  deps.log.info('reconcile sweep', { checked: results.length, closed });
  return { checked: results.length, results };
}

/**
 * An execution ended (the EventBridge status-change event): reconcile its operation, found by the
 * execution's ARN (or, for an execution named by the bare operation id, by that id). Null when
 * that operation is not ours or no longer RUNNING.
 */
export async function reconcileExecution(deps: ReconcileDeps, executionArn: string): Promise<Reconciled | null> {
  const lastSegment = executionArn.split(':').at(-1);
  const operation = (await deps.store.findByExecutionArn(executionArn)) ?? (lastSegment ? await deps.store.get(lastSegment) : null);
  if (operation?.status !== 'RUNNING') return null;
  if (operation.executionArn && operation.executionArn !== executionArn) return null;
  return reconcileOperation(deps, operation);
}

async function reconcileOperation(deps: ReconcileDeps, operation: Operation): Promise<Reconciled> {
  const { operationId } = operation;
  const executionArn = operation.executionArn ?? deps.workflow.executionArnFor(operation.executionName ?? operationId);
  let execution: Awaited<ReturnType<ExecutionReader['describe']>> = null;
  if (executionArn) {
    try {
      execution = await deps.executions.describe(executionArn);
    } catch (err) {
      deps.log.warn('reconcile: could not describe the execution', { operationId, error: (err as Error).message });
      return { operationId, outcome: 'unknown', reason: 'the execution could not be described' };
    }
  }
  if (execution?.status === 'RUNNING') return { operationId, outcome: 'running' };

  const host = await askHost(deps, operation);
  const error = closingError(execution, executionArn, host);
  const closed = await deps.store.failStale(operationId, error);
  deps.log.warn('reconcile: closed an operation its execution left RUNNING', {
    operationId,
    status: execution?.status ?? 'missing',
    code: error.code,
    host,
    closed,
  });
  return { operationId, outcome: closed ? 'closed' : 'already-closed', error, host };
}

/** Records what the host has for the operation's plugin; never throws for the host's sake. */
async function askHost(deps: ReconcileDeps, operation: Operation): Promise<HostOutcome> {
  // An install that never got past Stage names no plugin and never touched the host.
  if (!operation.plugin) return 'not-touched';
  const workspace = await deps.workspaces.get(operation.workspaceId);
  if (!workspace) return 'unreachable';
  let report: HostReport;
  try {
    report = await deps.host.probe(workspace, operation.plugin);
  } catch (err) {
    deps.log.warn('reconcile: the host could not be asked', { operationId: operation.operationId, error: (err as Error).message });
    return 'unreachable';
  }
  if (!report.present) return deps.store.recordHostState(operation.workspaceId, operation.plugin, null);
  if (!report.installed) return 'unidentified';
  const { installed } = report;
  return deps.store.recordHostState(operation.workspaceId, operation.plugin, {
    version: installed.version ?? report.version,
    sha256: installed.sha256,
    source: installed.source,
    skills: installed.skills,
    runtimes: installed.runtimes,
  });
}

const ENDED: Record<Exclude<ExecutionStatus, 'RUNNING'>, string> = {
  SUCCEEDED: 'its execution succeeded without recording the result',
  FAILED: 'its execution failed',
  TIMED_OUT: 'its execution timed out',
  ABORTED: 'its execution was aborted',
};

const HOST_NOTES: Partial<Record<HostOutcome, string>> = {
  unreachable: '; the workspace could not be asked what it has, so its plugin record was left as it was',
  unidentified: '; the workspace has the plugin but not what identifies it, so its plugin record was left as it was',
};

/**
 * The execution's own error when it is one of ours (a step threw a documented error that nothing
 * recorded), else delivery_failed saying why the workflow stopped.
 */
function closingError(execution: Awaited<ReturnType<ExecutionReader['describe']>>, executionArn: string | null, host: HostOutcome): ErrorRecord {
  const note = HOST_NOTES[host] ?? '';
  if (execution?.error && Object.hasOwn(ERROR_DECLARATIONS, execution.error)) {
    const own = errorFromStepFailure({ Error: execution.error, Cause: execution.cause });
    return { ...own, message: `${own.message}${note}` };
  }
  const why = execution ? ENDED[execution.status as keyof typeof ENDED] : executionArn ? 'its execution no longer exists' : 'its execution never started';
  return { code: 'delivery_failed', message: `the workflow stopped before the operation finished (${why})${note}`, httpStatus: ERROR_STATUS.delivery_failed };
}

import type { Db } from '../store/db.js';
import type { Log } from '../shared/logger.js';
import type { KeptTarballStore, WorkflowStarter } from '../use-cases/ports.js';
import { pgDriftSweep, postgresPorts } from '../use-cases/adapters/postgres.js';
import { startOperation, type OperationRequest } from '../use-cases/start.js';
import { runCleanup, type CleanupSummary } from '../use-cases/cleanup.js';

/** For callers that hold a pool rather than ports (the cleanup Lambda, the step tests). */
export function startOperationOnDb(deps: { db: Db; workflow: WorkflowStarter; log: Log }, request: OperationRequest) {
  return startOperation({ ...postgresPorts(deps.db, deps.workflow), log: deps.log }, request);
}

export function runCleanupOnDb(deps: {
  db: Db;
  workflow: WorkflowStarter;
  log: Log;
  batch: number;
  tarballs?: KeptTarballStore;
  /** The drift sweep's settings (config.driftSweep); absent: none. */
  driftSweep?: { batch: number; afterMs: number };
}): Promise<CleanupSummary> {
  return runCleanup({
    ...postgresPorts(deps.db, deps.workflow),
    log: deps.log,
    batch: deps.batch,
    ...(deps.tarballs ? { tarballs: deps.tarballs } : {}),
    ...(deps.driftSweep ? { driftSweep: { store: pgDriftSweep(deps.db), ...deps.driftSweep } } : {}),
  });
}

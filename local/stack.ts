import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDatabase } from './database.js';
import { startLocalS3 } from './s3.js';
import { startSsmEmulator } from './ssm-emulator.js';
import { startEicEmulator } from './eic-emulator.js';
import { armedLater, faultsFromEnv, type Faults } from './faults.js';
import { LocalInstances, LOCAL_HEALTH_COMMAND, LOCAL_RESTART_COMMAND } from './instances.js';
import { spawnApiThread, type ThreadUsage } from './api-worker.js';
import { seedDemo, type DemoSeed } from './seed.js';
import { seedRegistry } from './registry.js';
import { createLocalEngine, type LocalEngine } from './sfn/engine.js';
import { startSfnEmulator } from './sfn/server.js';
import { synthesizeDefinition } from '../infra/workflow.js';
import { getRuntime, resetRuntime } from '../lambdas/runtime.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { handler as cleanupHandler } from '../lambdas/handlers/cleanup.js';
import { handler as reconcileHandler } from '../lambdas/handlers/reconcile.js';
import { startScheduler } from './scheduler.js';
import { resetHandlers } from '../lambdas/handlers/lazy.js';
import { localRetryIntervals, STEP_HANDLERS } from './step-handlers.js';
import { createS3Client } from '../lambdas/shared/aws.js';
import { logger } from '../lambdas/shared/logger.js';

export interface LocalStackOptions {
  port: number;
  localDir: string;
  adminToken?: string;
  databaseUrl?: string;
  registryDirs: string[];
  /** Keep the embedded database in memory instead of under localDir (tests, benchmarks). */
  ephemeralDatabase?: boolean;
  /** What the emulators get wrong on purpose; default: `MOLECULE_LOCAL_FAULTS`. */
  faults?: Faults;
  /** How often the Cleanup handler runs; default `PLUGIN_CLEANUP_INTERVAL` (15m). */
  cleanupIntervalMs?: number;
  /** How often stale operations are reconciled; default `PLUGIN_RECONCILE_INTERVAL` (10s). */
  reconcileIntervalMs?: number;
  /**
   * Benchmarks: what stands between the system and its services, e.g. a counting proxy. `s3`
   * replaces the S3 endpoint for everyone (API, steps, the hosts' presigned URLs); `apiDatabase`
   * the database URL of the API thread only. Each gets the real URL and returns the one to use.
   */
  interpose?: { s3?: (url: string) => Promise<string>; apiDatabase?: (url: string) => Promise<string> };
}

export interface LocalStack {
  url: string;
  adminToken: string;
  adminTokenGenerated: boolean;
  localDir: string;
  databaseEmbedded: boolean;
  demo: DemoSeed;
  engine: LocalEngine;
  instances: LocalInstances;
  /** CPU and event-loop use of the API's own thread since the previous call. */
  apiUsage(): Promise<ThreadUsage>;
  close(): Promise<void>;
}

/**
 * The whole system on one machine (SPEC §8): Postgres (given or embedded), S3 (s3rver), SSM and
 * EC2 Instance Connect (with an SSH server) emulators running commands against emulated
 * instance roots, the CDK-synthesized state machine
 * on a local engine with every Task bound to its real step handler, and the API Lambda's
 * handler behind HTTP in a worker thread of its own (`api-worker.ts`), so the workflows running
 * in this thread never hold up its answers. The Lambda code finds all of it through the same
 * environment variables it reads on AWS.
 */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const localDir = resolve(opts.localDir);
  mkdirSync(localDir, { recursive: true });
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await Promise.resolve(closeOne()).catch(() => undefined);
  };
  try {
    const adminToken = opts.adminToken || `mpd_admin_${randomBytes(18).toString('base64url')}`;
    const instances = new LocalInstances(join(localDir, 'instances'));
    // The API's thread loads its modules while the rest starts; it serves once started below.
    const apiThread = spawnApiThread({ instances, log: logger });
    closers.push(() => apiThread.close());
    const database = await openDatabase({
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.ephemeralDatabase ? {} : { dataDir: join(localDir, 'pgdata') }),
    });
    closers.push(() => database.close());

    const config = loadConfig();
    const cleanupEvery = opts.cleanupIntervalMs ?? config.cleanupIntervalMs;
    let ready = false;
    const faults = armedLater(opts.faults ?? faultsFromEnv(), () => ready);
    const s3 = await startLocalS3({ directory: join(localDir, 's3'), buckets: [...new Set([config.stagingBucket, config.registryBucket])], faults });
    closers.push(() => s3.close());
    const s3Url = opts.interpose?.s3 ? await opts.interpose.s3(s3.url) : s3.url;

    const ssm = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, faults });
    closers.push(() => ssm.close());
    // Its EC2 Instance Connect Endpoint checks presigned tunnels against the credentials and region set below.
    const eic = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, faults, region: config.region });
    closers.push(() => eic.close());

    const { definition } = synthesizeDefinition();
    Object.assign(process.env, {
      DATABASE_URL: database.url,
      ADMIN_TOKEN: adminToken,
      AWS_REGION: config.region,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: s3Url,
      AWS_ENDPOINT_URL_SSM: ssm.url,
      // EC2, EC2 Instance Connect and the SSH port of the EIC emulator; its host key is pinned.
      ...eic.env,
      PLUGIN_RESTART_COMMAND: process.env.PLUGIN_RESTART_COMMAND ?? LOCAL_RESTART_COMMAND,
      // Blank counts as unset, as loadConfig reads it; the real default would ask Docker.
      PLUGIN_HEALTH_COMMAND: process.env.PLUGIN_HEALTH_COMMAND?.trim() ? process.env.PLUGIN_HEALTH_COMMAND : LOCAL_HEALTH_COMMAND,
      // A rollout locally ticks every second: its installs take a second or less, not a minute.
      PLUGIN_ROLLOUT_TICK: process.env.PLUGIN_ROLLOUT_TICK ?? '1s',
      PLUGIN_SSM_POLL_INTERVAL: process.env.PLUGIN_SSM_POLL_INTERVAL ?? '25ms',
      DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX ?? '10',
    });
    // Every Task runs the very function its Lambda exports; they build their runtime on first use.
    const engine = createLocalEngine({ definition, handlers: STEP_HANDLERS, retryIntervalOverrides: localRetryIntervals(definition) });
    const sfn = await startSfnEmulator({ engine });
    closers.push(() => sfn.close());
    process.env.AWS_ENDPOINT_URL_SFN = sfn.url;
    process.env.STATE_MACHINE_ARN = engine.stateMachineArn;
    await resetRuntime();
    resetHandlers();
    closers.push(() => resetRuntime());
    closers.push(() => engine.stop());

    const rt = await getRuntime();
    const s3Client = await createS3Client(rt.aws);
    await seedRegistry(s3Client, { bucket: rt.config.registryBucket, prefix: rt.config.registryPrefix }, opts.registryDirs, {
      limits: rt.config.limits,
      log: logger,
    });
    const demo = await seedDemo(rt.db, instances);

    // The API's thread gets this environment (set above) and its own database pool.
    const api = await apiThread.start({
      port: opts.port,
      maxBodyBytes: rt.config.limits.maxBodyBytes,
      env: opts.interpose?.apiDatabase ? { DATABASE_URL: await opts.interpose.apiDatabase(database.url) } : {},
    });
    closers.push(() => api.close()); // first of all: no request reaches a service already closed
    ready = true;
    // The schedule EventBridge runs on AWS, with the very handler the Cleanup Lambda exports.
    const cleanup = startScheduler({
      name: 'cleanup',
      intervalMs: cleanupEvery,
      run: () => cleanupHandler({}),
      describe: (summary) => ({
        started: summary.started.length,
        failedToStart: summary.failedToStart.length,
        purgedRows: summary.purgedRows,
        ...(summary.driftSweep ? { verifiesStarted: summary.driftSweep.started.length, driftedWorkspaces: summary.driftSweep.driftedWorkspaces } : {}),
      }),
      log: logger,
    });
    closers.push(() => cleanup.stop());
    // The engine keeps executions in memory, so a restarted stack has lost those of the last run:
    // the reconciler closes their operations, at start-up and then on its interval, with the very
    // handler the Reconcile Lambda exports (its sweep, as the schedule runs it on AWS).
    const reconcile = startScheduler({
      name: 'reconcile',
      intervalMs: opts.reconcileIntervalMs ?? config.reconcile.intervalMs,
      run: () => reconcileHandler({}),
      describe: (summary) =>
        summary && 'checked' in summary ? { checked: summary.checked, closed: summary.results.filter((r) => r.outcome === 'closed').length } : {},
      log: logger,
      immediately: true,
    });
    closers.push(() => reconcile.stop());
    if (Object.keys(faults.rates).length > 0) logger.warn('local emulators inject faults', { faults: faults.rates });

    return {
      url: api.url,
      adminToken,
      adminTokenGenerated: !opts.adminToken,
      localDir,
      databaseEmbedded: database.embedded,
      demo,
      engine,
      instances,
      apiUsage: () => api.usage(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** `POST /admin/local/instances/{id}/stop|start`, served by the API's thread. */
export { localInstanceRoutes } from './api-worker-routes.js';

import { startAwsJsonServer } from './aws-json-server.js';
import { NO_FAULTS, type Faults } from './faults.js';
import { ssmFault, ssmOperations } from './ssm-operations.js';
import { createCommandRunner } from './ssm-runner.js';

/**
 * Enough of the SSM API (AWS JSON 1.1) for the real `SSMClient`: the operations in
 * ssm-operations.ts over the command runner in ssm-runner.ts. Each emulated instance's root
 * filesystem is `<rootDir>/<instanceId>/`, created on first use; commands run there as the current
 * user with `MOLECULE_HOST_ROOT` pointing at it (host-process.ts). Like the real agent, commands
 * run with `sh`.
 */
export interface SsmEmulatorOptions {
  /** Holds one directory per instance: `${MOLECULE_LOCAL_DIR}/instances` in the local stack. */
  rootDir: string;
  port?: number;
  /** A stopped instance is not Online and its commands are Undeliverable. Default: all running. */
  isRunning?: (instanceId: string) => boolean;
  /** MOLECULE_LOCAL_FAULTS; default none. */
  faults?: Faults;
  /** How long `ssm.lost_invocation` hides an invocation after SendCommand (default 2 s). */
  lostInvocationMs?: number;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
}

export interface SsmEmulator {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOST_INVOCATION_MS = 2_000;

export async function startSsmEmulator(opts: SsmEmulatorOptions): Promise<SsmEmulator> {
  const faults = opts.faults ?? NO_FAULTS;
  const runner = await createCommandRunner(opts.rootDir);
  const operations = ssmOperations({
    runner,
    rootDir: opts.rootDir,
    isRunning: opts.isRunning ?? (() => true),
    faults,
    lostInvocationMs: opts.lostInvocationMs ?? LOST_INVOCATION_MS,
    now: opts.now ?? Date.now,
  });
  const server = await startAwsJsonServer({
    targetPrefix: 'AmazonSSM',
    contentType: 'application/x-amz-json-1.1',
    operations,
    fault: () => ssmFault(faults),
    port: opts.port ?? 0,
  }).catch(async (err: unknown) => {
    await runner.close();
    throw err;
  });
  return {
    url: server.url,
    port: server.port,
    async close() {
      await server.close();
      await runner.close();
    },
  };
}

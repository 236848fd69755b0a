import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostRun, startHostSpawner } from './host-process.js';

/**
 * The process side of the SSM emulator: runs each command's `AWS-RunShellScript` lines with `sh`
 * in the instance's root, from the host spawner's process (host-process.ts), keeps every invocation's status and output as
 * GetCommandInvocation reports them, and stops them on timeout or cancel. ssm-operations.ts is
 * the API on top of it.
 */

/** SSM's own limits on what GetCommandInvocation returns. */
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const MAX_KEPT_COMMANDS = 500;

export interface Invocation {
  instanceId: string;
  status: string;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  startedAt?: Date;
  endedAt?: Date;
  run?: HostRun;
  stopReason?: 'timeout' | 'cancel';
  /** Until then GetCommandInvocation answers InvocationDoesNotExist (the `ssm.lost_invocation` fault). */
  hiddenUntil?: number;
}

export interface Command {
  commandId: string;
  requestedAt: Date;
  comment: string;
  documentName: string;
  parameters: Record<string, string[]>;
  timeoutSeconds: number;
  invocations: Map<string, Invocation>;
}

export interface CommandRequest {
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  timeoutSeconds: number;
  /** The instances it goes to, each with whether the agent is reachable (a stopped instance is not). */
  targets: Array<{ instanceId: string; delivered: boolean; hiddenUntil?: number }>;
}

export interface CommandRunner {
  send(request: CommandRequest): Command;
  get(commandId: string): Command | undefined;
  cancel(command: Command, instanceIds: readonly string[]): void;
  close(): Promise<void>;
}

export async function createCommandRunner(rootDir: string): Promise<CommandRunner> {
  const scriptDir = await mkdtemp(join(tmpdir(), 'molecule-ssm-'));
  const commands = new Map<string, Command>();
  const spawner = startHostSpawner();

  function forget(): void {
    for (const [id, command] of commands) {
      if (commands.size <= MAX_KEPT_COMMANDS) return;
      if ([...command.invocations.values()].every((inv) => !inv.run)) commands.delete(id);
    }
  }

  function execute(command: Command, invocation: Invocation): void {
    const script = (command.parameters.commands ?? []).join('\n');
    const timeoutSeconds = Number(command.parameters.executionTimeout?.[0] ?? 3600);
    const scriptPath = join(scriptDir, `${command.commandId}-${invocation.instanceId}.sh`);

    const run = async () => {
      await writeFile(scriptPath, script, { mode: 0o700 });
      const host = spawner.run(
        {
          root: join(rootDir, invocation.instanceId),
          command: 'sh',
          args: [scriptPath],
          env: { AWS_SSM_INSTANCE_ID: invocation.instanceId, AWS_SSM_REGION_NAME: 'us-east-1' },
        },
        // Four bytes per character is the UTF-8 worst case, so this always covers the limits.
        { stdoutBytes: STDOUT_LIMIT * 4, stderrBytes: STDERR_LIMIT * 4 },
      );
      invocation.run = host;
      invocation.status = invocation.statusDetails = 'InProgress';
      invocation.startedAt = new Date();
      const timer = setTimeout(() => stop(invocation, 'timeout'), timeoutSeconds * 1000);
      try {
        const { code, stdout, stderr } = await host.exited;
        invocation.stdout = stdout.toString('utf8').slice(0, STDOUT_LIMIT);
        invocation.stderr = stderr.toString('utf8').slice(0, STDERR_LIMIT);
        invocation.responseCode = code ?? -1;
        if (invocation.stopReason === 'timeout') {
          invocation.status = 'TimedOut';
          invocation.statusDetails = 'ExecutionTimedOut';
        } else if (invocation.stopReason === 'cancel') {
          invocation.status = invocation.statusDetails = 'Cancelled';
        } else {
          invocation.status = invocation.statusDetails = code === 0 ? 'Success' : 'Failed';
        }
      } finally {
        clearTimeout(timer);
        invocation.run = undefined;
        invocation.endedAt = new Date();
        void rm(scriptPath, { force: true });
      }
    };
    run().catch((err: unknown) => {
      invocation.status = invocation.statusDetails = 'Failed';
      invocation.stderr = `emulator could not start the command: ${(err as Error).message}`.slice(0, STDERR_LIMIT);
      invocation.endedAt = new Date();
    });
  }

  function stop(invocation: Invocation, reason: 'timeout' | 'cancel'): void {
    if (!invocation.run) return;
    invocation.stopReason = reason;
    invocation.status = invocation.statusDetails = reason === 'cancel' ? 'Cancelling' : invocation.status;
    invocation.run.stop();
  }

  return {
    send(request) {
      const command: Command = {
        commandId: randomUUID(),
        requestedAt: new Date(),
        comment: request.comment,
        documentName: request.documentName,
        parameters: request.parameters,
        timeoutSeconds: request.timeoutSeconds,
        invocations: new Map(),
      };
      for (const { instanceId, delivered, hiddenUntil } of request.targets) {
        const invocation: Invocation = {
          instanceId,
          status: delivered ? 'Pending' : 'Failed',
          statusDetails: delivered ? 'Pending' : 'Undeliverable',
          responseCode: -1,
          stdout: '',
          stderr: '',
          ...(hiddenUntil !== undefined && { hiddenUntil }),
        };
        command.invocations.set(instanceId, invocation);
        if (delivered) execute(command, invocation);
      }
      commands.set(command.commandId, command);
      forget();
      return command;
    },

    get: (commandId) => commands.get(commandId),

    cancel(command, instanceIds) {
      for (const id of instanceIds) {
        const invocation = command.invocations.get(id);
        if (invocation) stop(invocation, 'cancel');
      }
    },

    async close() {
      // The spawner kills what still runs.
      await spawner.close();
      await rm(scriptDir, { recursive: true, force: true });
    },
  };
}

import type { PluginDeliveryClient } from '../client.js';
import type { Printer } from './format.js';
import type { Io } from './io.js';
import { outcome, stepProgress } from './ops-view.js';

/**
 * Waits for an accepted install or uninstall, printing each workflow step on stderr as it starts and
 * ends; returns the exit status: 0 succeeded (or --no-wait), 1 failed, 3 still running at the timeout.
 */
export async function follow(
  client: PluginDeliveryClient,
  workspace: string,
  accepted: { operationId: string },
  noWait: boolean,
  timeoutSeconds: number,
  io: Io,
  print: Printer,
): Promise<number> {
  const { operationId } = accepted;
  if (noWait) {
    print.result(accepted, `accepted: operation ${operationId} (follow it with: molecule-plugins status ${workspace} ${operationId})`);
    return 0;
  }
  const shown = new Map<string, string>();
  const op = await client.waitForOperation(workspace, operationId, {
    timeoutMs: timeoutSeconds * 1000,
    onChange: (latest) => {
      for (const step of latest.steps) {
        if (shown.get(step.name) === step.status) continue;
        shown.set(step.name, step.status);
        io.stderr(`  ${step.name.padEnd(15)} ${stepProgress(step)}\n`);
      }
    },
  });
  if (op.status === 'FAILED') print.failure(op, outcome(op));
  else print.result(op, outcome(op));
  if (op.status === 'RUNNING') {
    io.stderr(`still running after ${timeoutSeconds} s; follow it with: molecule-plugins status ${workspace} ${operationId}\n`);
    return 3;
  }
  return op.status === 'SUCCEEDED' ? 0 : 1;
}

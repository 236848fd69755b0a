import type { SFNClient } from '@aws-sdk/client-sfn';
import { currentTraceHeader, traced } from '../../shared/tracing.js';
import type { WorkflowStarter } from '../ports.js';

/**
 * Starts delivery executions on the state machine, under the name the operation chose (see
 * shared/execution-name.ts), with the caller's X-Ray trace header so the execution joins its trace.
 */
/**
 * The SDK package's commands, imported once (with the client's chunk, not at module load): an
 * `import()` per request costs a module resolution each time, and under the local stack's loader
 * hooks a message to their thread (0.4 ms of the API thread's ~5 ms per accept, issue #28).
 */
let sfnCommands: Promise<typeof import('@aws-sdk/client-sfn')> | undefined;
const commands = () => (sfnCommands ??= import('@aws-sdk/client-sfn'));

export function sfnStarter(sfn: SFNClient, stateMachineArn: string | undefined, traceHeader: () => string | undefined = currentTraceHeader): WorkflowStarter {
  return {
    async start(name, input) {
      if (!stateMachineArn) throw new Error('STATE_MACHINE_ARN is not set');
      const header = traceHeader();
      const { StartExecutionCommand } = await commands();
      const subject: Record<string, string> = input.kind === 'rollout' ? { rolloutId: String(input.rolloutId) } : { operationId: String(input.operationId) };
      const out = await traced('StartExecution', { ...subject, executionName: name }, () =>
        sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input), ...(header ? { traceHeader: header } : {}) })),
      );
      if (!out.executionArn) throw new Error('StartExecution answered without an execution ARN');
      return out.executionArn;
    },
    executionArnFor(name) {
      return stateMachineArn?.includes(':stateMachine:') ? `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}` : null;
    },
  };
}

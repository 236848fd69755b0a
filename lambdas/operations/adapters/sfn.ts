import type { SFNClient } from '@aws-sdk/client-sfn';
import type { WorkflowStarter } from '../ports.js';

/** Starts delivery executions on the state machine; the execution is named after the operation. */
export function sfnStarter(sfn: SFNClient, stateMachineArn: string | undefined): WorkflowStarter {
  return {
    async start(name, input) {
      if (!stateMachineArn) throw new Error('STATE_MACHINE_ARN is not set');
      const { StartExecutionCommand } = await import('@aws-sdk/client-sfn'); // with the client's chunk, not at module load
      const out = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
      if (!out.executionArn) throw new Error('StartExecution answered without an execution ARN');
      return out.executionArn;
    },
    executionArnFor(name) {
      return stateMachineArn?.includes(':stateMachine:') ? `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}` : null;
    },
  };
}

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { sfnStarter } from '../../../lambdas/operations/adapters/sfn.js';
import type { WorkflowState } from '../../../lambdas/shared/types.js';

const sfn = mockClient(SFNClient);
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:molecule-plugin-delivery';
const input = { operationId: '3f9a1c2e-7b44-4d0e-9a55-0123456789ab', kind: 'install' } as unknown as WorkflowState;
const HEADER = 'Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1';

describe('sfnStarter', () => {
  const saved = process.env._X_AMZN_TRACE_ID;
  beforeEach(() => {
    sfn.reset();
    sfn.on(StartExecutionCommand).callsFake(async ({ name }: { name: string }) => ({
      executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${name}`,
      startDate: new Date(),
    }));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env._X_AMZN_TRACE_ID;
    else process.env._X_AMZN_TRACE_ID = saved;
  });

  it("passes the API invocation's X-Ray trace header into StartExecution, so the execution joins the request's trace", async () => {
    process.env._X_AMZN_TRACE_ID = HEADER;
    const arn = await sfnStarter(new SFNClient({ region: 'eu-west-1' }), MACHINE).start('install-ws-1-demo-3f9a1c2e', input);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: MACHINE, name: 'install-ws-1-demo-3f9a1c2e', traceHeader: HEADER });
    expect(arn.endsWith(':install-ws-1-demo-3f9a1c2e')).toBe(true);
  });

  it('starts without a trace header where there is none (the local stack)', async () => {
    delete process.env._X_AMZN_TRACE_ID;
    await sfnStarter(new SFNClient({ region: 'eu-west-1' }), MACHINE).start('install-ws-1-demo-3f9a1c2e', input);
    const [call] = sfn.commandCalls(StartExecutionCommand);
    expect(call?.args[0].input).not.toHaveProperty('traceHeader');
  });

  it('derives the ARN an execution of that name will have', () => {
    expect(sfnStarter(new SFNClient({ region: 'eu-west-1' }), MACHINE).executionArnFor('uninstall-ws-1-demo-3f9a1c2e')).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:molecule-plugin-delivery:uninstall-ws-1-demo-3f9a1c2e',
    );
  });
});

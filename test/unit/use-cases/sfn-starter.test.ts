import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { SFNClient, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { sfnStarter } from '../../../lambdas/use-cases/adapters/sfn.js';
import { startOperation } from '../../../lambdas/use-cases/start.js';
import { logger } from '../../../lambdas/shared/logger.js';
import type { WorkflowState } from '../../../lambdas/workflow/steps/state.js';
import { fakeClock, fakeOperations, workspace } from '../../support/operation-fakes.js';

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

describe('starting an operation when Step Functions fails', () => {
  beforeEach(() => sfn.reset());

  it.each([
    ['ThrottlingException', 'client', 400, 'Rate exceeded'],
    ['ServiceUnavailable', 'server', 503, 'Service unavailable for arn:aws:states:eu-west-1:123456789012:stateMachine:molecule'],
    ['AccessDeniedException', 'client', 400, 'User: arn:aws:sts::123456789012:assumed-role/api is not authorized to perform: states:StartExecution'],
  ] as const)('answers a %s 503 platform_unavailable and closes the operation in its own words', async (name, fault, status, message) => {
    sfn.on(StartExecutionCommand).rejects(new SFNServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message }));
    const clock = fakeClock();
    const operations = fakeOperations(clock);
    const request = {
      kind: 'install' as const,
      workspace: workspace('ws-1'),
      source: 'local://demo',
      plugin: 'demo',
      expectedSha256: null,
      restart: true,
      uninstallAt: null,
      idempotencyKey: null,
      actorPrefix: 'test',
      asked: {},
    };

    const err = await startOperation({ workflow: sfnStarter(new SFNClient({ region: 'eu-west-1' }), MACHINE), operations, clock, log: logger }, request).catch(
      (e: unknown) => e,
    );

    expect(err).toMatchObject({ code: 'platform_unavailable', status: 503 });
    expect((err as Error).message).not.toContain(message);
    const [closed] = operations.rows.values();
    expect(closed).toMatchObject({ status: 'FAILED', error: { code: 'platform_unavailable', httpStatus: 503 } });
    expect(JSON.stringify(closed)).not.toContain(message);
  });
});

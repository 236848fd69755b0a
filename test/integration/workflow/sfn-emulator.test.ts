import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngine } from '../../../local/sfn/engine.js';
import { startSfnEmulator, type SfnEmulator } from '../../../local/sfn/server.js';
import { engineWith, installState, namedError, recordingHandlers } from './fixtures.js';

let engine: LocalEngine;
let emulator: SfnEmulator;
let sfn: SFNClient;
let releaseHeld: () => void = () => undefined;

beforeAll(async () => {
  const recorder = recordingHandlers({
    Stage: async (state) => {
      if (state.source === 'local://broken') throw namedError('InvalidArchive', 'not a gzip stream');
      if (state.source === 'local://held') await new Promise<void>((resolve) => (releaseHeld = resolve));
      return { ...state, visitedStage: true };
    },
  });
  engine = engineWith(recorder);
  emulator = await startSfnEmulator({ engine });
  sfn = new SFNClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  releaseHeld();
  sfn.destroy();
  engine.stop();
  await emulator.close();
});

async function untilDone(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  for (;;) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the Step Functions emulator, through the real SFNClient', () => {
  it('starts an execution and describes it until it succeeds', async () => {
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-ok', input: JSON.stringify(installState()) }),
    );
    expect(started.executionArn).toBe(engine.stateMachineArn.replace(':stateMachine:', ':execution:') + ':op-ok');
    expect(started.startDate).toBeInstanceOf(Date);

    const done = await untilDone(started.executionArn ?? '');
    expect(done).toMatchObject({ status: 'SUCCEEDED', name: 'op-ok', stateMachineArn: engine.stateMachineArn });
    expect(JSON.parse(done.output ?? 'null')).toMatchObject({ operationId: 'op-1', visitedRecord: true });
    expect(done.stopDate?.getTime()).toBeGreaterThanOrEqual(done.startDate?.getTime() ?? Infinity);
  });

  it('reports the failing step error and cause of a failed execution', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, input: JSON.stringify(installState({ source: 'local://broken' })) }),
    );
    const done = await untilDone(executionArn ?? '');

    expect(done).toMatchObject({ status: 'FAILED', error: 'InvalidArchive' });
    expect(JSON.parse(done.cause ?? '')).toMatchObject({ errorMessage: 'not a gzip stream' });
  });

  it('returns the history with each state entered by name and the Lambda failure', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, input: JSON.stringify(installState({ source: 'local://broken' })) }),
    );
    await untilDone(executionArn ?? '');
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));

    expect(events[0]?.type).toBe('ExecutionStarted');
    expect(events.filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails?.name)).toEqual(['Stage', 'RecordFailure']);
    expect(events.find((e) => e.type === 'LambdaFunctionFailed')?.lambdaFunctionFailedEventDetails?.error).toBe('InvalidArchive');
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionFailed', executionFailedEventDetails: { error: 'InvalidArchive' } });
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));

    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 2, reverseOrder: true }));
    expect(page.events?.map((e) => e.type)).toEqual(['ExecutionFailed', 'FailStateEntered']);
    expect(page.nextToken).toBeDefined();
  });

  it('is idempotent for the same name and input while running, and refuses a different input', async () => {
    const input = JSON.stringify(installState({ source: 'local://held' }));
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input }));
    expect(again.executionArn).toBe(first.executionArn);

    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input: JSON.stringify(installState()) })),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);

    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: engine.stateMachineArn, statusFilter: 'RUNNING' }));
    expect(listed.executions?.map((e) => e.name)).toEqual(['op-held']);

    const { stopDate } = await sfn.send(new StopExecutionCommand({ executionArn: first.executionArn, error: 'Cancelled', cause: 'test' }));
    expect(stopDate).toBeInstanceOf(Date);
    releaseHeld();
    expect(await untilDone(first.executionArn ?? '')).toMatchObject({ status: 'ABORTED', error: 'Cancelled' });
  });

  it('answers unknown executions and state machines with the AWS errors', async () => {
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: engine.stateMachineArn.replace(':stateMachine:', ':execution:') + ':nope' })),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:other', input: '{}' })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });
});

import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngine } from '../../../local/sfn/engine.js';
import { startSfnEmulator, type SfnEmulator } from '../../../local/sfn/server.js';
import { engineWith, installState, namedError, recordingHandlers } from '../../support/workflow-fixtures.js';

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
    expect(started.executionArn).toBe(`${engine.stateMachineArn.replace(':stateMachine:', ':execution:')}:op-ok`);
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

  it("keeps the engine's history of a failed execution: each state entered by name and the failure", async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, input: JSON.stringify(installState({ source: 'local://broken' })) }),
    );
    await untilDone(executionArn ?? '');
    const { events } = engine.history(executionArn ?? '');

    expect(events[0]?.type).toBe('ExecutionStarted');
    const tasksEntered = events.filter((e) => e.type === 'StateEntered' && e.state?.type === 'Task').map((e) => e.state?.name);
    expect(tasksEntered).toEqual(['Stage', 'RecordFailure']);
    expect(events.find((e) => e.type === 'StateFailed')).toMatchObject({ state: { name: 'Stage' }, error: 'InvalidArchive' });
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionFailed', error: 'InvalidArchive' });
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  });

  it('is idempotent for the same name and input while running, and refuses a different input', async () => {
    const input = JSON.stringify(installState({ source: 'local://held' }));
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input }));
    expect(again.executionArn).toBe(first.executionArn);

    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name: 'op-held', input: JSON.stringify(installState()) })),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);

    expect(engine.listExecutions({ status: 'RUNNING' }).map((e) => e.name)).toEqual(['op-held']);

    const { stopDate } = engine.stopExecution(first.executionArn ?? '', { error: 'Cancelled', cause: 'test' });
    expect(stopDate).toBeInstanceOf(Date);
    releaseHeld();
    expect(await untilDone(first.executionArn ?? '')).toMatchObject({ status: 'ABORTED', error: 'Cancelled' });
  });

  it('answers unknown executions and state machines with the AWS errors', async () => {
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: `${engine.stateMachineArn.replace(':stateMachine:', ':execution:')}:nope` })),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:other', input: '{}' })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });
});

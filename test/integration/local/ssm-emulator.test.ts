import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runViaSsm } from '../../../lambdas/delivery/ssm.js';
import { WorkspaceUnreachable } from '../../../lambdas/shared/errors.js';
import { LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';

const RUNNING = 'i-00000000000000001';
const STOPPED = 'i-00000000000000002';

let dir: string;
let instances: LocalInstances;
let emulator: SsmEmulator;
let ssm: SSMClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-ssm-emulator-'));
  instances = new LocalInstances(join(dir, 'instances'));
  instances.stop(STOPPED);
  emulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  ssm = new SSMClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});

afterAll(async () => {
  ssm?.destroy();
  await emulator?.close();
  await rm(dir, { recursive: true, force: true });
});

async function send(commands: string[], instanceId = RUNNING, executionTimeout = '30') {
  const out = await ssm.send(
    new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [instanceId], Parameters: { commands, executionTimeout: [executionTimeout] } }),
  );
  return out.Command!.CommandId!;
}

async function finished(commandId: string, instanceId = RUNNING) {
  for (;;) {
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    if (!['Pending', 'InProgress', 'Delayed', 'Cancelling'].includes(out.Status ?? '')) return out;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('SSM emulator', () => {
  it("runs commands with sh in the instance's root, with MOLECULE_HOST_ROOT set", async () => {
    const id = await send(['pwd', 'echo "root=$MOLECULE_HOST_ROOT"', 'echo oops >&2', 'exit 3']);

    const out = await finished(id);

    const root = join(instances.rootDir, RUNNING);
    expect(out).toMatchObject({ Status: 'Failed', ResponseCode: 3, StandardOutputContent: `${root}\nroot=${root}\n`, StandardErrorContent: 'oops\n' });
  });

  it('keeps only the first 24 000 characters of stdout and 8 000 of stderr, as SSM does', async () => {
    const id = await send(["head -c 30000 /dev/zero | tr '\\0' a", "head -c 9000 /dev/zero | tr '\\0' b >&2"]);

    const out = await finished(id);

    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toHaveLength(24_000);
    expect(out.StandardErrorContent).toHaveLength(8_000);
  });

  it('enforces executionTimeout', async () => {
    const id = await send(['sleep 30'], RUNNING, '1');

    await expect(finished(id)).resolves.toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' });
  });

  it('cancels a running command', async () => {
    const id = await send(['sleep 30']);
    await new Promise((resolve) => setTimeout(resolve, 100));

    await ssm.send(new CancelCommandCommand({ CommandId: id, InstanceIds: [RUNNING] }));

    await expect(finished(id)).resolves.toMatchObject({ Status: 'Cancelled' });
  });

  it('answers InvocationDoesNotExist for an unknown invocation', async () => {
    await expect(ssm.send(new GetCommandInvocationCommand({ CommandId: 'nope', InstanceId: RUNNING }))).rejects.toBeInstanceOf(InvocationDoesNotExist);
  });

  it('answers InvalidInstanceId for something that is not an instance id', async () => {
    await expect(send(['true'], 'i-nope')).rejects.toBeInstanceOf(InvalidInstanceId);
  });

  it('shows a stopped instance as not online, and its commands as Undeliverable', async () => {
    const info = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [STOPPED, RUNNING] }] }));
    expect(Object.fromEntries(info.InstanceInformationList!.map((i) => [i.InstanceId, i.PingStatus]))).toEqual({
      [STOPPED]: 'ConnectionLost',
      [RUNNING]: 'Online',
    });

    const id = await send(['touch "$MOLECULE_HOST_ROOT/ran"'], STOPPED);

    await expect(finished(id, STOPPED)).resolves.toMatchObject({ Status: 'Failed', StatusDetails: 'Undeliverable' });
    await expect(readFile(join(instances.rootDir, STOPPED, 'ran'))).rejects.toThrow();
  });

  it('makes runViaSsm report a stopped instance as workspace_unreachable', async () => {
    await expect(runViaSsm(ssm, { instanceId: STOPPED, script: 'true', timeoutMs: 5_000, pollIntervalMs: 10 })).rejects.toThrow(WorkspaceUnreachable);
  });
});

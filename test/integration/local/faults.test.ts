import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  EC2InstanceConnectClient,
  EC2InstanceNotFoundException,
  SendSSHPublicKeyCommand,
  ServiceException,
  ThrottlingException,
} from '@aws-sdk/client-ec2-instance-connect';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { isThrottlingError, isTransientError } from '@smithy/service-error-classification';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../../../lambdas/delivery/ssh-keys.js';
import { startEicEmulator } from '../../../local/eic-emulator.js';
import { armedLater, FaultSpecError, parseFaults } from '../../../local/faults.js';
import { startLocalS3 } from '../../../local/s3.js';
import { startSsmEmulator } from '../../../local/ssm-emulator.js';

/**
 * MOLECULE_LOCAL_FAULTS at the emulator level, through the real AWS SDK clients: every fault at
 * rate 1 is the error AWS sends, shaped so the SDK classifies it as it would on AWS; rate 0 is none.
 */
const INSTANCE = 'i-0fa0170000000000a';
const config = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'molecule-faults-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function ssmWith(spec: string, extra: { now?: () => number } = {}) {
  const emulator = await startSsmEmulator({ rootDir: await scratch(), faults: parseFaults(spec), lostInvocationMs: 1_000, ...extra });
  const client = new SSMClient({ ...config, endpoint: emulator.url });
  cleanups.push(
    () => emulator.close(),
    () => client.destroy(),
  );
  return client;
}

async function eicWith(spec: string) {
  const emulator = await startEicEmulator({ rootDir: await scratch(), faults: parseFaults(spec) });
  const ec2 = new EC2Client({ ...config, endpoint: emulator.ec2Url });
  const eic = new EC2InstanceConnectClient({ ...config, endpoint: emulator.eicUrl });
  cleanups.push(
    () => emulator.close(),
    () => ec2.destroy(),
    () => eic.destroy(),
  );
  return { ec2, eic };
}

async function s3With(spec: string) {
  const s3 = await startLocalS3({ directory: await scratch(), buckets: ['faults'], faults: parseFaults(spec) });
  const client = new S3Client({ ...config, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, endpoint: s3.url, forcePathStyle: true });
  cleanups.push(
    () => s3.close(),
    () => client.destroy(),
  );
  return client;
}

const sendCommand = (ssm: SSMClient) =>
  ssm.send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [INSTANCE], Parameters: { commands: ['echo ok'] } }));
const describeInstances = (ec2: EC2Client) => ec2.send(new DescribeInstancesCommand({ InstanceIds: [INSTANCE] }));
const pushKey = (eic: EC2InstanceConnectClient) =>
  eic.send(new SendSSHPublicKeyCommand({ InstanceId: INSTANCE, InstanceOSUser: 'ubuntu', SSHPublicKey: ed25519KeyPair(ssh2.utils).public }));

/** The error a promise rejects with, as the SDK built it. */
async function failure(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number }; $fault: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { $metadata: { httpStatusCode?: number }; $fault: string };
  }
  throw new Error('expected the call to fail');
}

describe('MOLECULE_LOCAL_FAULTS parsing', () => {
  it.each([
    ['ssm.throttle', 'is not service.fault=rate'],
    ['ssm.throttle=0.3,,s3.error', 'is not service.fault=rate'],
    ['lambda.throttle=1', 'unknown service "lambda"'],
    ['ssm.slow=1', 'unknown fault "ssm.slow"'],
    ['s3.error=1.5', 'must be a number from 0 to 1'],
    ['s3.error=0.1.2', 'must be a number from 0 to 1'],
  ])('refuses %s', (spec, message) => {
    expect(() => parseFaults(spec)).toThrow(FaultSpecError);
    expect(() => parseFaults(spec)).toThrow(message);
  });

  it('reads the example from the issue, spaces and an empty value included', () => {
    expect(parseFaults(' ssm.throttle=0.3, eic.throttle=0.3,ec2.throttle=0.3,s3.error=0.1,ssm.lost_invocation=0.2').rates).toEqual({
      'ssm.throttle': 0.3,
      'eic.throttle': 0.3,
      'ec2.throttle': 0.3,
      's3.error': 0.1,
      'ssm.lost_invocation': 0.2,
    });
    expect(parseFaults('').rates).toEqual({});
    expect(parseFaults(undefined).roll('ssm', 'throttle')).toBe(false);
  });

  it('repeats the same rolls for the same seed, and hits about the rate', () => {
    const rolls = (seed: string) =>
      Array.from(
        { length: 400 },
        (
          (f) => () =>
            f.roll('ssm', 'throttle')
        )(parseFaults('ssm.throttle=0.3', seed)),
      );
    const first = rolls('42');
    expect(rolls('42')).toEqual(first);
    expect(rolls('43')).not.toEqual(first);
    const hits = first.filter(Boolean).length;
    expect(hits).toBeGreaterThan(80);
    expect(hits).toBeLessThan(160);
    expect(() => parseFaults('ssm.throttle=0.3', 'abc')).toThrow('MOLECULE_LOCAL_FAULTS_SEED');
  });

  it('keeps an unknown instance unknown, and faults nothing until armed', () => {
    const faults = parseFaults('ec2.unknown_instance=0.5', '7');
    const first = Array.from({ length: 20 }, (_, i) => faults.unknownInstance('ec2', `i-${i}`));
    expect(Array.from({ length: 20 }, (_, i) => faults.unknownInstance('ec2', `i-${i}`))).toEqual(first);
    let armed = false;
    const later = armedLater(parseFaults('s3.error=1'), () => armed);
    expect(later.roll('s3', 'error')).toBe(false);
    armed = true;
    expect(later.roll('s3', 'error')).toBe(true);
  });

  it('stops npm start with one clear line when malformed', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
      env: { ...process.env, MOLECULE_LOCAL_FAULTS: 'ssm.throttle=lots', PORT: '0', MOLECULE_LOCAL_DIR: await scratch() },
      timeout: 60_000,
    });
    const err = await run.then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).toBe(2);
    expect(
      err.stderr
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('molecule:')),
    ).toEqual(['molecule: MOLECULE_LOCAL_FAULTS: "ssm.throttle=lots" is not service.fault=rate (e.g. ssm.throttle=0.3)']);
  });
});

describe('SSM faults (AWS JSON 1.1 __type)', () => {
  it('ssm.throttle=1 answers ThrottlingException, which the SDK classifies as throttling', async () => {
    const err = await failure(sendCommand(await ssmWith('ssm.throttle=1')));
    expect(err.name).toBe('ThrottlingException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(isThrottlingError(err as never)).toBe(true);
  });

  it('ssm.error=1 answers InternalServerError with a 500, a transient server error', async () => {
    const err = await failure(sendCommand(await ssmWith('ssm.error=1')));
    expect(err.name).toBe('InternalServerError');
    expect(err.$metadata.httpStatusCode).toBe(500);
    expect(err.$fault).toBe('server');
    expect(isTransientError(err as never)).toBe(true);
  });

  it('ssm.lost_invocation=1 answers InvocationDoesNotExist for a while after SendCommand, then the result', async () => {
    let clock = Date.now();
    const ssm = await ssmWith('ssm.lost_invocation=1', { now: () => clock });
    const commandId = (await sendCommand(ssm)).Command?.CommandId;
    const get = () => ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: INSTANCE }));
    const err = await failure(get());
    expect(err.name).toBe('InvocationDoesNotExist');
    expect(err.$metadata.httpStatusCode).toBe(400);

    clock += 1_001;
    let out = await get();
    while (out.Status === 'Pending' || out.Status === 'InProgress') out = await get();
    expect(out).toMatchObject({ Status: 'Success', StandardOutputContent: 'ok\n' });
  });

  it('ssm.unknown_instance=1 refuses SendCommand with InvalidInstanceId and lists no such managed instance', async () => {
    const ssm = await ssmWith('ssm.unknown_instance=1');
    const err = await failure(sendCommand(ssm));
    expect(err.name).toBe('InvalidInstanceId');
    expect(err.$metadata.httpStatusCode).toBe(400);
    const info = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [INSTANCE] }] }));
    expect(info.InstanceInformationList).toEqual([]);
  });

  it('at rate 0 nothing faults', async () => {
    const ssm = await ssmWith('ssm.throttle=0,ssm.error=0,ssm.lost_invocation=0,ssm.unknown_instance=0');
    const commandId = (await sendCommand(ssm)).Command?.CommandId;
    await expect(ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: INSTANCE }))).resolves.toMatchObject({ InstanceId: INSTANCE });
    const info = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [INSTANCE] }] }));
    expect(info.InstanceInformationList?.map((i) => i.PingStatus)).toEqual(['Online']);
  });
});

describe('EC2 faults (EC2 Query XML <Response><Errors><Error>)', () => {
  it('ec2.throttle=1 answers RequestLimitExceeded with a 503, which the SDK classifies as throttling', async () => {
    const err = await failure(describeInstances((await eicWith('ec2.throttle=1')).ec2));
    expect(err.name).toBe('RequestLimitExceeded');
    expect(err.$metadata.httpStatusCode).toBe(503);
    expect(isThrottlingError(err as never)).toBe(true);
  });

  it('ec2.error=1 answers InternalError with a 500', async () => {
    const err = await failure(describeInstances((await eicWith('ec2.error=1')).ec2));
    expect(err.name).toBe('InternalError');
    expect(err.$metadata.httpStatusCode).toBe(500);
    expect(isTransientError(err as never)).toBe(true);
  });

  it('ec2.unknown_instance=1 answers InvalidInstanceID.NotFound instead of a running instance', async () => {
    const err = await failure(describeInstances((await eicWith('ec2.unknown_instance=1')).ec2));
    expect(err.name).toBe('InvalidInstanceID.NotFound');
    expect(err.message).toBe(`The instance ID '${INSTANCE}' does not exist`);
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('at rate 0 the instance is running', async () => {
    const out = await describeInstances((await eicWith('ec2.throttle=0,ec2.error=0,ec2.unknown_instance=0')).ec2);
    expect(out.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');
  });
});

describe('EC2 Instance Connect faults (AWS JSON 1.1 __type)', () => {
  it('eic.throttle=1 answers the modeled ThrottlingException', async () => {
    const err = await failure(pushKey((await eicWith('eic.throttle=1')).eic));
    expect(err).toBeInstanceOf(ThrottlingException);
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(isThrottlingError(err as never)).toBe(true);
  });

  it('eic.error=1 answers ServiceException with a 500', async () => {
    const err = await failure(pushKey((await eicWith('eic.error=1')).eic));
    expect(err).toBeInstanceOf(ServiceException);
    expect(err.$metadata.httpStatusCode).toBe(500);
    expect(err.$fault).toBe('server');
  });

  it('eic.unknown_instance=1 answers EC2InstanceNotFoundException', async () => {
    const err = await failure(pushKey((await eicWith('eic.unknown_instance=1')).eic));
    expect(err).toBeInstanceOf(EC2InstanceNotFoundException);
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('at rate 0 the key is taken', async () => {
    await expect(pushKey((await eicWith('eic.throttle=0,eic.error=0,eic.unknown_instance=0')).eic)).resolves.toMatchObject({ Success: true });
  });
});

describe('S3 faults (XML <Error><Code>)', () => {
  it('s3.error=1 answers InternalError with a 500', async () => {
    const s3 = await s3With('s3.error=1');
    const err = await failure(s3.send(new PutObjectCommand({ Bucket: 'faults', Key: 'k', Body: 'v' })));
    expect(err.name).toBe('InternalError');
    expect(err.$metadata.httpStatusCode).toBe(500);
    expect(isTransientError(err as never)).toBe(true);
  });

  it('s3.throttle=1 answers SlowDown with a 503, which the SDK classifies as throttling', async () => {
    const s3 = await s3With('s3.throttle=1');
    const err = await failure(s3.send(new GetObjectCommand({ Bucket: 'faults', Key: 'k' })));
    expect(err.name).toBe('SlowDown');
    expect(err.$metadata.httpStatusCode).toBe(503);
    expect(isThrottlingError(err as never)).toBe(true);
  });

  it('at rate 0 objects round-trip', async () => {
    const s3 = await s3With('s3.error=0,s3.throttle=0');
    await s3.send(new PutObjectCommand({ Bucket: 'faults', Key: 'k', Body: 'v' }));
    const out = await s3.send(new GetObjectCommand({ Bucket: 'faults', Key: 'k' }));
    expect(await out.Body?.transformToString()).toBe('v');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  EC2InstanceConnectClient,
  EC2InstanceStateInvalidException,
  InvalidArgsException,
  SendSSHPublicKeyCommand,
} from '@aws-sdk/client-ec2-instance-connect';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalInstances } from '../../../local/instances.js';
import { KEY_LIFETIME_MS, startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { ed25519KeyPair } from '../../../lambdas/delivery/ssh-keys.js';

const RUNNING = 'i-00000000000000001';
const STOPPED = 'i-00000000000000002';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

let dir: string;
let instances: LocalInstances;
let emulator: EicEmulator;
let ec2: EC2Client;
let eic: EC2InstanceConnectClient;
let clock = Date.now();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-eic-emulator-'));
  instances = new LocalInstances(join(dir, 'instances'));
  instances.stop(STOPPED);
  emulator = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, now: () => clock });
  ec2 = new EC2Client({ endpoint: emulator.ec2Url, region: 'us-east-1', credentials, maxAttempts: 1 });
  eic = new EC2InstanceConnectClient({ endpoint: emulator.eicUrl, region: 'us-east-1', credentials, maxAttempts: 1 });
});

afterAll(async () => {
  ec2?.destroy();
  eic?.destroy();
  await emulator?.close();
  await rm(dir, { recursive: true, force: true });
});

async function pushKey(instanceId = RUNNING, osUser = 'ubuntu') {
  const keys = ed25519KeyPair(ssh2.utils);
  await eic.send(new SendSSHPublicKeyCommand({ InstanceId: instanceId, InstanceOSUser: osUser, SSHPublicKey: keys.public }));
  return keys;
}

interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Logs in with `privateKey` and runs `command` with `stdin`, as any SSH client would. */
function sshExec(privateKey: string, command: string, stdin = '', username = 'ubuntu'): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    conn.on('error', (err) => reject(err));
    conn.on('ready', () => {
      conn.exec(command, (err, channel) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        channel.on('data', (d: Buffer) => (stdout += d.toString()));
        channel.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        channel.on('exit', (c: number | null) => (code = c));
        channel.on('close', () => {
          conn.end();
          resolve({ code, stdout, stderr });
        });
        channel.end(stdin);
      });
    });
    conn.connect({ host: emulator.sshHost, port: emulator.sshPort, username, privateKey, readyTimeout: 10_000 });
  });
}

describe('EC2 DescribeInstances', () => {
  it('describes a running and a stopped instance to the real EC2 client', async () => {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [RUNNING, STOPPED] }));

    const described = out.Reservations!.flatMap((r) => r.Instances!).map((i) => [i.InstanceId, i.State?.Name, i.PrivateIpAddress]);
    expect(described).toEqual([
      [RUNNING, 'running', '127.0.0.1'],
      [STOPPED, 'stopped', '127.0.0.1'],
    ]);
  });

  it('rejects a malformed instance id as EC2 does', async () => {
    await expect(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-nope'] }))).rejects.toMatchObject({ name: 'InvalidInstanceID.Malformed' });
  });
});

describe('SendSSHPublicKey', () => {
  it('refuses a stopped instance with EC2InstanceStateInvalidException', async () => {
    await expect(pushKey(STOPPED)).rejects.toBeInstanceOf(EC2InstanceStateInvalidException);
  });

  it('refuses something that is not an OpenSSH public key', async () => {
    const send = eic.send(new SendSSHPublicKeyCommand({ InstanceId: RUNNING, InstanceOSUser: 'ubuntu', SSHPublicKey: 'not a key' }));
    await expect(send).rejects.toBeInstanceOf(InvalidArgsException);
  });
});

describe('the SSH server', () => {
  it("runs the command with bash in the pushed instance's root, stdin in, stdout, stderr and status out", async () => {
    const keys = await pushKey();

    const out = await sshExec(
      keys.private,
      'bash -s',
      'pwd; echo "root=$MOLECULE_HOST_ROOT user=$USER"; echo "${SSH_CONNECTION%% *}"; echo oops >&2; exit 3\n',
    );

    const root = join(instances.rootDir, RUNNING);
    expect(out).toEqual({ code: 3, stdout: `${root}\nroot=${root} user=ubuntu\n127.0.0.1\n`, stderr: 'oops\n' });
  });

  it('refuses a key that was never pushed', async () => {
    const keys = ed25519KeyPair(ssh2.utils);

    await expect(sshExec(keys.private, 'true')).rejects.toMatchObject({ level: 'client-authentication' });
  });

  it('refuses a key older than 60 s', async () => {
    const keys = await pushKey();
    clock += KEY_LIFETIME_MS + 1_000;

    await expect(sshExec(keys.private, 'true')).rejects.toMatchObject({ level: 'client-authentication' });
  });

  it('refuses a key pushed for another OS user', async () => {
    const keys = await pushKey(RUNNING, 'ec2-user');

    await expect(sshExec(keys.private, 'true', '', 'ubuntu')).rejects.toMatchObject({ level: 'client-authentication' });
  });

  it('refuses a key once its instance is stopped', async () => {
    const other = 'i-00000000000000003';
    const keys = await pushKey(other);
    instances.stop(other);

    await expect(sshExec(keys.private, 'true')).rejects.toMatchObject({ level: 'client-authentication' });
  });
});

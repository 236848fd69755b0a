import { createServer, type AddressInfo } from 'node:net';
import { DescribeInstancesCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand, ServiceException, ThrottlingException } from '@aws-sdk/client-ec2-instance-connect';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { runViaEic, type EicDeps } from '../../../lambdas/delivery/eic.js';
import { loadConfig } from '../../../lambdas/shared/config.js';

const ec2Mock = mockClient(EC2Client);
const eicMock = mockClient(EC2InstanceConnectClient);
const INSTANCE = 'i-0123456789abcdef0';
const command = { instanceId: INSTANCE, script: 'true', timeoutMs: 5_000 };

const deps: EicDeps = {
  // Port 1 on loopback refuses at once: these tests stop before or at the SSH connection.
  settings: { osUser: 'ubuntu', sshPort: 1, sshHost: '127.0.0.1', sshCommand: 'sudo -n bash -s', hostKeyFingerprints: [], acceptAnyHostKey: true },
  clients: async () => ({ ec2: new EC2Client({ region: 'us-east-1' }), eic: new EC2InstanceConnectClient({ region: 'us-east-1' }) }),
};

/** Loopback only: these tests never send traffic anywhere else. */
function instance(state: string | null, privateIp: string | null = '127.0.0.1') {
  const address = privateIp ? { PrivateIpAddress: privateIp } : {};
  ec2Mock.on(DescribeInstancesCommand).resolves({
    Reservations: state ? [{ Instances: [{ InstanceId: INSTANCE, State: { Name: state as 'running' }, ...address }] }] : [],
  });
}

function awsError(name: string, message = `raw upstream text for ${name}`) {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

beforeEach(() => {
  ec2Mock.reset();
  eicMock.reset();
  eicMock.on(SendSSHPublicKeyCommand).resolves({ Success: true });
});

describe('runViaEic: the instance', () => {
  it.each(['stopped', 'stopping', 'pending', 'terminated'])('is workspace_unreachable when it is %s, before any key is pushed', async (state) => {
    instance(state);

    await expect(runViaEic(deps, command)).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: `the workspace instance is not running (it is ${state})`,
    });
    expect(eicMock).not.toHaveReceivedCommand(SendSSHPublicKeyCommand);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { InstanceIds: [INSTANCE] });
  });

  it('is workspace_unreachable when EC2 does not know it', async () => {
    instance(null);
    await expect(runViaEic(deps, command)).rejects.toMatchObject({ code: 'workspace_unreachable', message: 'the workspace instance does not exist' });

    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    await expect(runViaEic(deps, command)).rejects.toMatchObject({ code: 'workspace_unreachable', message: 'the workspace instance does not exist' });
  });

  it('is workspace_unreachable without a private IP to connect to', async () => {
    instance('running', null);

    await expect(runViaEic({ ...deps, settings: { ...deps.settings, sshHost: undefined } }, command)).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: 'the workspace instance has no private IP address to connect to',
    });
  });

  it.each([
    ['RequestLimitExceeded', 503],
    ['Throttling', 400],
    ['InternalError', 500],
  ])('leaves a %s from DescribeInstances to the workflow as AwsThrottled, before any key is pushed', async (name, status) => {
    ec2Mock.on(DescribeInstancesCommand).rejects(Object.assign(awsError(name), { $metadata: { httpStatusCode: status } }));

    const err = await runViaEic(deps, command).catch((e: unknown) => e);

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: name } });
    expect((err as Error).message).not.toContain('raw upstream');
    expect(eicMock).not.toHaveReceivedCommand(SendSSHPublicKeyCommand);
  });

  it.each([
    ['InternalError', 'server', 500],
    ['RequestLimitExceeded', 'client', 503],
  ] as const)('leaves the SDK exception %s from DescribeInstances to the workflow as AwsThrottled, in its own words', async (name, fault, status) => {
    const text = `raw EC2 text for ${name}`;
    ec2Mock.on(DescribeInstancesCommand).rejects(new EC2ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: text }));

    const err = (await runViaEic(deps, command).catch((e: unknown) => e)) as Error;

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: name } });
    expect(err.message).not.toContain(text);
  });

  it('fails as delivery_failed, in its own words, when EC2 cannot be asked', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation'));

    const err = await runViaEic(deps, command).catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'delivery_failed', message: 'could not look up the workspace instance in EC2' });
    expect((err as Error).message).not.toContain('raw upstream');
  });
});

describe('runViaEic: the one-time key', () => {
  it('pushes a fresh ed25519 key for the configured OS user on every command', async () => {
    instance('running');

    await runViaEic(deps, command).catch(() => undefined);
    await runViaEic(deps, command).catch(() => undefined);

    const key = { InstanceId: INSTANCE, InstanceOSUser: 'ubuntu', SSHPublicKey: expect.stringMatching(/^ssh-ed25519 AAAA/) };
    expect(eicMock).toHaveReceivedCommandTimes(SendSSHPublicKeyCommand, 2);
    expect(eicMock).toHaveReceivedNthCommandWith(SendSSHPublicKeyCommand, 1, key);
    expect(eicMock).toHaveReceivedNthCommandWith(SendSSHPublicKeyCommand, 2, key);
    // Comparing the two keys needs their values, which no matcher hands back.
    const [first, second] = eicMock.commandCalls(SendSSHPublicKeyCommand).map((call) => call.args[0].input.SSHPublicKey);
    expect(first).not.toBe(second);
  });

  it.each([
    ['EC2InstanceStateInvalidException', 'workspace_unreachable', 'the workspace instance is not running or not reachable through EC2 Instance Connect'],
    ['EC2InstanceNotFoundException', 'workspace_unreachable', 'the workspace instance is not running or not reachable through EC2 Instance Connect'],
    ['EC2InstanceUnavailableException', 'workspace_unreachable', 'the workspace instance is not running or not reachable through EC2 Instance Connect'],
    ['AuthException', 'delivery_failed', 'the delivery service is not allowed to use EC2 Instance Connect on the workspace instance'],
    ['InvalidArgsException', 'delivery_failed', 'EC2 Instance Connect refused the delivery key for the workspace instance'],
    ['ServiceException', 'delivery_failed', 'could not push a key to the workspace instance through EC2 Instance Connect'],
    ['ThrottlingException', 'workspace_unreachable', 'AWS is throttling or briefly failing the EC2 Instance Connect key push; it will be retried'],
  ])('maps a %s from SendSSHPublicKey to %s without echoing it', async (name, code, message) => {
    instance('running');
    eicMock.on(SendSSHPublicKeyCommand).rejects(awsError(name));

    const err = await runViaEic(deps, command).catch((e: unknown) => e);

    expect(err).toMatchObject({ code, message, details: { instanceId: INSTANCE, transport: 'eic', awsError: name } });
  });

  it.each([
    new ServiceException({ $metadata: { httpStatusCode: 500 }, message: 'raw EC2 Instance Connect text: internal failure' }),
    new ThrottlingException({ $metadata: { httpStatusCode: 400 }, message: 'raw EC2 Instance Connect text: rate exceeded' }),
  ])('leaves the SDK exception $name from SendSSHPublicKey to the workflow as AwsThrottled, in its own words', async (sdkError) => {
    instance('running');
    eicMock.on(SendSSHPublicKeyCommand).rejects(sdkError);

    const err = (await runViaEic(deps, command).catch((e: unknown) => e)) as Error;

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: sdkError.name } });
    expect(err.message).not.toContain('raw EC2 Instance Connect text');
  });

  it('connects to the private IP unless a host is configured', async () => {
    const seen: string[] = [];
    const server = createServer((socket) => {
      seen.push(socket.localAddress ?? '');
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
    const sshPort = (server.address() as AddressInfo).port;
    instance('running', '127.0.0.2');

    try {
      await runViaEic({ ...deps, settings: { ...deps.settings, sshHost: undefined, sshPort } }, command).catch(() => undefined);
      expect(seen).toEqual(['127.0.0.2']);
      await runViaEic({ ...deps, settings: { ...deps.settings, sshHost: '127.0.0.1', sshPort } }, command).catch(() => undefined);
      expect(seen).toEqual(['127.0.0.2']);
    } finally {
      server.close();
    }
  });

  it('reports a refused SSH connection as workspace_unreachable', async () => {
    instance('running');

    await expect(runViaEic(deps, command)).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: 'could not connect to the workspace instance over SSH',
      details: { errno: 'ECONNREFUSED' },
    });
  });
});

describe('runViaEic: configuration', () => {
  it('fails as delivery_failed when EC2 Instance Connect is not wired in', async () => {
    await expect(runViaEic(undefined, command)).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'EC2 Instance Connect delivery is not configured',
    });
  });

  it('reads its settings from the environment, with defaults for a stock Ubuntu host', () => {
    expect(loadConfig({}).eic).toEqual({
      osUser: 'ubuntu',
      sshPort: 22,
      sshHost: undefined,
      sshCommand: 'sudo -n bash -s',
      hostKeyFingerprints: [],
      acceptAnyHostKey: false,
      connection: 'auto',
      tunnelsPerEndpoint: 20,
      tunnelUrl: undefined,
      endpointIds: [],
    });
    const fingerprint = `SHA256:${'a'.repeat(43)}`;
    expect(
      loadConfig({
        PLUGIN_EIC_OS_USER: 'ec2-user',
        PLUGIN_EIC_SSH_PORT: '2222',
        PLUGIN_EIC_SSH_HOST: '127.0.0.1',
        PLUGIN_EIC_SSH_COMMAND: 'bash -s',
        PLUGIN_EIC_HOST_KEY_FINGERPRINTS: ` ${fingerprint}, ${fingerprint}`,
        PLUGIN_EIC_CONNECTION: 'endpoint',
        PLUGIN_EIC_TUNNELS_PER_ENDPOINT: '5',
        PLUGIN_EIC_TUNNEL_URL: 'ws://127.0.0.1:4510',
        PLUGIN_EIC_ENDPOINT_IDS: 'eice-0123456789abcdef0, eice-0123456789abcdef1',
      }).eic,
    ).toEqual({
      osUser: 'ec2-user',
      sshPort: 2222,
      sshHost: '127.0.0.1',
      sshCommand: 'bash -s',
      hostKeyFingerprints: [fingerprint, fingerprint],
      acceptAnyHostKey: false,
      connection: 'endpoint',
      tunnelsPerEndpoint: 5,
      tunnelUrl: 'ws://127.0.0.1:4510',
      endpointIds: ['eice-0123456789abcdef0', 'eice-0123456789abcdef1'],
    });
  });

  it.each([
    ['PLUGIN_EIC_OS_USER', 'root; reboot'],
    ['PLUGIN_EIC_SSH_PORT', '70000'],
    ['PLUGIN_EIC_HOST_KEY_FINGERPRINTS', 'MD5:aa:bb'],
    ['PLUGIN_EIC_CONNECTION', 'tunnel'],
    ['PLUGIN_EIC_TUNNELS_PER_ENDPOINT', '0'],
    ['PLUGIN_EIC_TUNNEL_URL', 'http://127.0.0.1:4510/openTunnel'],
    ['PLUGIN_EIC_ENDPOINT_IDS', 'vpce-0123456789abcdef0'],
  ])('refuses an invalid %s at startup', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`invalid configuration: ${name}`));
  });
});

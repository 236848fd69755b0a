import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deliverInstall, removePlugin, restartWorkspace, verifyHealth, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import type { Workspace } from '../../../lambdas/shared/types.js';

const ssmMock = mockClient(SSMClient);
const ec2Mock = mockClient(EC2Client);
const INSTANCE = 'i-0123456789abcdef0';
const workspace: Workspace = { id: 'ws-1', orgId: 'org-1', runtime: 'hermes', instanceId: INSTANCE, transport: 'auto', status: 'running' };
const deps: DeliveryDeps = {
  ssm: new SSMClient({ region: 'us-east-1' }),
  config: {
    configDirFor: (runtime) => (runtime === 'hermes' ? '/home/ubuntu/.hermes' : '/configs'),
    restartCommand: 'docker restart ws-{workspaceId}',
    deliveryTimeoutMs: 60_000,
    healthCommandFor: (runtime) => `check-${runtime} {workspaceId}`,
    healthTimeoutMs: 90_000,
  },
  now: () => new Date('2024-05-01T12:00:00.123Z'),
  ssmPolling: { pollIntervalMs: 1, maxPollIntervalMs: 2 },
};

function hostReports(stdout: string, status: 'Success' | 'Failed' = 'Success') {
  ssmMock
    .on(GetCommandInvocationCommand)
    .resolves({ Status: status, StatusDetails: status, ResponseCode: status === 'Success' ? 0 : 1, StandardOutputContent: stdout });
}

/** `text` as it reads inside the quoted script SendCommand carries. */
const quotedInside = (text: string) => text.replaceAll("'", `'\\''`);

/** The host script went out in the one SendCommand, containing each of `parts`. */
function expectSentScriptContaining(...parts: string[]): void {
  for (const part of parts) {
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ commands: [expect.stringContaining(part)] }) });
  }
}

beforeEach(() => {
  ssmMock.reset();
  ec2Mock.reset();
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }] });
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
});

describe('deliverInstall', () => {
  it("installs into the runtime's config dir and reports what the host found", async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"installed","replacedPrevious":true,"changedOnlySkillDocs":true}\n');

    const outcome = await deliverInstall(deps, { workspace, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k?sig=1' });

    expect(outcome).toEqual({ transport: 'ssm', commandId: 'cmd-1', replacedPrevious: true, changedOnlySkillDocs: true });
    expectSentScriptContaining('/home/ubuntu/.hermes', '20240501T120000123Z');
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ executionTimeout: ['60'] }) });
  });

  it('names the failed step in its own words', async () => {
    hostReports('MOLECULE_RESULT {"ok":false,"code":"delivery_failed","step":"swap","restored":false}\n', 'Failed');

    await expect(deliverInstall(deps, { workspace, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k' })).rejects.toMatchObject({
      name: 'DeliveryFailed',
      code: 'delivery_failed',
      message: 'the workspace could not put the new plugin version in place; the previous version could not be restored',
    });
  });

  it('reports a failed command that names no step as the plain delivery_failed the workflow matches on', async () => {
    hostReports('', 'Failed');

    await expect(deliverInstall(deps, { workspace, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k' })).rejects.toMatchObject({
      name: 'DeliveryFailed',
      code: 'delivery_failed',
      message: 'the delivery command failed on the workspace',
      details: { transport: 'ssm', status: 'Failed', exitCode: 1, hostResult: null },
    });
  });

  it('fails when the host never reports a result', async () => {
    hostReports('');

    await expect(deliverInstall(deps, { workspace, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k' })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the workspace did not report the outcome of the delivery command',
    });
  });

  it('takes a workspace forced onto EC2 Instance Connect there without asking SSM, and says when its instance is stopped', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: INSTANCE, State: { Name: 'stopped' } }] }] });
    const withEic: DeliveryDeps = {
      ...deps,
      eic: {
        settings: { osUser: 'ubuntu', sshPort: 22, sshCommand: 'sudo -n bash -s', hostKeyFingerprints: [] },
        clients: async () => ({ ec2: new EC2Client({ region: 'us-east-1' }), eic: new EC2InstanceConnectClient({ region: 'us-east-1' }) }),
      },
    };

    await expect(
      deliverInstall(withEic, { workspace: { ...workspace, transport: 'eic' }, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k' }),
    ).rejects.toMatchObject({ code: 'workspace_unreachable', message: 'the workspace instance is not running (it is stopped)' });
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('fails a workspace that needs EC2 Instance Connect as delivery_failed when EIC is not wired in', async () => {
    await expect(
      deliverInstall(deps, { workspace: { ...workspace, transport: 'eic' }, pluginName: 'acme.tools', tarballUrl: 'https://s3.example/k' }),
    ).rejects.toMatchObject({ code: 'delivery_failed', message: 'EC2 Instance Connect delivery is not configured' });
  });
});

describe('removePlugin', () => {
  it('is plugin_not_installed when the host has no such plugin', async () => {
    hostReports('MOLECULE_RESULT {"ok":false,"code":"plugin_not_installed"}\n');

    await expect(removePlugin(deps, { workspace, pluginName: 'acme.tools' })).rejects.toMatchObject({ code: 'plugin_not_installed' });
  });

  it('reports how many skills it removed', async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"uninstalled","removedSkills":2,"strippedFiles":1}\n');

    await expect(removePlugin(deps, { workspace, pluginName: 'acme.tools', skills: ['s1'] })).resolves.toEqual({
      transport: 'ssm',
      commandId: 'cmd-1',
      removedSkills: 2,
      warnings: [],
    });
  });

  it('warns about each skill dir the host kept because the plugin does not own it', async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"uninstalled","removedSkills":0,"strippedFiles":0,"keptSkills":["a","b"]}\n');

    await expect(removePlugin(deps, { workspace, pluginName: 'acme.tools' })).resolves.toEqual({
      transport: 'ssm',
      commandId: 'cmd-1',
      removedSkills: 0,
      warnings: ['kept skills/a: it is not the copy acme.tools installed', 'kept skills/b: it is not the copy acme.tools installed'],
    });
  });
});

describe('restartWorkspace', () => {
  it("runs the configured command for the workspace, with the runtime's config dir", async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"restarted"}\n');

    await expect(restartWorkspace(deps, { workspace })).resolves.toEqual({ transport: 'ssm', commandId: 'cmd-1' });
    expectSentScriptContaining('docker restart ws-', quotedInside("CONFIG_PATH='/home/ubuntu/.hermes'"));
  });
});

describe('verifyHealth', () => {
  const gate = { workspace, plugins: [{ name: 'acme.tools', skills: ['s1'] }] };
  const verdict = (fields: string) => `MOLECULE_RESULT {"ok":true,${fields}}\n`;
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it("runs the runtime's check and reports a healthy verdict", async () => {
    hostReports(verdict(`"healthy":true,"checks":2,"output":"${b64('up\n')}"`));

    await expect(verifyHealth(deps, gate)).resolves.toEqual({
      transport: 'ssm',
      commandId: 'cmd-1',
      healthy: true,
      rolledBack: null,
      output: ['up'],
      checks: 2,
    });
    expectSentScriptContaining(...['check-hermes', "TIMEOUT_SECONDS='90'", "RESTART_SECONDS='60'"].map(quotedInside));
  });

  it('reports an unhealthy verdict with whether the host was put back', async () => {
    hostReports(verdict(`"healthy":false,"rolledBack":false,"checks":30,"output":"${b64('a\nb\n')}"`));

    await expect(verifyHealth(deps, gate)).resolves.toMatchObject({ healthy: false, rolledBack: false, output: ['a', 'b'], checks: 30 });
  });

  it('bounds and cleans the output lines whatever the host sent', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}\x1b[31m\r`);
    hostReports(verdict(`"healthy":false,"rolledBack":true,"checks":1,"output":"${b64(`${lines.join('\n')}\n${'x'.repeat(5000)}`)}"`));

    const { output } = await verifyHealth(deps, gate);

    expect(output.length).toBeLessThanOrEqual(20);
    expect(output.join('\n').length).toBeLessThanOrEqual(4096);
    expect(output.join('')).not.toMatch(/[\x00-\x1f]/);
    hostReports(verdict(`"healthy":false,"rolledBack":true,"checks":1,"output":"${b64(lines.join('\n'))}"`));
    expect((await verifyHealth(deps, gate)).output).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 10}[31m`));
  });

  it('gives the host the whole gate, longer than one delivery command, within the invocation', async () => {
    hostReports(verdict('"healthy":true,"checks":1,"output":""'));
    await verifyHealth(deps, gate);
    await verifyHealth({ ...deps, remainingMs: () => 120_000 }, gate);

    const timeouts = ssmMock.commandCalls(SendCommandCommand).map((call) => Number(call.args[0].input.Parameters?.executionTimeout?.[0]));
    // 90 s of checks, 30 s for the last run and putting back, 60 s for the restart after it; within a
    // 2 min invocation, half the 20 s reserve before its end.
    expect(timeouts).toEqual([180, 110]);
  });

  it("names its own failure in the workflow's words", async () => {
    hostReports('MOLECULE_RESULT {"ok":false,"code":"delivery_failed","step":"health"}\n', 'Failed');

    await expect(verifyHealth(deps, gate)).rejects.toMatchObject({ name: 'DeliveryFailed', message: 'the workspace could not run the health check' });
  });

  it('fails when the host reports no verdict', async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"restarted"}\n');

    await expect(verifyHealth(deps, gate)).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the workspace did not report the outcome of the health check',
    });
  });
});

describe('the deadline of a host command', () => {
  const sentExecutionTimeout = () => Number(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters?.executionTimeout?.[0]);

  it('is PLUGIN_DELIVERY_TIMEOUT outside an invocation', async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"restarted"}\n');
    await restartWorkspace(deps, { workspace });
    expect(sentExecutionTimeout()).toBe(60);
  });

  it("is PLUGIN_DELIVERY_TIMEOUT when the invocation has room for it and the wait's reserve", async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"restarted"}\n');
    await restartWorkspace({ ...deps, remainingMs: () => 360_000 }, { workspace });
    expect(sentExecutionTimeout()).toBe(60);
  });

  it("ends within the invocation's remaining time when that is shorter: a 3 min Restart never waits 5 min", async () => {
    hostReports('MOLECULE_RESULT {"ok":true,"action":"restarted"}\n');
    await restartWorkspace({ ...deps, config: { ...deps.config, deliveryTimeoutMs: 300_000 }, remainingMs: () => 180_000 }, { workspace });
    // the host's own bound lies half the 20 s reserve inside the invocation; the wait (and its cancel) ends before it
    expect(sentExecutionTimeout()).toBe(170);
  });
});

import { START_EMULATED_AGENT } from '../../local/instances.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';

/**
 * SPEC §5 and §8 end to end over EC2 Instance Connect: `npm start`'s process, the workflow on the
 * local engine, and delivery through the EIC emulator's EC2 and SendSSHPublicKey endpoints, its
 * EC2 Instance Connect Endpoint (the default: the demo VPC has one) and SSH server onto emulated
 * hosts. Which way each host step went is read from the step logs (`transport`), with the operation id.
 */
let org = '';

const INSTANCES: Record<string, string> = {
  'w-eic': 'i-0e1c0000000000e01',
  'w-auto-stopped': 'i-0e1c0000000000e02',
  'w-hermes': 'i-0e1c0000000000e03',
};
const instanceRoot = (ws: string) => join(stack.localDir, 'instances', INSTANCES[ws]!);
const pluginDir = (ws: string, name: string) => join(instanceRoot(ws), 'configs', 'plugins', name);

/** The JSON log lines of one operation's steps. */
function stepLogs(operationId: string): Array<Record<string, unknown>> {
  return stack
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(operationId))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const stack = useLocalStack({
  // The step logs say which transport each host step took.
  LOG_LEVEL: 'INFO',
  // The local restart command, also saying whether it came over SSH (sshd sets SSH_CONNECTION, the SSM agent does not);
  // it starts the emulated agent, whose health the gate checks over the same transport.
  PLUGIN_RESTART_COMMAND: `mkdir -p "$MOLECULE_HOST_ROOT/var/log" && echo restart ws-{workspaceId} "\${SSH_CONNECTION:+over ssh}" >> "$MOLECULE_HOST_ROOT/var/log/molecule-restarts.log" && ${START_EMULATED_AGENT}`,
});

beforeAll(async () => {
  const admin = { token: stack.adminToken };
  const created = await stack.call('PUT', '/admin/workspaces/w-eic', {
    ...admin,
    body: { orgId: 'acme', runtime: 'claude-code', instanceId: INSTANCES['w-eic'], transport: 'eic' },
  });
  expect(created.status).toBeLessThan(300);
  await stack.call('PUT', '/admin/workspaces/w-auto-stopped', {
    ...admin,
    body: { orgId: 'acme', runtime: 'claude-code', instanceId: INSTANCES['w-auto-stopped'], transport: 'auto' },
  });
  await stack.call('PUT', '/admin/workspaces/w-hermes', {
    ...admin,
    body: { orgId: 'acme', runtime: 'hermes', instanceId: INSTANCES['w-hermes'], transport: 'eic' },
  });
  org = (await stack.call('POST', '/admin/orgs/acme/tokens', admin)).body.token;
});

describe('a workspace delivered over EC2 Instance Connect', () => {
  it('installs a plugin over SSH, restarts the workspace and lists the plugin', async () => {
    const res = await stack.call('POST', '/workspaces/w-eic/plugins', {
      token: org,
      body: { source: 'local://code-review-rules' },
      headers: { prefer: 'wait=20' },
    });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'installed', plugin: 'code-review-rules' });
    expect(await readFile(join(pluginDir('w-eic', 'code-review-rules'), 'rules', 'review.md'), 'utf8')).toContain('Reviewing a change');
    const restarts = await readFile(join(instanceRoot('w-eic'), 'var', 'log', 'molecule-restarts.log'), 'utf8');
    expect(restarts).toContain('restart ws-w-eic over ssh');
    expect(stepLogs(res.body.operationId).filter((l) => l.transport)).toEqual([expect.objectContaining({ message: 'delivered', transport: 'eic-endpoint' })]);
    const listed = await stack.call('GET', '/workspaces/w-eic/plugins', { token: org });
    expect(listed.body).toEqual([expect.objectContaining({ name: 'code-review-rules', source: 'local://code-review-rules' })]);
  });

  it('uninstalls it again over SSH', async () => {
    const res = await stack.call('DELETE', '/workspaces/w-eic/plugins/code-review-rules', { token: org, headers: { prefer: 'wait=20' } });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'uninstalled', plugin: 'code-review-rules' });
    expect(existsSync(pluginDir('w-eic', 'code-review-rules'))).toBe(false);
    expect((await stack.call('GET', '/workspaces/w-eic/plugins', { token: org })).body).toEqual([]);
  });
});

describe('a hermes workspace over EC2 Instance Connect, by default through the endpoint tunnel', () => {
  const hermesPlugin = (name: string) => join(instanceRoot('w-hermes'), 'home', 'ubuntu', '.hermes', 'plugins', name);
  const install = () =>
    stack.call('POST', '/workspaces/w-hermes/plugins', { token: org, body: { source: 'local://code-review-rules' }, headers: { prefer: 'wait=20' } });

  it('installs through the tunnel (Deliver goes eic-endpoint) and uninstalls through it (so does Remove)', async () => {
    const installed = await install();

    expect(installed.status).toBe(200);
    expect(await readFile(join(hermesPlugin('code-review-rules'), 'rules', 'review.md'), 'utf8')).toContain('Reviewing a change');
    const delivered = stepLogs(installed.body.operationId).find((l) => l.message === 'delivered');
    expect(delivered).toMatchObject({ step: 'Deliver', transport: 'eic-endpoint', workspaceId: 'w-hermes' });

    const removed = await stack.call('DELETE', '/workspaces/w-hermes/plugins/code-review-rules', { token: org, headers: { prefer: 'wait=20' } });

    expect(removed.status).toBe(200);
    expect(existsSync(hermesPlugin('code-review-rules'))).toBe(false);
    expect(stepLogs(removed.body.operationId).find((l) => l.message === 'removed')).toMatchObject({ step: 'Remove', transport: 'eic-endpoint' });
  });

  it('answers 503 workspace_unreachable while its instance is stopped, keeps what it had, and installs again once it runs', async () => {
    const admin = { token: stack.adminToken };
    expect((await install()).status).toBe(200);
    const before = await readFile(join(hermesPlugin('code-review-rules'), 'rules', 'review.md'));
    expect((await stack.call('POST', `/admin/local/instances/${INSTANCES['w-hermes']}/stop`, admin)).status).toBe(200);

    const refused = await install();

    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'workspace_unreachable', error: 'the workspace instance is not running (it is stopped)' });
    expect(await readFile(join(hermesPlugin('code-review-rules'), 'rules', 'review.md'))).toEqual(before);

    expect((await stack.call('POST', `/admin/local/instances/${INSTANCES['w-hermes']}/start`, admin)).status).toBe(200);
    const again = await install();

    expect(again.status).toBe(200);
    expect(stepLogs(again.body.operationId).find((l) => l.message === 'delivered')).toMatchObject({ transport: 'eic-endpoint' });
    expect(await readFile(join(hermesPlugin('code-review-rules'), 'rules', 'review.md'))).toEqual(before);
  });
});

describe('a stopped instance', () => {
  it('answers 503 workspace_unreachable, saying the instance is not running', async () => {
    const admin = { token: stack.adminToken };
    expect((await stack.call('POST', `/admin/local/instances/${INSTANCES['w-auto-stopped']}/stop`, admin)).status).toBe(200);

    const res = await stack.call('POST', '/workspaces/w-auto-stopped/plugins', {
      token: org,
      body: { source: 'hello-skill' },
      headers: { prefer: 'wait=20' },
    });

    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'workspace_unreachable', error: 'the workspace instance is not running (it is stopped)' });
    expect(existsSync(pluginDir('w-auto-stopped', 'hello-skill'))).toBe(false);
  });
});

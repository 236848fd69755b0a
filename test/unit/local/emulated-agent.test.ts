import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHostResult } from '../../../lambdas/delivery/host-command.js';
import { restartScript } from '../../../lambdas/delivery/host-scripts.js';
import { LOCAL_HEALTH_COMMAND, LOCAL_RESTART_COMMAND } from '../../../local/instances.js';

/**
 * The local stack's emulated agent (SPEC §9 "Locally"): each restart of an emulated instance
 * starts it, it loads the plugins of the runtime's config dir and writes its state to
 * `var/run/molecule-agent.health`, which the local health command reads. Run here as the
 * delivery runs them: the restart and health commands in real bash on an instance root.
 */
let dir: string;
let root: string;
let n = 0;

function bash(script: string): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { PATH: process.env.PATH, MOLECULE_HOST_ROOT: root } }, (err, stdout) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

async function plugin(name: string, files: Record<string, string>) {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, 'configs', 'plugins', name, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** Restarts the instance as the Restart step does, and returns what the agent recorded. */
async function restart(): Promise<string> {
  const run = await bash(restartScript({ workspaceId: 'ws-1', command: LOCAL_RESTART_COMMAND, configDir: '/configs' }));
  expect(parseHostResult(run.stdout)).toEqual({ ok: true, action: 'restarted' });
  return readFile(join(root, 'var', 'run', 'molecule-agent.health'), 'utf8');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-emulated-agent-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  root = join(dir, `i-${++n}`);
});

describe('the emulated agent', () => {
  it('starts healthy with valid plugins, and each restart is still logged', async () => {
    await plugin('acme.tools', { '.mcp.json': '{"mcpServers": {}}\n', 'hooks/hooks.json': '{"hooks": {}}', 'rules/x.md': 'not JSON, not read\n' });
    await plugin('bare', { 'rules/y.md': 'y\n' });

    expect(await restart()).toBe('healthy\n');
    expect(await restart()).toBe('healthy\n');
    expect(await readFile(join(root, 'var', 'log', 'molecule-restarts.log'), 'utf8')).toMatch(/^\S+ restart ws-1\n\S+ restart ws-1\n$/);
  });

  it('starts healthy with no plugins at all', async () => {
    expect(await restart()).toBe('healthy\n');
  });

  it('fails to start on a plugin whose .mcp.json is not valid JSON, naming it', async () => {
    await plugin('good', { '.mcp.json': '{}' });
    await plugin('broken', { '.mcp.json': '{"mcpServers": {,}}' });

    expect(await restart()).toMatch(/^unhealthy: broken: \.mcp\.json is not valid JSON \(.+\)\n$/);
  });

  it('fails to start on a plugin whose hooks/hooks.json is not valid JSON', async () => {
    await plugin('hooked', { 'hooks/hooks.json': '{"hooks": [\n' });

    expect(await restart()).toMatch(/^unhealthy: hooked: hooks\/hooks\.json is not valid JSON \(.+\)\n$/);
  });

  it('reads only the plugin root: JSON deeper inside is not its to load', async () => {
    await plugin('nested', { 'examples/.mcp.json': 'not json', 'hooks/extra/hooks.json': 'nor this' });

    expect(await restart()).toBe('healthy\n');
  });

  it('ignores the delivery’s own dot-dirs (.previous, .staging, .molecule)', async () => {
    for (const dot of ['.previous/acme.tools', '.staging/acme.tools.t1', '.molecule']) await plugin(dot, { '.mcp.json': '{ broken' });

    expect(await restart()).toBe('healthy\n');
  });

  it('records its state afresh at each start', async () => {
    await plugin('acme.tools', { '.mcp.json': '{ broken' });
    expect(await restart()).toMatch(/^unhealthy: acme\.tools: /);

    await plugin('acme.tools', { '.mcp.json': '{}' });

    expect(await restart()).toBe('healthy\n');
  });
});

describe('the local health command', () => {
  it('prints the agent’s state and passes only when it is healthy', async () => {
    await restart();
    expect(await bash(LOCAL_HEALTH_COMMAND)).toEqual({ status: 0, stdout: 'healthy\n' });

    await plugin('acme.tools', { 'hooks/hooks.json': '' });
    await restart();
    const unhealthy = await bash(LOCAL_HEALTH_COMMAND);

    expect(unhealthy.status).not.toBe(0);
    expect(unhealthy.stdout).toMatch(/^unhealthy: acme\.tools: hooks\/hooks\.json is not valid JSON/);
  });

  it('fails when the agent never started', async () => {
    expect((await bash(LOCAL_HEALTH_COMMAND)).status).not.toBe(0);
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main, type Io } from '../../../packages/sdk/src/cli.js';
import { fakePlatform, type FakePlatform } from '../../support/fake-platform.js';

/** `watch` against a fake API over HTTP: what it asks for, how it draws, how it ends. */
let platform: FakePlatform;

const NOW = Date.now();
const op = (id: string, status: string, steps: unknown[], error?: unknown) => ({
  operationId: id,
  workspaceId: 'ws-1',
  orgId: 'acme',
  kind: 'install',
  status,
  plugin: 'hello-skill',
  source: 'local://hello-skill',
  sha256: null,
  executionArn: null,
  executionName: `install-ws-1-hello-skill-${id.slice(0, 8)}`,
  consoleUrl: null,
  createdAt: new Date(NOW - 30_000).toISOString(),
  updatedAt: new Date(NOW).toISOString(),
  warnings: [],
  steps,
  ...(error ? { error } : {}),
});
const RUNNING = op('11111111-0000-4000-8000-000000000000', 'RUNNING', [
  { name: 'Stage', status: 'SUCCEEDED', startedAt: new Date(NOW - 30_000).toISOString(), attempts: 1, retries: [] },
  { name: 'Deliver', status: 'RUNNING', startedAt: new Date(NOW - 20_000).toISOString(), attempts: 3, retries: [] },
]);
const FAILED = op(
  '22222222-0000-4000-8000-000000000000',
  'FAILED',
  [
    {
      name: 'Deliver',
      status: 'FAILED',
      startedAt: new Date(NOW - 9_000).toISOString(),
      attempts: 1,
      retries: [],
      error: { code: 'workspace_unreachable', message: 'stopped' },
    },
    { name: 'RecordFailure', status: 'SUCCEEDED', startedAt: new Date(NOW - 8_000).toISOString(), attempts: 1, retries: [] },
  ],
  { code: 'workspace_unreachable', message: 'stopped', httpStatus: 503 },
);

async function run(argv: string[], io: Partial<Io> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { MOLECULE_API_URL: platform.url, MOLECULE_TOKEN: 'admin' },
    ...io,
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  platform = await fakePlatform();
});
afterAll(async () => platform?.close());
beforeEach(() => {
  platform.requests.length = 0;
  platform.answer('GET /operations', { status: 200, body: [] });
});

describe('molecule-plugins watch', () => {
  it('asks for running operations and those failed recently, with the filters, and draws one table', async () => {
    let call = 0;
    platform.answer('GET /operations', () => ({ status: 200, body: call++ === 0 ? [RUNNING] : [FAILED] }));
    const out = await run(['watch', '--once', '--workspace', 'ws-1', '--plugin', 'hello-skill', '--kind', 'install', '--org', 'acme']);
    expect(out.code, out.stderr).toBe(0);
    const queries = platform.to('GET /operations').map((r) => new URL(r.path, platform.url).searchParams);
    expect(queries.map((q) => q.get('status')).sort()).toEqual(['FAILED', 'RUNNING']);
    for (const q of queries) expect(Object.fromEntries(q)).toMatchObject({ workspaceId: 'ws-1', plugin: 'hello-skill', kind: 'install', orgId: 'acme' });
    expect(queries.find((q) => q.get('status') === 'FAILED')?.get('since')).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(out.stdout).toMatch(/RUNNING\s+install\s+ws-1\s+hello-skill\s+Deliver…\s+3\s+11111111-/);
    expect(out.stdout).toMatch(/FAILED\s+install\s+ws-1\s+hello-skill\s+Deliver\s+1\s+workspace_unreachable\s+22222222-/);
    expect(out.stdout).not.toContain('\u001b[2J');
  });

  it('clears the screen before each frame on a terminal, appends frames otherwise, and Ctrl-C ends it with 0', async () => {
    const stop = new AbortController();
    let frames = 0;
    const io: Partial<Io> = { stdoutIsTTY: true, interrupted: stop.signal };
    let stdout = '';
    const watching = main(['watch', '--interval', '0.05', '--status', 'RUNNING'], {
      stdout: (text) => {
        stdout += text;
        if (++frames === 3) stop.abort();
      },
      stderr: () => undefined,
      env: { MOLECULE_API_URL: platform.url, MOLECULE_TOKEN: 'admin' },
      ...io,
    });
    expect(await watching).toBe(0);
    expect(stdout.split('\u001b[H\u001b[2J').length - 1).toBe(3);
    expect(stdout).toContain('(no operations match)');
    const appended = await run(['watch', '--once', '--status', 'FAILED']);
    expect(appended.stdout.startsWith('molecule-plugins watch: failed operations')).toBe(true);
  });

  it('refuses bad options as usage errors, and an API refusal with its code', async () => {
    expect((await run(['watch', '--once', '--status', 'BROKEN'])).code).toBe(2);
    expect((await run(['watch', '--once', '--kind', 'upgrade'])).code).toBe(2);
    expect((await run(['watch', '--once', '--limit', '0'])).code).toBe(2);
    platform.answer('GET /operations', { status: 403, body: { error: 'admin only', code: 'forbidden' } });
    const refused = await run(['watch', '--once']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(forbidden, HTTP 403)');
  });
});

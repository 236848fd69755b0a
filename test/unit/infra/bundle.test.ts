import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlingHooks } from '../../../infra/constructs/handler-function.js';
import { createOperation } from '../../../lambdas/store/operations.js';
import { isRestartPending, setRestartPending, upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { LOCAL_CREDENTIALS, startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

/**
 * One Lambda bundle built by the very commands the stack's bundling runs (the Restart function:
 * small, and it has both delivery paths), then loaded the way the runtime loads it: a fresh Node
 * process with no node_modules in reach. Its EC2 Instance Connect path must load the chunks it
 * alone needs (the EC2 clients, ssh2) and still restart a workspace over a real SSH connection.
 */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const INSTANCE = 'i-0b0d1e0000000000a';

let dir: string;
let out: string;
let t: TestDatabase;
let emulator: EicEmulator;
let instances: LocalInstances;
let workspace: Workspace;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-bundle-'));
  out = join(dir, 'restart');
  await mkdir(out);
  for (const command of bundlingHooks('restart').afterBundling(REPO_ROOT, out)) {
    await run('bash', ['-c', command], { cwd: REPO_ROOT, timeout: 170_000 });
  }
  t = await createTestDatabase();
  instances = new LocalInstances(join(dir, 'instances'));
  await instances.ensure(INSTANCE);
  emulator = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  ({ workspace } = await upsertWorkspace(t.db, 'ws-bundle', { orgId: 'org-bundle', runtime: 'claude-code', instanceId: INSTANCE, transport: 'eic' }));
}, 180_000);

afterAll(async () => {
  await emulator?.close();
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The chunks a bundle file imports statically; `import()` ones are left for their path. */
const staticImports = (code: string) =>
  [...code.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w$*{][^"']*?from\s*)?["']\.\/([^"']+\.mjs)["']/g)].map((m) => m[1]!);

async function initFiles(): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = ['index.mjs'];
  while (queue.length) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    queue.push(...staticImports(await readFile(join(out, name), 'utf8')));
  }
  return seen;
}

function node(code: string, env: NodeJS.ProcessEnv) {
  return run(process.execPath, ['--input-type=module', '-e', code], {
    cwd: out,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'SILENT', ...env },
    timeout: 60_000,
  });
}

describe('a Lambda bundle as the stack builds it', () => {
  it('loads under 1 MB at init and leaves the SSH client and the EC2 clients to the EIC path', async () => {
    const init = await initFiles();
    const all = (await readdir(out)).filter((n) => n.endsWith('.mjs'));
    let initBytes = 0;
    for (const name of init) initBytes += (await stat(join(out, name))).size;
    expect(initBytes).toBeLessThan(1_000_000);

    const holding = async (marker: string) => {
      const found: string[] = [];
      for (const name of all) if ((await readFile(join(out, name), 'utf8')).includes(marker)) found.push(name);
      return found;
    };
    // ssh2's client ident, EC2's API version, EC2 Instance Connect's JSON target prefix.
    for (const marker of ['ssh2js', '2016-11-15', 'AWSEC2InstanceConnectService']) {
      const files = await holding(marker);
      expect(files, marker).not.toHaveLength(0);
      expect(
        files.filter((name) => init.has(name)),
        `${marker} is loaded at init`,
      ).toEqual([]);
    }
  });

  it('imports in a fresh process with no node_modules in reach, and leaves nothing open', async () => {
    for (let d = out; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), d).toBe(false);
    // No explicit exit: a connection or timer opened at module scope would keep the process alive until the timeout.
    const { stdout } = await node("const m = await import('./index.mjs'); console.log(typeof m.handler);", {});
    expect(stdout.trim()).toBe('function');
  });

  it('restarts a workspace over EC2 Instance Connect from the bundle alone', async () => {
    const operationId = '00000000-0000-4000-8000-00000000b0d1';
    await createOperation(t.db, {
      id: operationId,
      workspaceId: workspace.id,
      orgId: workspace.orgId,
      kind: 'uninstall',
      plugin: 'gone',
      source: null,
      sha256: null,
      idempotencyKey: null,
      requestHash: null,
      actorPrefix: 'test',
      executionArn: null,
    });
    await setRestartPending(t.db, workspace.id, true);
    const event = {
      phase: 'removed',
      operationId,
      kind: 'uninstall',
      workspace,
      source: null,
      plugin: 'gone',
      expectedSha256: null,
      restart: true,
      uninstallAt: null,
    };
    const { stdout } = await node(
      `const { handler } = await import('./index.mjs');
       const state = await handler(JSON.parse(process.env.EVENT), { getRemainingTimeInMillis: () => 50000 });
       console.log(JSON.stringify(state));
       process.exit(0);`,
      {
        ...emulator.env,
        EVENT: JSON.stringify(event),
        DATABASE_URL: t.url,
        AWS_REGION: 'us-east-1',
        // The credentials the EIC Endpoint emulator checks the presigned tunnel URL against.
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        PLUGIN_RESTART_COMMAND: LOCAL_RESTART_COMMAND,
      },
    );
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ phase: 'restarted', restarted: true, operationId });
    const log = await readFile(join(instances.rootOf(INSTANCE), 'var', 'log', 'molecule-restarts.log'), 'utf8');
    expect(log).toContain('restart ws-bundle');
    expect(await isRestartPending(t.db, workspace.id)).toBe(false);
  });
});

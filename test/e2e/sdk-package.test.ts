import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/local-stack.js';

/**
 * The SDK package as its users get it (issue #22 item 3): packed as `npm publish` packs it (its
 * prepack builds it), installed from the tarball into an empty directory outside the repository,
 * where none of the repository's node_modules is in reach, and its `molecule-plugins` run from
 * there against `npm start`'s process. The install fetches the package's dependencies from the
 * npm registry.
 */
const stack = useSharedLocalStack();
const REPO_ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
/** Room for a slow registry; nothing is judged by how long it takes. */
const NPM_TIMEOUT_MS = 300_000;

interface Packed {
  filename: string;
  version: string;
  files: Array<{ path: string }>;
}

let user = '';
let packed: Packed;

beforeAll(async () => {
  user = await mkdtemp(join(tmpdir(), 'molecule-sdk-user-'));
  const pack = await run('npm', ['pack', '--workspace', 'packages/sdk', '--json', '--pack-destination', user], { cwd: REPO_ROOT, timeout: NPM_TIMEOUT_MS });
  [packed] = JSON.parse(pack.stdout) as [Packed];
  await run('npm', ['install', '--no-audit', '--no-fund', join(user, packed.filename)], { cwd: user, timeout: NPM_TIMEOUT_MS });
}, 2 * NPM_TIMEOUT_MS);

afterAll(async () => {
  if (user) await rm(user, { recursive: true, force: true });
});

/** `npx molecule-plugins` in the user's directory: the installed bin. */
async function npx(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['molecule-plugins', ...args], { cwd: user, env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The installed packages' names, from `npm ls --all --parseable` (one path each, the project first). */
async function installed(): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', '--all', '--parseable'], { cwd: user });
  return stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

describe('the @molecule/plugins-sdk tarball', () => {
  it('holds the build, its type declarations, the README and package.json, and no source', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'dist/remote-agent.d.ts']));
    expect(paths.filter((p) => !p.startsWith('dist/') && p !== 'package.json' && p !== 'README.md')).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs alone, with its own dependencies and nothing of the local stack', async () => {
    const names = await installed();
    expect(names).toEqual(expect.arrayContaining(['@molecule/plugins-sdk', 'commander', 'tar-stream', 'yaml', 'zod']));
    for (const local of ['tsx', 's3rver', '@electric-sql/pglite', 'aws-local-stepfunctions', 'typescript', 'esbuild']) expect(names).not.toContain(local);
    expect(names.filter((name) => name.startsWith('@aws-sdk/'))).toEqual([]);
  });

  it('exports the client, the remote agent, the contract and signing to import', async () => {
    const script = [
      "import { PluginDeliveryClient } from '@molecule/plugins-sdk';",
      "import { RemoteAgentClient } from '@molecule/plugins-sdk/remote-agent';",
      "import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';",
      "import { SIGNATURE_NAMESPACE } from '@molecule/plugins-sdk/signing';",
      'console.log(typeof PluginDeliveryClient, typeof RemoteAgentClient, contentHash([]), SIGNATURE_NAMESPACE);',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: user });
    expect(stdout).toMatch(/^function function [0-9a-f]{64} molecule-plugin\n$/);
  });
});

describe('npx molecule-plugins, installed from the tarball', () => {
  it('answers --version with the package version, and --help with the commands', async () => {
    expect(await npx(['--version'])).toMatchObject({ code: 0, stdout: `${packed.version}\n` });
    const help = await npx(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: molecule-plugins /);
    expect(help.stdout).toMatch(/\n {2}pull \[options\] <workspace> <name>/);
  });

  it("pulls a plugin into an external workspace from npm start's process, and hashes it as the service did", async () => {
    await stack.call('PUT', '/admin/workspaces/sdk-pkg-ext', { token: stack.adminToken, body: { orgId: 'sdk-pkg-org', runtime: 'external' } });
    const wsToken = (await stack.call('POST', '/admin/workspaces/sdk-pkg-ext/tokens', { token: stack.adminToken })).body.token as string;
    const plugins = join(user, 'plugins');

    const pulled = await npx(['pull', 'sdk-pkg-ext', 'hello-skill', '--dir', plugins], { MOLECULE_API_URL: stack.url, MOLECULE_TOKEN: wsToken });
    expect(pulled.code, pulled.stderr).toBe(0);
    const sha256 = /^pulled hello-skill \(sha256 ([0-9a-f]{64}), \d+ files\) into /.exec(pulled.stdout)?.[1];
    expect(sha256).toBeDefined();
    expect(await readFile(join(plugins, 'hello-skill', 'skills', 'hello', 'SKILL.md'), 'utf8')).toContain('hello');

    expect(await npx(['hash', join(plugins, 'hello-skill')])).toMatchObject({ code: 0, stdout: `${sha256}\n` });
  });
});

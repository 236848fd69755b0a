import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { generateSigningKey } from '@molecule/plugins-sdk/signing';
import { main } from '../../../packages/sdk/src/cli.js';
import { TokenCache } from '../../../packages/sdk/src/token-cache.js';
import { pluginEntries, tarGz } from '../../support/archives.js';
import { fakePlatform, type FakePlatform } from '../../support/fake-platform.js';

/** The CLI in this process against a fake API, and as `npx molecule-plugins` where the package's bin matters. */
let platform: FakePlatform;
let home: string;

async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { HOME: home, ...env },
  });
  return { code, stdout, stderr };
}

async function npx(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['molecule-plugins', ...args], {
      cwd: join(dirname(new URL(import.meta.url).pathname), '../../..'),
      env: { ...process.env, npm_config_offline: 'true', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hashOf = (files: Record<string, string>) => contentHash(Object.entries(files).map(([path, text]) => [path, sha256(text)] as const));

beforeEach(async () => {
  platform = await fakePlatform();
  home = await mkdtemp(join(tmpdir(), 'cli-home-'));
});
afterEach(async () => {
  await platform.close();
  await rm(home, { recursive: true, force: true });
});

describe('npx molecule-plugins', () => {
  it('runs from the repository through the package bin: --version and the command list', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../packages/sdk/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await npx(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await npx(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['install', 'uninstall', 'list', 'pull', 'hash', 'validate', 'help']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(help.stdout).toContain('2 usage error');
  }, 120_000);
});

describe('help and usage', () => {
  it('shows one command with --help and with help <command>', async () => {
    const viaFlag = await cli(['install', '--help']);
    expect(viaFlag).toMatchObject({ code: 0, stderr: '' });
    expect(viaFlag.stdout).toMatch(/^Usage: molecule-plugins install \[options\] <workspace> <source>/);
    expect(viaFlag.stdout).toContain('--uninstall-after <duration>');
    const viaHelp = await cli(['help', 'pull']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toContain('--dir <plugins dir>');
    expect(viaHelp.stdout).not.toContain('--sha256');
  });

  it.each([
    [['sources', '--sha256', 'x'], "unknown option '--sha256'"],
    [['hash', '.', '--token', 't'], "unknown option '--token'"],
    [['list', 'ws', '--at', 'now'], "unknown option '--at'"],
    [['list'], 'list takes <workspace>'],
    [['status'], 'status takes <workspace|operationId> [operationId]'],
    [['sources', 'extra'], 'sources takes no arguments'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['install', 'ws', 'x', '--timeout', 'soon', '--token', 't'], '--timeout takes a number of seconds'],
  ])('refuses %j as a usage error (exit 2)', async (argv, message) => {
    const run = await cli(argv);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toContain(message);
  });

  it('shows the help and exits 2 without a command', async () => {
    const run = await cli([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: molecule-plugins');
  });

  it.each([
    [['list', 'ws', '--url', 'localhost 3000', '--token', 't'], {}, '--url "localhost 3000" is not a URL'],
    [['list', 'ws', '--url', 'ftp://127.0.0.1', '--token', 't'], {}, '--url "ftp://127.0.0.1" is not an http(s) URL'],
    [['list', 'ws', '--token', 't'], { MOLECULE_API_URL: '127.0.0.1:3000' }, 'MOLECULE_API_URL "127.0.0.1:3000" is not a URL'],
  ])('refuses an API address that is not a URL: %j', async (argv, env, message) => {
    const run = await cli(argv, env);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toContain(message);
    expect(platform.requests).toHaveLength(0);
  });
});

describe('token and address', () => {
  beforeEach(() => {
    platform.answer('GET /workspaces/ws-1/plugins', { status: 200, body: [] });
  });
  const sentToken = () => platform.requests.at(-1)?.headers.authorization;

  it('takes --token, then MOLECULE_TOKEN, then the Python SDK MOLECULE_WORKSPACE_TOKEN, then the cached token file', async () => {
    await new TokenCache(join(home, '.molecule', 'ws-1')).save('from-file');
    const env = { MOLECULE_API_URL: platform.url, MOLECULE_TOKEN: 'from-env', MOLECULE_WORKSPACE_TOKEN: 'from-python-env' };
    expect((await cli(['list', 'ws-1', '--token', 'from-flag'], env)).code).toBe(0);
    expect(sentToken()).toBe('Bearer from-flag');
    await cli(['list', 'ws-1'], env);
    expect(sentToken()).toBe('Bearer from-env');
    await cli(['list', 'ws-1'], { ...env, MOLECULE_TOKEN: undefined });
    expect(sentToken()).toBe('Bearer from-python-env');
    const run = await cli(['list', 'ws-1'], { MOLECULE_PLATFORM_URL: platform.url });
    expect(run).toMatchObject({ code: 0, stdout: 'no plugins installed\n' });
    expect(sentToken()).toBe('Bearer from-file');
  });

  it('is a usage error without any token', async () => {
    const run = await cli(['list', 'ws-1'], { MOLECULE_API_URL: platform.url });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no token: pass --token, set MOLECULE_TOKEN or MOLECULE_WORKSPACE_TOKEN, or cache one in ~/.molecule/ws-1/.auth_token');
  });

  it('names the cause when nothing listens', async () => {
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as { port: number }).port;
    await new Promise((resolve) => free.close(resolve));
    const run = await cli(['list', 'ws-1', '--token', 't', '--url', `http://127.0.0.1:${port}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: could not reach http://127.0.0.1:${port}: ECONNREFUSED 127.0.0.1:${port}: is npm start running? (network_error)\n`);
  }, 60_000);

  it("prints the hint of the API's refusal (an org token installing into an external workspace)", async () => {
    const hint = 'external workspaces pull plugins themselves: GET /workspaces/{id}/plugins/{name}/download with the workspace token';
    platform.answer('POST /workspaces/ext/plugins', {
      status: 422,
      body: { error: 'plugins are not pushed to external workspaces', code: 'external_runtime', hint },
    });
    const run = await cli(['install', 'ext', 'hello-skill', '--token', 'org', '--url', platform.url]);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toBe(`error: plugins are not pushed to external workspaces (external_runtime, HTTP 422)\nhint: ${hint}\n`);
    const asJson = await cli(['install', 'ext', 'hello-skill', '--token', 'org', '--url', platform.url, '--json']);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ code: 'external_runtime', status: 422, hint });
  });
});

describe('pull', () => {
  it('defaults to ~/.molecule/<workspace>/plugins and shows its progress', async () => {
    const files = { 'plugin.yaml': 'name: demo\n', 'rules/a.md': 'x'.repeat(50_000) };
    platform.answer('GET /workspaces/ext-1/plugins/demo/download', (url) => ({
      status: 302,
      headers: { location: `${url}/tarball`, 'x-plugin-name': 'demo', 'x-plugin-sha256': hashOf(files) },
    }));
    platform.answer('GET /tarball', { status: 200, raw: await tarGz(pluginEntries(files)) });
    const run = await cli(['pull', 'ext-1', 'demo'], { MOLECULE_API_URL: platform.url, MOLECULE_WORKSPACE_TOKEN: 'ws' });
    const dir = join(home, '.molecule', 'ext-1', 'plugins', 'demo');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`pulled demo (sha256 ${hashOf(files)}, 2 files) into ${dir}\n`);
    expect(run.stderr).toMatch(/^(received \d+\.\d KiB of \d+\.\d KiB\n)+$/);
    expect(run.stderr).toMatch(/received (\d+\.\d KiB) of \1\n$/);
    expect(await readFile(join(dir, 'rules', 'a.md'), 'utf8')).toHaveLength(50_000);
  });
});

describe('hash', () => {
  // International and awkward names, a nested plugin.yaml (hashed: only the root one is left out), an empty file.
  const FILES: Record<string, string> = {
    'plugin.yaml': 'name: intl\n',
    'café.md': 'café\n',
    'ß/straße.md': 'straße\n',
    'emoji/😀.md': 'smile\n',
    '𝄞music.md': 'clef\n',
    'ｆｕｌｌ.md': 'full width\n',
    'עברית.md': 'rtl\n',
    'e\u0301.md': 'combining\n',
    'quote".md': 'q\n',
    'with space.md': 's\n',
    'skills/x/plugin.yaml': 'nested\n',
    'empty.md': '',
  };
  let dir = '';
  beforeEach(async () => {
    dir = join(home, 'plugin');
    await writeTree(dir, FILES);
  });

  it('prints the SPEC content hash', async () => {
    expect(await cli(['hash', dir])).toEqual({ code: 0, stdout: `${hashOf(FILES)}\n`, stderr: '' });
    expect(JSON.parse((await cli(['hash', dir, '--json'])).stdout)).toEqual({ sha256: hashOf(FILES), files: Object.keys(FILES).length, skipped: [] });
  });

  it.skipIf(spawnSync('python3', ['--version']).status !== 0)(
    'prints what the Python SDK verify_plugin_sha256 scheme computes over the same directory, through npx',
    async () => {
      // SPEC §3 written out in Python: sorted [relative path, sha256] pairs without the root plugin.yaml, json.dumps, sha256.
      const script = [
        'import hashlib, json, sys',
        'from pathlib import Path',
        'root = Path(sys.argv[1])',
        'pairs = [(p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in root.rglob("*") if p.is_file()]',
        'pairs = sorted(p for p in pairs if p[0] != "plugin.yaml")',
        'sys.stdout.write(hashlib.sha256(json.dumps(pairs, sort_keys=True).encode()).hexdigest())',
      ].join('\n');
      const python = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8', env: { ...process.env, PYTHONUTF8: '1' } });
      expect(python.status, python.stderr).toBe(0);
      const run = await npx(['hash', dir]);
      expect(run).toMatchObject({ code: 0, stdout: `${python.stdout}\n` });
      expect(python.stdout).toBe(hashOf(FILES));
    },
    120_000,
  );

  it('leaves a symlink out, as the service does, and says so', async () => {
    await symlink('/etc/passwd', join(dir, 'passwd'));
    const run = await cli(['hash', dir]);
    expect(run).toMatchObject({ code: 0, stdout: `${hashOf(FILES)}\n` });
    expect(run.stderr).toContain('warning: passwd is not a regular file');
  });

  it('fails on a directory that is not there', async () => {
    expect((await cli(['hash', join(home, 'nope')])).code).toBe(1);
  });
});

describe('validate', () => {
  const CONTENT = { 'rules/a.md': 'rule\n' };

  it('accepts a good plugin, its declared sha256 matching', async () => {
    const dir = join(home, 'good');
    await writeTree(dir, { ...CONTENT, 'plugin.yaml': `name: good\nversion: 1.2.0\nsha256: ${hashOf(CONTENT)}\n` });
    expect(await cli(['validate', dir])).toEqual({ code: 0, stdout: `${dir}: valid, good 1.2.0 (sha256 ${hashOf(CONTENT)})\n`, stderr: '' });
  });

  it.each([
    ['an invalid name', 'name: Bad Name\n', /^error: plugin\.yaml: name: invalid name "Bad Name"$/m],
    ['a list that is not a list', 'name: x\nskills: hello\n', /^error: plugin\.yaml: skills: /m],
    ['YAML that does not parse', 'name: [unclosed\n', /^error: plugin\.yaml is not valid YAML/m],
    [
      'a sha256 the content does not have',
      `name: x\nsha256: ${'0'.repeat(64)}\n`,
      /^error: plugin\.yaml: declares sha256 0{64}, the content hashes to [0-9a-f]{64}$/m,
    ],
  ])('exits 1 and prints the errors for %s', async (_, manifest, error) => {
    const dir = join(home, 'bad');
    await writeTree(dir, { ...CONTENT, 'plugin.yaml': manifest });
    const run = await cli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(error);
    expect(run.stdout).toMatch(/: invalid \(1 error\)\n$/);
    expect(JSON.parse((await cli(['validate', dir, '--json'])).stdout)).toMatchObject({ valid: false, errors: [expect.any(String)] });
  });

  it('exits 1 without a plugin.yaml', async () => {
    const dir = join(home, 'none');
    await writeTree(dir, CONTENT);
    const run = await cli(['validate', dir]);
    expect(run).toMatchObject({ code: 1 });
    expect(run.stdout).toContain('error: plugin.yaml: missing');
  });
});

describe('statement, sign and verify (SPEC §11)', () => {
  const CONTENT = { 'rules/a.md': 'rule\n' };
  const key = generateSigningKey('dev@laptop');
  const zeros = '0'.repeat(64);

  it('names a plugin without plugin.yaml after --name or its directory, version 0.0.0, manifest hash 64 zeros', async () => {
    const dir = join(home, 'bare-kit');
    await writeTree(dir, CONTENT);
    expect(await cli(['statement', dir])).toEqual({ code: 0, stdout: `molecule-plugin bare-kit 0.0.0 ${hashOf(CONTENT)} ${zeros}`, stderr: '' });
    expect((await cli(['statement', dir, '--name', 'lint'])).stdout).toBe(`molecule-plugin lint 0.0.0 ${hashOf(CONTENT)} ${zeros}`);
    expect(JSON.parse((await cli(['statement', dir, '--json'])).stdout)).toEqual({
      statement: `molecule-plugin bare-kit 0.0.0 ${hashOf(CONTENT)} ${zeros}`,
      name: 'bare-kit',
      version: '0.0.0',
      contentHash: hashOf(CONTENT),
      manifestHash: zeros,
    });
  });

  it('refuses a --name plugin.yaml contradicts, since Stage signs the name plugin.yaml gives', async () => {
    const dir = join(home, 'named');
    await writeTree(dir, { ...CONTENT, 'plugin.yaml': 'name: named\n' });
    const run = await cli(['statement', dir, '--name', 'other']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('plugin.yaml names the plugin "named", not "other"');
  });

  it('signs into plugin.sig (or --output), leaves it out of the statement, and verify says why it refuses', async () => {
    const dir = join(home, 'kit');
    await writeTree(dir, { ...CONTENT, 'plugin.yaml': 'name: kit\nversion: 1.0.0\n' });
    await writeFile(join(home, 'id_ed25519'), key.privateKey, { mode: 0o600 });
    await writeFile(join(home, 'allowed_signers'), `dev@example.com ${key.publicKey}\n`);
    const before = (await cli(['statement', dir])).stdout;

    const noSignature = await cli(['verify', dir, '--signers', join(home, 'allowed_signers')]);
    expect(noSignature.code).toBe(1);
    expect(noSignature.stderr).toContain(`invalid: no signature: ${join(dir, 'plugin.sig')} does not exist`);

    const signed = await cli(['sign', dir, '--key', join(home, 'id_ed25519'), '--json']);
    expect(JSON.parse(signed.stdout)).toMatchObject({
      statement: before,
      path: join(dir, 'plugin.sig'),
      signature: expect.stringMatching(/^-----BEGIN SSH SIGNATURE-----\n/),
    });
    expect((await cli(['statement', dir])).stdout).toBe(before);
    expect(await cli(['verify', dir, '--signers', join(home, 'allowed_signers'), '--json'])).toMatchObject({ code: 0 });

    await writeFile(join(home, 'other.sig'), 'not a signature');
    const malformed = await cli(['verify', dir, '--signers', join(home, 'allowed_signers'), '--signature', join(home, 'other.sig'), '--json']);
    expect(malformed.code).toBe(1);
    expect(JSON.parse(malformed.stdout)).toMatchObject({ valid: false, code: 'signature_invalid', reason: 'malformed', statement: before });
    expect((await cli(['sign', dir, '--key', join(home, 'id_ed25519'), '--output', join(home, 'kit.sig')])).code).toBe(0);
    expect((await readFile(join(home, 'kit.sig'), 'utf8')).startsWith('-----BEGIN SSH SIGNATURE-----')).toBe(true);
  });

  it('is a usage error (exit 2) to sign without --key, and an error (exit 1) with a key it cannot read', async () => {
    const dir = join(home, 'kit2');
    await writeTree(dir, CONTENT);
    expect((await cli(['sign', dir])).code).toBe(2);
    // `verify` without --signers asks about a workspace's drift (SPEC §12) instead: not a usage mistake.
    await writeFile(join(home, 'not-a-key'), 'hello');
    const unreadable = await cli(['sign', dir, '--key', join(home, 'not-a-key')]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toMatch(/^error: /);
  });
});

import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakePlatform, type FakePlatform } from '../../support/fake-platform.js';

/**
 * The installed command (package.json `bin`) runs the CLI in the same process around main() as
 * `npm run cli`: whether stdout is a terminal, and Ctrl-C, reach the commands.
 */
const BIN = fileURLToPath(new URL('../../../bin/molecule-plugins.mjs', import.meta.url));
const CLEAR_SCREEN = '\u001b[H\u001b[2J';
let platform: FakePlatform;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  platform = await fakePlatform();
  platform.answer('GET /operations', { status: 200, body: [] });
  env = { ...process.env, MOLECULE_API_URL: platform.url, MOLECULE_TOKEN: 'admin' };
});
afterAll(async () => platform?.close());

describe('bin/molecule-plugins.mjs', () => {
  it('ends watch on Ctrl-C with status 0', async () => {
    const child = spawn(process.execPath, [BIN, 'watch', '--interval', '0.2', '--status', 'RUNNING'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await once(child.stdout, 'data');

    child.kill('SIGINT');
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];

    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('redraws the screen when stdout is a terminal, and appends frames when it is not', async () => {
    const command = `'${process.execPath}' '${BIN}' watch --once --status RUNNING`;
    const onTerminal = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env, timeout: 60_000 });
    expect(onTerminal.stdout.startsWith(CLEAR_SCREEN)).toBe(true);

    const piped = await promisify(execFile)(process.execPath, [BIN, 'watch', '--once', '--status', 'RUNNING'], { env, timeout: 60_000 });
    expect(piped.stdout).toMatch(/^molecule-plugins watch: running operations/);
  });
});

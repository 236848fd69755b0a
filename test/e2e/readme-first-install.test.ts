import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/database.js';

/**
 * The README's "First install (copy-paste)" blocks, run as a reader pastes them (under `bash -e`,
 * so the first command that fails fails the test). Only where they write changes: the port, the
 * state directory and /tmp point into a directory of this test's own, so a stack a developer runs
 * on 3000 is left alone.
 */
const repoRoot = join(import.meta.dirname, '..', '..');
const SECTION = '## First install (copy-paste)';

/** The `sh` blocks of the README's first-install section, in order, as one script. */
function firstInstallScript(readme: string): string {
  const start = readme.indexOf(SECTION);
  if (start === -1) throw new Error(`README.md has no "${SECTION}" section`);
  const next = readme.indexOf('\n## ', start + SECTION.length);
  const section = readme.slice(start, next === -1 ? undefined : next);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks.length === 0) throw new Error(`"${SECTION}" has no sh block`);
  return blocks.join('\n');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs `script` in its own process group, and ends whatever of that group outlives it. */
async function runScript(script: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  const child = spawn('bash', ['-e', '-c', script], { cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => groupAlive(child.pid!) && process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  if (groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGTERM');
  for (let i = 0; i < 50 && groupAlive(child.pid!); i++) await new Promise((r) => setTimeout(r, 200));
  if (groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  return { code, output };
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

describe("the README's first install", () => {
  it.skipIf(!hasCurl)('runs as written: installs, polls, lists, uninstalls, and the CLI does the same and pulls', { timeout: 300_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'readme-first-install-'));
    const database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    try {
      const port = await freePort();
      const script = firstInstallScript(await readFile(join(repoRoot, 'README.md'), 'utf8'))
        .replaceAll('/tmp/', `${dir}/`)
        .replaceAll('.local/', `${dir}/local/`)
        .replaceAll('localhost:3000', `localhost:${port}`)
        .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`);
      expect(script, 'every address in the block is the local stack on port 3000').not.toMatch(/:3000\b/);
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), MOLECULE_LOCAL_DIR: join(dir, 'local') };
      if (database) env.DATABASE_URL = database.url;
      else delete env.DATABASE_URL;

      const { code, output } = await runScript(script, env, 240_000);
      const log = await readFile(join(dir, 'molecule.log'), 'utf8').catch(() => '(no molecule.log)');
      expect(code, `the block failed:\n${output}\n--- npm start's log ---\n${log}`).toBe(0);
      expect(output).toContain('"status":"installed","plugin":"code-review-rules"'); // Prefer: wait answered with the result
      expect(output).toMatch(/restart ws-1/); // the restart log the block cats
      expect(output).toContain('"status":"uninstalled","plugin":"code-review-rules"');
      expect(output).toMatch(/installed code-review-rules .* on ws-1/); // the CLI, step by step
      expect(output).toMatch(/uninstalled code-review-rules on ws-1/);
      expect(output).toMatch(/pulled hello-skill .* into \S+\/ws-ext-plugins\/hello-skill/);
    } finally {
      await database?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

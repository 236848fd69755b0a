import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * For tests that run the CLI several times: each run is a fresh Node process compiling the CLI's
 * TypeScript, about a second on an idle machine and several on a busy CI machine, so a test of a
 * handful of runs can outlast the default 30 s without anything being wrong.
 */
export const CLI_TEST_TIMEOUT_MS = 180_000;

/** The CLI as a user runs it, as its own process, against a stack's API with a token: its exit status and output. */
export async function runCli(url: string, token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'packages/sdk/src/cli.ts', ...args], {
      env: { ...process.env, MOLECULE_API_URL: url, MOLECULE_TOKEN: token },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

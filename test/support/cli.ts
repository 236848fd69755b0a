import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

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

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';

/**
 * A process on an emulated instance, as the SSM and EC2 Instance Connect emulators start them:
 * in the instance's root directory, as the current user, with `MOLECULE_HOST_ROOT` pointing at
 * that root (host scripts prefix every path with it) and a minimal environment. Each runs in its
 * own process group, so stopping it stops everything it started.
 */
export interface HostProcessOptions {
  /** The instance's root directory, created when missing. */
  root: string;
  command: string;
  args: readonly string[];
  /** `pipe` to feed the process (SSH), `ignore` when it reads nothing (SSM). */
  stdin: 'pipe' | 'ignore';
  env?: Record<string, string>;
}

const KILL_GRACE_MS = 2_000;

export function spawnOnHost({ root, command, args, stdin, env }: HostProcessOptions): ChildProcess {
  mkdirSync(root, { recursive: true });
  const child = spawn(command, args, {
    cwd: root,
    detached: true,
    stdio: [stdin, 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: root,
      LANG: 'C.UTF-8',
      MOLECULE_HOST_ROOT: root,
      ...env,
    },
  });
  child.on('error', () => undefined);
  return child;
}

/** SIGTERM to the process group (the scripts' traps clean up), SIGKILL if it is still there shortly after. */
export function stopHostProcess(child: ChildProcess): void {
  const pid = child.pid;
  if (!pid) return;
  killGroup(pid, 'SIGTERM');
  setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref();
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** The emulated instances: one directory per instance id under `rootDir`. */
export function knownInstanceIds(rootDir: string): string[] {
  try {
    return readdirSync(rootDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && INSTANCE_ID_RE.test(entry.name))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

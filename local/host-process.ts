import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { forkTs } from './ts-process.js';

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

export type ToSpawner =
  | ({ type: 'spawn'; id: number; stdoutBytes: number; stderrBytes: number } & Omit<HostProcessOptions, 'stdin'>)
  /** As stopHostProcess does. */
  | { type: 'stop'; id: number }
  /** Kill everything still running and exit. */
  | { type: 'close' };
/** Output as base64 of the bytes kept. `error`: the command could not be started. */
export type FromSpawner = { type: 'exit'; id: number; code: number | null; stdout: string; stderr: string; error?: string };

/** One command started by the spawner. */
export interface HostRun {
  /** Its exit code (null when a signal ended it) and the first bytes of its output. */
  readonly exited: Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }>;
  /** SIGTERM to its process group, SIGKILL shortly after if it is still there. */
  stop(): void;
}

export interface HostSpawner {
  /** The spawner's own process id. */
  readonly pid: number | undefined;
  run(options: Omit<HostProcessOptions, 'stdin'>, keep: { stdoutBytes: number; stderrBytes: number }): HostRun;
  /** Kills what is still running and ends the spawner. */
  close(): Promise<void>;
}

const SPAWNER_CLOSE_GRACE_MS = 5_000;

/**
 * Host commands started from a small process of their own (host-spawner.ts), so their `spawn`
 * does not block this process's event loop; commands fed on stdin (EC2 Instance Connect) still
 * use `spawnOnHost` here. A command whose spawner is gone ends as if killed.
 */
export function startHostSpawner(): HostSpawner {
  const { child, exited, endWithin } = forkTs(new URL('./host-spawner.ts', import.meta.url));
  const waiting = new Map<number, (exit: FromSpawner) => void>();
  let nextId = 1;
  let gone = false;
  const spawnerGone = (id: number): FromSpawner => ({ type: 'exit', id, code: null, stdout: '', stderr: '', error: 'the host spawner exited' });
  child.on('message', (message: FromSpawner) => {
    waiting.get(message.id)?.(message);
    waiting.delete(message.id);
  });
  void exited.then(() => {
    gone = true;
    for (const [id, done] of waiting) done(spawnerGone(id));
    waiting.clear();
  });
  const tell = (message: ToSpawner) => {
    if (child.connected) child.send(message);
  };
  return {
    pid: child.pid,
    run(options, keep) {
      const id = nextId++;
      // Once the spawner is gone, a new command fails at once rather than waiting for nobody.
      const done = gone ? Promise.resolve(spawnerGone(id)) : new Promise<FromSpawner>((resolve) => waiting.set(id, resolve));
      tell({ type: 'spawn', id, ...options, ...keep });
      return {
        exited: done.then((exit) => {
          if (exit.error !== undefined && exit.code === null) throw new Error(exit.error);
          return { code: exit.code, stdout: Buffer.from(exit.stdout, 'base64'), stderr: Buffer.from(exit.stderr, 'base64') };
        }),
        stop: () => tell({ type: 'stop', id }),
      };
    },
    async close() {
      tell({ type: 'close' });
      await endWithin(SPAWNER_CLOSE_GRACE_MS);
    },
  };
}

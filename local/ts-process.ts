import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A child process running one of the local stack's TypeScript modules, with an IPC channel. */
export interface TsProcess {
  child: ChildProcess;
  /** Resolves once it has exited, however it ended. */
  exited: Promise<void>;
  /** Waits for it to exit, and SIGKILLs it if it has not within `graceMs`. */
  endWithin(graceMs: number): Promise<void>;
}

/** Forks `entry` with tsx registered, as `npm start` runs the main process; it inherits stdout and stderr. */
export function forkTs(entry: URL, env?: NodeJS.ProcessEnv): TsProcess {
  const child = fork(fileURLToPath(entry), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(env && { env }),
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    exited,
    async endWithin(graceMs) {
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

import type { Log } from '../lambdas/shared/logger.js';

/**
 * The local stand-in for the EventBridge schedule (SPEC §7, §8): runs a job every `intervalMs`,
 * at a fixed rate as EventBridge does. A tick that comes while the last run is still going is
 * skipped (logged), so two runs never overlap. `stop()` cancels the timer and waits for a run in
 * progress.
 */
export interface LocalScheduler {
  readonly intervalMs: number;
  stop(): Promise<void>;
}

export interface SchedulerOptions<R> {
  /** Names the job in the logs. */
  name: string;
  intervalMs: number;
  run: () => Promise<R>;
  /** What a finished run is logged with. */
  describe: (result: R) => Record<string, unknown>;
  log: Log;
  /** Also run once right away (a restarted stack catches up at once). */
  immediately?: boolean;
}

export function startScheduler<R>({ name, intervalMs, run, describe, log, immediately = false }: SchedulerOptions<R>): LocalScheduler {
  let current: Promise<void> | undefined;
  const tick = () => {
    if (current) {
      log.warn('scheduled run skipped: the previous one is still running', { schedule: name });
      return;
    }
    current = run().then(
      (result) => log.info('scheduled run finished', { schedule: name, ...describe(result) }),
      (err: unknown) => log.error('scheduled run failed', { schedule: name, error: (err as Error).message }),
    );
    void current.finally(() => (current = undefined));
  };
  const timer = setInterval(tick, intervalMs);
  if (immediately) tick();
  log.info('schedule started', { schedule: name, intervalMs });
  return {
    intervalMs,
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}

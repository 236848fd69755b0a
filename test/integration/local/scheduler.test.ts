import { describe, expect, it, vi } from 'vitest';
import type { Log } from '../../../lambdas/shared/logger.js';
import { startScheduler } from '../../../local/scheduler.js';

function recordingLog() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push({ level, message, fields });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } as unknown as Log };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('the local scheduler', () => {
  it('runs the job on its interval, never two at once, logging each run', async () => {
    const { lines, log } = recordingLog();
    let release: () => void = () => undefined;
    let runs = 0;
    let active = 0;
    let maxActive = 0;
    const scheduler = startScheduler({
      name: 'cleanup',
      intervalMs: 5,
      run: async () => {
        runs++;
        maxActive = Math.max(maxActive, ++active);
        // The first run outlasts several ticks.
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
        active--;
        return { started: runs };
      },
      describe: (result) => result,
      log,
    });

    await until(() => lines.filter((l) => l.message.includes('skipped')).length >= 2);
    expect(runs).toBe(1);
    release();
    await until(() => runs >= 3);
    await scheduler.stop();

    expect(maxActive).toBe(1);
    expect(lines).toContainEqual({ level: 'info', message: 'scheduled run finished', fields: { schedule: 'cleanup', started: 1 } });
    expect(lines).toContainEqual({ level: 'warn', message: 'scheduled run skipped: the previous one is still running', fields: { schedule: 'cleanup' } });
  });

  it('stops: waits for the run in progress and starts no other', async () => {
    const { log } = recordingLog();
    let release: () => void = () => undefined;
    let finished = false;
    const run = vi.fn(async () => {
      await new Promise<void>((resolve) => (release = resolve));
      finished = true;
      return {};
    });
    const scheduler = startScheduler({ name: 'cleanup', intervalMs: 5, run, describe: () => ({}), log });
    await until(() => run.mock.calls.length === 1);

    const stopped = scheduler.stop();
    release();
    await stopped;

    expect(finished).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('logs a failed run and keeps the schedule', async () => {
    const { lines, log } = recordingLog();
    let runs = 0;
    const scheduler = startScheduler({
      name: 'cleanup',
      intervalMs: 5,
      run: async () => {
        if (++runs === 1) throw new Error('database down');
        return {};
      },
      describe: () => ({}),
      log,
    });
    await until(() => runs >= 2);
    await scheduler.stop();
    expect(lines).toContainEqual({ level: 'error', message: 'scheduled run failed', fields: { schedule: 'cleanup', error: 'database down' } });
  });
});

import { ApiError, type OperationsFilter, type PluginDeliveryClient } from '../client.js';
import { type Io, UsageError } from './io.js';
import { watchFrame } from './ops-view.js';

/** The options of `watch`. */
export interface WatchFlags {
  status?: string;
  workspace?: string;
  org?: string;
  plugin?: string;
  kind?: string;
  since?: string;
  limit: string;
  interval: number;
  once?: boolean;
}

const CLEAR_SCREEN = '\u001b[H\u001b[2J';
const RECENT_FAILURES_MS = 60 * 60_000;

/**
 * `watch`: every interval, fetches the running operations and the recently failed ones (or those
 * of `--status`) and draws them, clearing the screen on a terminal and appending frames otherwise.
 * A failed fetch is shown in the frame and retried at the next one; Ctrl-C ends it with status 0.
 */
export async function watch(client: PluginDeliveryClient, flags: WatchFlags, io: Io): Promise<void> {
  const status = flags.status?.toUpperCase();
  if (status !== undefined && !['RUNNING', 'SUCCEEDED', 'FAILED'].includes(status)) throw new UsageError('--status must be RUNNING, SUCCEEDED or FAILED');
  if (flags.kind !== undefined && !['install', 'uninstall'].includes(flags.kind)) throw new UsageError('--kind must be install or uninstall');
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new UsageError('--limit must be a whole number from 1 to 100');
  const base: OperationsFilter = {
    ...(flags.workspace ? { workspaceId: flags.workspace } : {}),
    ...(flags.org ? { orgId: flags.org } : {}),
    ...(flags.plugin ? { plugin: flags.plugin } : {}),
    ...(flags.kind ? { kind: flags.kind as 'install' | 'uninstall' } : {}),
    limit,
  };
  const frame = async (): Promise<string> => {
    const now = new Date();
    const since = flags.since ?? new Date(now.getTime() - RECENT_FAILURES_MS).toISOString();
    const queries: OperationsFilter[] = status
      ? [{ ...base, status: status as OperationsFilter['status'], ...(flags.since ? { since: flags.since } : {}) }]
      : [
          { ...base, status: 'RUNNING', ...(flags.since ? { since: flags.since } : {}) },
          { ...base, status: 'FAILED', since },
        ];
    const title = `molecule-plugins watch: ${status ? status.toLowerCase() : `running, and failed since ${since}`} operations, ${now.toISOString()}`;
    try {
      const pages = await Promise.all(queries.map((q) => client.operations(q)));
      const operations = pages.flat().sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
      return watchFrame(title, operations, now);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 401 || err.status === 403)) throw err;
      return `${title}\n(could not fetch the operations: ${(err as Error).message}; retrying)\n`;
    }
  };
  for (;;) {
    const text = await frame();
    io.stdout(io.stdoutIsTTY ? `${CLEAR_SCREEN}${text}` : `${text}\n`);
    if (flags.once || io.interrupted?.aborted) return;
    const stopped = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), flags.interval * 1000);
      io.interrupted?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        { once: true },
      );
    });
    if (stopped) return;
  }
}

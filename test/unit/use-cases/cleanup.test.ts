import { describe, expect, it } from 'vitest';
import { type CleanupDeps, runCleanup } from '../../../lambdas/use-cases/cleanup.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeClock, fakeInstalled, fakeOperations, fakeWorkflow, fakeWorkspaces, workspace } from '../../support/operation-fakes.js';

const NO_REVISIONS: CleanupDeps['revisions'] = { list: async () => [], expiredTarballs: async () => [], markTarballsDeleted: async () => {} };

/** A cleanup run's ports with nothing due, nothing kept and nothing to sweep, but what a test sets. */
function cleanupDeps(clock: ReturnType<typeof fakeClock>, over: Partial<CleanupDeps> = {}): CleanupDeps {
  return {
    clock,
    workflow: fakeWorkflow(),
    workspaces: fakeWorkspaces([]),
    operations: fakeOperations(clock),
    log: logger,
    batch: 10,
    installed: fakeInstalled([], []),
    revisions: NO_REVISIONS,
    ...over,
  };
}

describe('scheduled cleanup', () => {
  it('starts an uninstall per due row, skips rows of unknown workspaces, reports what failed to start and purges', async () => {
    const clock = fakeClock();
    const workflow = fakeWorkflow();
    const workspaces = fakeWorkspaces([workspace('ws')]);
    const deps = cleanupDeps(clock, {
      workflow,
      workspaces,
      installed: fakeInstalled(
        [],
        [
          { workspaceId: 'ws', name: 'due', reason: 'uninstall_due' },
          { workspaceId: 'gone', name: 'orphan', reason: 'not_in_allowlist' },
        ],
      ),
    });
    const summary = await runCleanup(deps);
    expect(summary.started).toEqual([{ workspaceId: 'ws', name: 'due', reason: 'uninstall_due', operationId: expect.any(String) }]);
    expect(workflow.started.map((s) => s.input)).toMatchObject([{ kind: 'uninstall', plugin: 'due', source: null }]);
    expect(summary.failedToStart).toEqual([]);
    expect(workspaces.purged).toEqual([10]);

    const failing = await runCleanup({ ...deps, workflow: fakeWorkflow({ fail: true }) });
    expect(failing.failedToStart).toEqual([
      { workspaceId: 'ws', name: 'due', reason: 'uninstall_due', error: 'the delivery workflow could not be started; try again' },
    ]);
  });

  it('deletes the tarballs no kept revision names once untouched for an hour, and marks them; one just copied stays', async () => {
    const clock = fakeClock(new Date('2026-06-01T12:00:00.000Z'));
    const hoursAgo = (h: number) => new Date(clock.now().getTime() - h * 3_600_000);
    const sha = (c: string) => c.repeat(64);
    const modified: Record<string, Date | null> = { [sha('b')]: hoursAgo(5), [sha('c')]: hoursAgo(0.5), [sha('d')]: null };
    const deleted: string[] = [];
    const marked: string[] = [];
    const asked: number[] = [];
    const summary = await runCleanup(
      cleanupDeps(clock, {
        revisions: {
          list: async () => [],
          expiredTarballs: async (limit) => {
            asked.push(limit);
            return [sha('b'), sha('c'), sha('d')];
          },
          markTarballsDeleted: async (shas) => {
            marked.push(...shas);
          },
        },
        tarballs: {
          lastModified: async (s) => modified[s] ?? null,
          delete: async (shas) => {
            deleted.push(...shas);
          },
        },
      }),
    );
    expect(deleted).toEqual([sha('b')]);
    // b is deleted, d was already gone; c stays for a later run.
    expect(marked.sort()).toEqual([sha('b'), sha('d')]);
    expect(summary.expiredTarballs).toBe(1);
    expect(asked).toEqual([20]);
  });

  it('goes on with its run when the bucket fails, pruning nothing', async () => {
    const clock = fakeClock();
    const summary = await runCleanup(
      cleanupDeps(clock, {
        workspaces: fakeWorkspaces([workspace('ws')]),
        installed: fakeInstalled([], [{ workspaceId: 'ws', name: 'due', reason: 'uninstall_due' }]),
        revisions: { list: async () => [], expiredTarballs: async () => ['e'.repeat(64)], markTarballsDeleted: async () => {} },
        tarballs: {
          lastModified: async () => {
            throw new Error('SlowDown');
          },
          delete: async () => {},
        },
      }),
    );
    expect(summary.started).toHaveLength(1);
    expect(summary.expiredTarballs).toBe(0);
  });
});

describe('the drift sweep on the cleanup run', () => {
  it('starts a verify of the least recently verified workspaces, at most the batch, and counts the drifted ones', async () => {
    const clock = fakeClock(new Date('2026-06-01T12:00:00.000Z'));
    const workflow = fakeWorkflow();
    const asked: Array<[number, string]> = [];
    const summary = await runCleanup(
      cleanupDeps(clock, {
        workflow,
        workspaces: fakeWorkspaces([workspace('ws-a'), workspace('ws-b')]),
        driftSweep: {
          batch: 3,
          afterMs: 6 * 3_600_000,
          store: {
            claim: async (batch, verifiedBefore) => {
              asked.push([batch, verifiedBefore.toISOString()]);
              return ['ws-b', 'gone', 'ws-a'];
            },
            countDrifted: async () => 4,
          },
        },
      }),
    );

    expect(asked).toEqual([[3, '2026-06-01T06:00:00.000Z']]);
    expect(summary.driftSweep).toEqual({
      started: [
        { workspaceId: 'ws-b', operationId: expect.any(String) },
        { workspaceId: 'ws-a', operationId: expect.any(String) },
      ],
      failedToStart: [],
      driftedWorkspaces: 4,
    });
    expect(workflow.started.map((s) => s.input)).toMatchObject([
      { kind: 'verify', plugin: null, source: null },
      { kind: 'verify', plugin: null, source: null },
    ]);
  });

  it('sweeps nothing with a batch of 0', async () => {
    const clock = fakeClock();
    const summary = await runCleanup(
      cleanupDeps(clock, { driftSweep: { batch: 0, afterMs: 0, store: { claim: async () => ['ws'], countDrifted: async () => 0 } } }),
    );
    expect(summary.driftSweep).toBeUndefined();
  });
});

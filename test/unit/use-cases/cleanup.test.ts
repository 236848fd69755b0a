import { describe, expect, it } from 'vitest';
import { runCleanup } from '../../../lambdas/use-cases/cleanup.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeClock, fakeInstalled, fakeOperations, fakeWorkflow, fakeWorkspaces, workspace } from '../../support/operation-fakes.js';

describe('scheduled cleanup', () => {
  it('starts an uninstall per due row, skips rows of unknown workspaces, reports what failed to start and purges', async () => {
    const clock = fakeClock();
    const workflow = fakeWorkflow();
    const workspaces = fakeWorkspaces([workspace('ws')]);
    const deps = {
      clock,
      workflow,
      workspaces,
      operations: fakeOperations(clock),
      log: logger,
      batch: 10,
      installed: fakeInstalled(
        [],
        [
          { workspaceId: 'ws', name: 'due', reason: 'uninstall_due' },
          { workspaceId: 'gone', name: 'orphan', reason: 'not_in_allowlist' },
        ],
      ),
    };
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
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SpawnedStack } from './spawn-local-stack.js';

/**
 * SPEC §10's exact ledger after a fault: each workspace of the rollout has exactly one operation of
 * it, every one ended, the rollout's own list names those operations, and the plugin is on each host.
 */
export async function expectExactLedger(
  stack: SpawnedStack,
  rollout: { rolloutId: string; workspaces: Array<{ operationId?: string }> },
  workspaces: Array<{ id: string; instanceId: string }>,
  plugin: string,
): Promise<Array<{ workspaceId: string; status: string }>> {
  const ops = (await stack.call('GET', '/operations?limit=100', { token: stack.adminToken })).body as Array<{
    operationId: string;
    workspaceId: string;
    status: string;
    rolloutId?: string;
  }>;
  const ofRollout = ops.filter((op) => op.rolloutId === rollout.rolloutId);
  expect(ofRollout.map((op) => op.workspaceId).sort()).toEqual(workspaces.map((w) => w.id).sort());
  expect(ofRollout.filter((op) => op.status === 'RUNNING')).toEqual([]);
  expect(rollout.workspaces.map((w) => w.operationId).sort()).toEqual(ofRollout.map((op) => op.operationId).sort());
  for (const w of workspaces) expect(existsSync(join(stack.localDir, 'instances', w.instanceId, 'configs', 'plugins', plugin))).toBe(true);
  return ofRollout;
}

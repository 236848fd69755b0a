import type { Db } from '../lambdas/store/db.js';
import { upsertWorkspace } from '../lambdas/store/workspaces.js';
import { mintToken } from '../lambdas/store/tokens.js';
import type { Transport } from '../lambdas/shared/types.js';
import type { LocalInstances } from './instances.js';

export interface DemoSeed {
  orgId: string;
  orgToken: string;
  workspaces: Array<{ id: string; runtime: string; instanceId: string | null; token: string }>;
}

const DEMO_ORG = 'demo-org';
const DEMO_WORKSPACES: Array<{ id: string; runtime: string; instanceId: string | null; transport: Transport }> = [
  { id: 'ws-demo', runtime: 'claude-code', instanceId: 'i-0a1b2c3d4e5f60001', transport: 'auto' },
  { id: 'ws-hermes', runtime: 'hermes', instanceId: 'i-0a1b2c3d4e5f60002', transport: 'auto' },
  // Delivered over EC2 Instance Connect (SSH) instead of SSM.
  { id: 'ws-eic', runtime: 'claude-code', instanceId: 'i-0a1b2c3d4e5f60003', transport: 'eic' },
  { id: 'ws-external', runtime: 'external', instanceId: null, transport: 'auto' },
];

/** A demo org with four workspaces and fresh tokens (only hashes are stored, so each start mints new ones). */
export async function seedDemo(db: Db, instances: LocalInstances): Promise<DemoSeed> {
  const workspaces: DemoSeed['workspaces'] = [];
  for (const ws of DEMO_WORKSPACES) {
    await upsertWorkspace(db, ws.id, { orgId: DEMO_ORG, runtime: ws.runtime, instanceId: ws.instanceId, transport: ws.transport });
    if (ws.instanceId) await instances.ensure(ws.instanceId);
    const { token } = await mintToken(db, 'workspace', { orgId: DEMO_ORG, workspaceId: ws.id });
    workspaces.push({ id: ws.id, runtime: ws.runtime, instanceId: ws.instanceId, token });
  }
  const { token: orgToken } = await mintToken(db, 'org', { orgId: DEMO_ORG });
  return { orgId: DEMO_ORG, orgToken, workspaces };
}

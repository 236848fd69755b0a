import type { SSMClient } from '@aws-sdk/client-ssm';
import { DeliveryFailed, ExternalRuntime, WorkspaceUnreachable } from '../shared/errors.js';
import { INSTANCE_ID_RE, type Workspace } from '../shared/types.js';
import { awsThrottled, isTransientAwsError } from '../shared/aws-faults.js';
import { isSsmOnline } from './ssm.js';

/** The route chosen for a workspace: SSM Run Command, or EC2 Instance Connect (SSH); how it then went is `TransportTaken`. */
export type DeliveryRoute = 'ssm' | 'eic';

/** The workspace's EC2 instance id, when it is one we deliver to (SPEC §5). */
export function deliverableInstanceId(workspace: Workspace): string {
  if (workspace.runtime === 'external') {
    throw new ExternalRuntime('external workspaces are never pushed to; they pull plugins through the download endpoint', {
      workspaceId: workspace.id,
    });
  }
  const instanceId = workspace.instanceId;
  if (!instanceId || !INSTANCE_ID_RE.test(instanceId)) {
    throw new WorkspaceUnreachable('the workspace has no EC2 instance to deliver to', { workspaceId: workspace.id });
  }
  return instanceId;
}

/**
 * SSM when the instance is managed and online, else EC2 Instance Connect; a workspace's
 * `transport` forces one. A forced SSM on an instance whose agent is offline fails at once
 * rather than waiting out the command's delivery timeout. A stopped instance is never online in
 * SSM, so with `auto` it goes to EIC, which reports it as not running.
 */
export async function chooseTransport(workspace: Workspace, { ssm }: { ssm: SSMClient }): Promise<DeliveryRoute> {
  const instanceId = deliverableInstanceId(workspace);
  if (workspace.transport === 'eic') return 'eic';
  let online: boolean;
  try {
    online = await isSsmOnline(ssm, instanceId);
  } catch (err) {
    if (isTransientAwsError(err)) throw awsThrottled(err, 'the SSM instance lookup', { workspaceId: workspace.id, instanceId });
    throw new DeliveryFailed('could not look up the workspace instance in SSM', { workspaceId: workspace.id, instanceId }, { cause: err });
  }
  if (online) return 'ssm';
  if (workspace.transport === 'ssm') {
    throw new WorkspaceUnreachable('the workspace instance is not running or its SSM agent is offline', {
      workspaceId: workspace.id,
      instanceId,
      transport: 'ssm',
    });
  }
  return 'eic';
}

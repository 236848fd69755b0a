import { WorkspaceUnreachable } from '../shared/errors.js';
import type { HostCommand, HostCommandResult } from './host-command.js';

/**
 * EC2 Instance Connect delivery (SendSSHPublicKey, then SSH) is a later issue. Until then a
 * workspace that needs it is reported unreachable instead of pretending to deliver.
 */
export async function runViaEic(command: HostCommand): Promise<HostCommandResult> {
  throw new WorkspaceUnreachable('EC2 Instance Connect delivery is not available yet', {
    instanceId: command.instanceId,
    transport: 'eic',
  });
}

import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Db } from '../../store/db.js';
import { acquireLease } from '../../store/leases.js';
import { WorkspaceBusy } from '../../shared/errors.js';
import type { Config } from '../../shared/config.js';
import { createEc2Client, createEicClient, type AwsClientOptions } from '../../shared/aws.js';
import type { WorkflowState } from '../../shared/types.js';
import type { DeliveryDeps } from '../../delivery/index.js';
import type { EicDeps } from '../../delivery/eic.js';

/**
 * Operations on one workspace never interleave on its host (SPEC §6): the step that first touches
 * the host takes the workspace lease, Record or RecordFailure frees it. A busy workspace is a
 * transient error the workflow retries with backoff.
 */
export async function holdWorkspace(db: Db, state: WorkflowState, ttlMs: number): Promise<void> {
  if (!(await acquireLease(db, state.workspace.id, state.operationId, ttlMs))) {
    throw new WorkspaceBusy(`workspace "${state.workspace.id}" is busy with another plugin operation`);
  }
}

/**
 * How the host steps reach a workspace: SSM, polled at the configured pace, or EC2 Instance
 * Connect, whose clients are made on the first delivery that needs them and then kept.
 */
export function deliveryDeps(ssm: SSMClient, config: Config, aws: AwsClientOptions): DeliveryDeps {
  let eicClients: ReturnType<EicDeps['clients']> | undefined;
  return {
    ssm,
    config,
    ssmPolling: { pollIntervalMs: config.ssmPollIntervalMs, maxPollIntervalMs: Math.max(config.ssmPollIntervalMs, 5_000) },
    eic: {
      settings: config.eic,
      clients: () => {
        if (!eicClients) {
          eicClients = Promise.all([createEc2Client(aws), createEicClient(aws)]).then(([ec2, eic]) => ({ ec2, eic }));
          eicClients.catch(() => (eicClients = undefined));
        }
        return eicClients;
      },
    },
  };
}

import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Runtime } from '../runtime.js';
import type { Db } from '../store/db.js';
import { pgTunnelSlots } from '../store/tunnel-slots.js';
import type { Config } from '../shared/config.js';
import { createEc2Client, createEicClient, createS3Client, createSsmClient, type AwsClientOptions } from '../shared/aws.js';
import type { DeliveryDeps } from '../delivery/index.js';
import type { EicDeps } from '../delivery/eic.js';
import { checkAllowlistStep } from '../workflow/steps/check-allowlist.js';
import { deliverStep } from '../workflow/steps/deliver.js';
import { removeStep } from '../workflow/steps/remove.js';
import { restartStep } from '../workflow/steps/restart.js';
import { recordStep } from '../workflow/steps/record.js';
import { recordFailureStep } from '../workflow/steps/record-failure.js';
import { verifyHealthStep } from '../workflow/steps/verify-health.js';
import { planStep } from '../workflow/steps/plan.js';
import { inventoryStep } from '../workflow/steps/inventory.js';
import { repairStep } from '../workflow/steps/repair.js';
import { postgresStepPorts } from '../workflow/adapters/postgres.js';
import { s3Inventories, s3KeptTarballs } from '../workflow/adapters/s3.js';

/**
 * Wires each workflow step to a Runtime and the AWS clients it uses: what every step Lambda's
 * handler builds on its first invocation. A step makes only the clients it needs. Stage is
 * wired in composition/stage.ts, so these bundles stay free of the plugin pipeline.
 */

export async function buildCheckAllowlist({ db }: Runtime) {
  return checkAllowlistStep({ ports: postgresStepPorts(db) });
}

export async function buildDeliver({ db, config, aws }: Runtime) {
  const [s3, ssm] = await Promise.all([createS3Client(aws), createSsmClient(aws)]);
  return deliverStep({ ports: postgresStepPorts(db), config, s3, delivery: deliveryDeps(ssm, config, aws, db) });
}

export async function buildRemove({ db, config, aws }: Runtime) {
  return removeStep({ ports: postgresStepPorts(db), config, delivery: deliveryDeps(await createSsmClient(aws), config, aws, db) });
}

export async function buildRestart({ db, config, aws }: Runtime) {
  return restartStep({ ports: postgresStepPorts(db), delivery: deliveryDeps(await createSsmClient(aws), config, aws, db) });
}

export async function buildVerifyHealth({ db, config, aws }: Runtime) {
  return verifyHealthStep({ ports: postgresStepPorts(db), delivery: deliveryDeps(await createSsmClient(aws), config, aws, db) });
}

export async function buildRecord({ db, config, aws }: Runtime) {
  const s3 = await createS3Client(aws);
  return recordStep({ ports: postgresStepPorts(db), tarballs: s3KeptTarballs(s3, config.stagingBucket), config });
}

export async function buildRecordFailure({ db, config, aws }: Runtime) {
  const s3 = await createS3Client(aws);
  return recordFailureStep({ ports: postgresStepPorts(db), s3, tarballs: s3KeptTarballs(s3, config.stagingBucket), config });
}

export async function buildPlan({ db }: Runtime) {
  return planStep({ ports: postgresStepPorts(db) });
}

export async function buildInventory({ db, config, aws }: Runtime) {
  const [s3, ssm] = await Promise.all([createS3Client(aws), createSsmClient(aws)]);
  return inventoryStep({
    ports: postgresStepPorts(db),
    config,
    inventories: s3Inventories(s3, config.stagingBucket),
    delivery: deliveryDeps(ssm, config, aws, db),
  });
}

export async function buildRepair({ db, config, aws }: Runtime) {
  const [s3, ssm] = await Promise.all([createS3Client(aws), createSsmClient(aws)]);
  return repairStep({
    ports: postgresStepPorts(db),
    config,
    s3,
    inventories: s3Inventories(s3, config.stagingBucket),
    tarballs: s3KeptTarballs(s3, config.stagingBucket),
    delivery: deliveryDeps(ssm, config, aws, db),
  });
}

/**
 * How the host steps reach a workspace: SSM, polled at the configured pace, or EC2 Instance
 * Connect, whose clients are made on the first delivery that needs them and then kept.
 */
export function deliveryDeps(ssm: SSMClient, config: Config, aws: AwsClientOptions, db?: Db): DeliveryDeps {
  let eicClients: ReturnType<EicDeps['clients']> | undefined;
  return {
    ssm,
    config,
    ssmPolling: {
      pollIntervalMs: config.ssmPollIntervalMs,
      maxPollIntervalMs: Math.max(config.ssmPollIntervalMs, 5_000),
      documentName: config.ssmDocumentName,
    },
    eic: {
      settings: config.eic,
      // EC2 Instance Connect Endpoint tunnels are capped per endpoint across all containers.
      ...(db && { tunnelSlots: pgTunnelSlots(db) }),
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

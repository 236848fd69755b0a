import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../shared/config.js';
import { deliverInstall, type DeliveryDeps } from '../../delivery/index.js';
import { presignGet } from '../../staging/presign.js';
import { holdWorkspace } from './lease.js';
import { Staged, type DeliveredState } from './state.js';
import { defineStep } from './step.js';
import { hostDetails } from './explain.js';
import type { StepPorts } from '../ports.js';

export interface DeliverDeps {
  ports: StepPorts;
  s3: S3Client;
  delivery: DeliveryDeps;
  config: Pick<Config, 'leaseTtlMs' | 'presignTtlSeconds'>;
}

/** Deliver: the host downloads the staged tarball and swaps it in atomically. */
export function deliverStep(deps: DeliverDeps) {
  return defineStep('Deliver', deps.ports.operations, Staged, async (state, log, remainingMs) => {
    const { staged } = state;
    await holdWorkspace(deps.ports.leases, state, deps.config.leaseTtlMs, remainingMs);
    const tarballUrl = await presignGet(deps.s3, staged.bucket, staged.key, deps.config.presignTtlSeconds);
    const installed = { sha256: staged.sha256, source: state.source, version: staged.version, skills: staged.skills, runtimes: staged.runtimes };
    const outcome = await deliverInstall({ ...deps.delivery, remainingMs }, { workspace: state.workspace, pluginName: staged.name, tarballUrl, installed });
    log.info('delivered', { plugin: staged.name, transport: outcome.transport, replacedPrevious: outcome.replacedPrevious });
    const next: DeliveredState = {
      ...state,
      phase: 'delivered',
      delivered: { transport: outcome.transport, changedOnlySkillDocs: outcome.changedOnlySkillDocs },
    };
    return { state: next, details: hostDetails(outcome) };
  });
}

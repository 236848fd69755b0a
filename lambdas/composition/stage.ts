import type { Runtime } from '../runtime.js';
import type { StepInvocation } from '../workflow/steps/step.js';
import { createS3Client } from '../shared/aws.js';
import { createResolvers } from '../plugins/source.js';
import { stageStep } from '../workflow/steps/stage.js';
import { repairStageStep } from '../workflow/steps/repair-stage.js';
import { s3KeptTarballs } from '../workflow/adapters/s3.js';
import { postgresStepPorts } from '../workflow/adapters/postgres.js';
import { systemClock } from '../use-cases/ports.js';

/**
 * The Stage step's wiring, apart from the other steps' (composition/steps.ts): the plugin
 * pipeline it imports (YAML, tar) would otherwise land in every step bundle, ~160 KiB each,
 * pushing Deliver past 1 MB.
 */
export async function buildStage({ db, config, aws }: Runtime) {
  const s3 = await createS3Client(aws);
  const deps = {
    ports: postgresStepPorts(db),
    s3,
    resolvers: createResolvers({ s3, config }),
    config,
    tarballs: s3KeptTarballs(s3, config.stagingBucket),
    clock: systemClock,
  };
  const stage = stageStep(deps);
  // A repair's reinstall (SPEC §12) keeps its revisions' tarballs as a rollback does: the RepairStage state.
  const repairStage = repairStageStep(deps);
  return (event: unknown, invocation?: StepInvocation): Promise<unknown> => (isRepair(event) ? repairStage(event, invocation) : stage(event, invocation));
}

const isRepair = (event: unknown) => (event as { kind?: unknown } | null)?.kind === 'repair';

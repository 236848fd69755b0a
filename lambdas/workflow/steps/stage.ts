import type { StepPorts } from '../ports.js';
import { stagePlugin, type StagePluginDeps } from '../../staging/stage-plugin.js';
import { AcceptedInstall, type StagedState } from './state.js';
import { defineStep } from './step.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';

/** Stage: fetch, validate and normalize the plugin into S3; the operation learns its name, hash and warnings. */
export function stageStep(deps: StagePluginDeps & { ports: StepPorts }) {
  return defineStep('Stage', deps.ports.operations, AcceptedInstall, async (state, log) => {
    const fetchDeadline = state.requestedAt ? new Date(Date.parse(state.requestedAt) + deps.config.limits.fetchTimeoutMs) : undefined;
    const { staged } = await stagePlugin(deps, { source: state.source, expectedSha256: state.expectedSha256, id: state.operationId, fetchDeadline });
    await deps.ports.operations.staged(state.operationId, { plugin: staged.name, sha256: staged.sha256, warnings: staged.warnings });
    log.info('staged', { plugin: staged.name, sha256: staged.sha256, files: staged.fileCount, bytes: staged.bytes });
    await emitMetric(METRIC.StagingBytes, staged.bytes);
    const next: StagedState = { ...state, phase: 'staged', plugin: staged.name, staged };
    return { state: next };
  });
}

import { PluginNotInstalled } from '../../shared/errors.js';
import type { Config } from '../../shared/config.js';
import { removePlugin, type DeliveryDeps } from '../../delivery/index.js';
import { holdWorkspace } from './lease.js';
import { AcceptedUninstall, type RemovedState } from './state.js';
import { defineStep } from './step.js';
import { hostDetails } from './explain.js';
import type { StepDetails } from '../../shared/types.js';
import type { StepPorts } from '../ports.js';

/** Remove: strips the plugin's marker blocks and skills and deletes its directory on the host. */
export function removeStep(deps: { ports: StepPorts; delivery: DeliveryDeps; config: Pick<Config, 'leaseTtlMs'> }) {
  return defineStep('Remove', deps.ports.operations, AcceptedUninstall, async (state, log, remainingMs) => {
    const { plugin } = state;
    await holdWorkspace(deps.ports.leases, state, deps.config.leaseTtlMs);
    const installed = await deps.ports.installed.get(state.workspace.id, plugin);
    let details: StepDetails = {};
    try {
      const outcome = await removePlugin(
        { ...deps.delivery, remainingMs },
        { workspace: state.workspace, pluginName: plugin, skills: installed?.skills ?? [] },
      );
      details = hostDetails(outcome);
      await deps.ports.operations.addWarnings(state.operationId, outcome.warnings);
      log.info('removed', { plugin, transport: outcome.transport, removedSkills: outcome.removedSkills, warnings: outcome.warnings.length });
    } catch (err) {
      // Already gone from the host (removed by hand, or a retried step): the record still has to go.
      if (!(err instanceof PluginNotInstalled)) throw err;
      log.warn('plugin was already absent from the host', { plugin });
    }
    const next: RemovedState = { ...state, phase: 'removed' };
    return { state: next, details };
  });
}

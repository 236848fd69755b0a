import { restartWorkspace, type DeliveryDeps } from '../../delivery/index.js';
import type { StepPorts } from '../ports.js';
import { HostChanged, type RestartedState } from './state.js';
import { defineStep, durableWrite } from './step.js';
import { hostDetails } from './explain.js';

/**
 * Restart: skipped when asked, when an install (or a repair's reinstall) only edited SKILL.md files
 * (hot-reloaded), unless an earlier change's restart failed (then this one restarts for both), and
 * after a repair that delivered nothing (adopt, clean).
 */
export function restartStep(deps: { ports: StepPorts; delivery: DeliveryDeps }) {
  return defineStep('Restart', deps.ports.operations, HostChanged, async (state, log, remainingMs) => {
    const ended = (restarted: boolean): RestartedState => ({ ...state, phase: 'restarted', restarted });
    if (!state.restart) {
      log.info('restart skipped', { reason: 'restart: false' });
      return { state: ended(false), status: 'SKIPPED' };
    }
    if (state.phase === 'repaired' && !state.repaired.plugins.some((p) => p.action === 'reinstalled')) {
      log.info('restart skipped', { reason: 'the repair delivered nothing' });
      return { state: ended(false), status: 'SKIPPED' };
    }
    const skillDocsOnly =
      (state.phase === 'delivered' && state.delivered.changedOnlySkillDocs) || (state.phase === 'repaired' && state.repaired.changedOnlySkillDocs);
    if (skillDocsOnly && !(await deps.ports.restarts.isOwed(state.workspace.id))) {
      log.info('restart skipped', { reason: 'only SKILL.md files changed' });
      return { state: ended(false), status: 'SKIPPED' };
    }
    const outcome = await restartWorkspace({ ...deps.delivery, remainingMs }, { workspace: state.workspace });
    await durableWrite(() => deps.ports.restarts.setOwed(state.workspace.id, false), remainingMs);
    return { state: ended(true), details: hostDetails(outcome) };
  });
}

import type { Db } from '../../store/db.js';
import { restartWorkspace, type DeliveryDeps } from '../../delivery/index.js';
import { defineStep } from './step.js';

/** Restart: skipped when asked, or when an install changed only SKILL.md files (hot-reloaded). */
export function restartStep(deps: { db: Db; delivery: DeliveryDeps }) {
  return defineStep('Restart', deps.db, async (state, log) => {
    const skillDocsOnly = state.kind === 'install' && state.delivered?.changedOnlySkillDocs === true;
    if (!state.restart || skillDocsOnly) {
      log.info('restart skipped', { reason: state.restart ? 'only SKILL.md files changed' : 'restart: false' });
      return { state: { ...state, restarted: false }, status: 'SKIPPED' };
    }
    await restartWorkspace(deps.delivery, { workspace: state.workspace });
    return { state: { ...state, restarted: true } };
  });
}

import { verifyHealth, type DeliveryDeps } from '../../delivery/index.js';
import type { StepPorts } from '../ports.js';
import { hostDetails } from './explain.js';
import { Restarted, type RepairVerifiedState, type SettledState, type VerifiedState } from './state.js';
import { defineStep, type StepOutcome } from './step.js';

/**
 * VerifyHealth (SPEC §9): after an install, update or rollback restarted the workspace, the
 * runtime's health check runs on the host until it passes or PLUGIN_HEALTH_TIMEOUT passes; when it
 * does not pass, the host puts back what was there and restarts again (scripts/health.sh). The
 * verdict goes to Record, which closes the operation either way; an unhealthy one is recorded as
 * this step FAILED with the check's last lines. Not gated: an uninstall, a change that did not
 * restart, and `"healthCheck": false`.
 */
export function verifyHealthStep(deps: { ports: StepPorts; delivery: DeliveryDeps }) {
  return defineStep('VerifyHealth', deps.ports.operations, Restarted, async (state, log, remainingMs): Promise<StepOutcome<SettledState>> => {
    if (state.kind === 'uninstall') {
      log.info('health gate skipped', { reason: 'uninstall is not gated' });
      return { state, status: 'SKIPPED' };
    }
    const verified = (health: VerifiedState['health']): VerifiedState | RepairVerifiedState => ({ ...state, phase: 'verified', health });
    const skipped = !state.restarted ? 'the workspace was not restarted' : !state.healthCheck ? 'healthCheck: false' : null;
    if (skipped) {
      log.info('health gate skipped', { reason: skipped });
      return { state: verified(null), status: 'SKIPPED' };
    }
    // A repair's reinstall gates every plugin it delivered again: unhealthy, each is put back.
    const plugins =
      state.kind === 'repair'
        ? state.targets.reinstall.map((t) => ({ name: t.name, skills: t.skills }))
        : [{ name: state.staged.name, skills: state.staged.skills }];
    const verdict = await verifyHealth({ ...deps.delivery, remainingMs }, { workspace: state.workspace, plugins });
    const health = { healthy: verdict.healthy, rolledBack: verdict.rolledBack, output: verdict.output, checks: verdict.checks };
    const details = { ...hostDetails(verdict), ...(verdict.output.length > 0 ? { outputTail: verdict.output } : {}) };
    if (verdict.healthy) {
      log.info('healthy', { checks: verdict.checks });
      return { state: verified(health), details };
    }
    const message = unhealthyMessage(state.kind, verdict.rolledBack);
    log.warn('unhealthy after the change', { checks: verdict.checks, rolledBack: verdict.rolledBack });
    return { state: verified(health), status: 'FAILED', details: { ...details, error: { code: 'health_check_failed', message } } };
  });
}

/** The operation's error message for a failed gate. */
export function unhealthyMessage(kind: string, rolledBack: boolean | null): string {
  const what = kind === 'rollback' ? 'rollback' : kind === 'repair' ? 'reinstall' : 'change';
  const after = rolledBack
    ? 'the workspace was put back as it was and restarted'
    : 'putting the workspace back as it was failed: check the host (a verify shows what it has)';
  return `the agent did not pass its health check after the ${what}; ${after}`;
}

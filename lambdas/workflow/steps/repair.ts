import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../shared/config.js';
import { deliverInstall, removeDebris, type DeliveryDeps } from '../../delivery/index.js';
import { DeliveryFailed } from '../../shared/errors.js';
import { presignGet } from '../../staging/presign.js';
import type { StepDetails } from '../../shared/types.js';
import type { Inventories, KeptTarballs, StepPorts } from '../ports.js';
import { hostDetails } from './explain.js';
import { Prepared, type PreparedState, type RepairedState } from './state.js';
import { defineStep, durableWrite, type RemainingTime } from './step.js';

export interface RepairDeps {
  ports: StepPorts;
  s3: S3Client;
  delivery: DeliveryDeps;
  inventories: Inventories;
  tarballs: KeptTarballs;
  config: Pick<Config, 'presignTtlSeconds' | 'revisionsKept'>;
}

type Repaired = RepairedState['repaired'];

/**
 * Repair (SPEC §12), still under the lease the inventory took, changes only what its mode names:
 * `reinstall` delivers each target's active revision again (its kept tarball, atomically, as an
 * install does; Restart and the health gate follow), `adopt` records what the host has as a new
 * active revision from `host://<workspace>` (nothing on the host changes), `clean` removes the
 * debris paths and nothing else.
 */
export function repairStep(deps: RepairDeps) {
  return defineStep('Repair', deps.ports.operations, Prepared, async (state, log, remainingMs) => {
    let done: { repaired: Repaired; details: StepDetails };
    switch (state.repair.mode) {
      case 'reinstall':
        done = await reinstall(deps, state, remainingMs);
        break;
      case 'adopt':
        done = await adopt(deps, state, remainingMs);
        break;
      case 'clean':
        done = await clean(deps, state, remainingMs);
        break;
    }
    const { repaired, details } = done;
    log.info('repaired', { mode: state.repair.mode, plugins: repaired.plugins.map((p) => p.name), debris: repaired.debris.length });
    const next: RepairedState = { ...state, phase: 'repaired', repaired };
    const nothing = repaired.plugins.length === 0 && repaired.debris.length === 0;
    return { state: next, details, ...(nothing ? { status: 'SKIPPED' as const } : {}) };
  });
}

async function reinstall(deps: RepairDeps, state: PreparedState, remainingMs: RemainingTime) {
  const repaired: Repaired = { plugins: [], debris: [], changedOnlySkillDocs: state.targets.reinstall.length > 0 };
  let details: StepDetails = {};
  for (const target of state.targets.reinstall) {
    const kept = deps.tarballs.locate(target.sha256);
    const tarballUrl = await presignGet(deps.s3, kept.bucket, kept.key, deps.config.presignTtlSeconds);
    const { name, sha256, source, version, skills, runtimes } = target;
    const outcome = await deliverInstall(
      { ...deps.delivery, remainingMs },
      { workspace: state.workspace, pluginName: name, tarballUrl, installed: { sha256, source, version, skills, runtimes } },
    );
    details = hostDetails(outcome);
    repaired.changedOnlySkillDocs &&= outcome.changedOnlySkillDocs;
    repaired.plugins.push({ name, action: 'reinstalled', sha256, revision: target.revision });
  }
  return { repaired, details };
}

async function adopt(deps: RepairDeps, state: PreparedState, remainingMs: RemainingTime) {
  const repaired: Repaired = { plugins: [], debris: [], changedOnlySkillDocs: false };
  if (state.targets.adopt.length === 0) return { repaired, details: {} };
  const { ports } = deps;
  const { workspace, operationId } = state;
  const [inventory, installed, active, { compareWithRecords }] = await Promise.all([
    deps.inventories.read(operationId),
    ports.installed.list(workspace.id),
    ports.revisions.activeOn(workspace.id),
    import('../../plugins/drift.js'),
  ]);
  const { found } = compareWithRecords(inventory, { installed, active });
  const source = `host://${workspace.id}`;
  for (const target of state.targets.adopt) {
    const plugin = found.get(target.name);
    // The lease kept every other operation off the host since the inventory was taken.
    if (plugin?.sha256 !== target.sha256) throw new DeliveryFailed(`the inventory no longer shows plugin "${target.name}" as the repair found it`);
    const { name, version, sha256, skills, runtimes, files } = plugin;
    const revision = await durableWrite(
      () =>
        ports.revisions.add({
          workspaceId: workspace.id,
          plugin: name,
          operationId,
          version,
          source,
          sha256,
          skills,
          runtimes,
          files,
          status: 'active',
          keep: deps.config.revisionsKept,
        }),
      remainingMs,
    );
    const uninstallAt = installed.find((p) => p.name === name)?.uninstallAt ?? null;
    await durableWrite(() => ports.installed.record({ workspaceId: workspace.id, name, version, source, sha256, skills, runtimes, uninstallAt }), remainingMs);
    repaired.plugins.push({ name, action: 'adopted', sha256, revision: revision.revision });
  }
  await deps.inventories.discard(operationId).catch(() => undefined);
  return { repaired, details: {} };
}

async function clean(deps: RepairDeps, state: PreparedState, remainingMs: RemainingTime) {
  const paths = state.targets.clean;
  if (paths.length === 0) return { repaired: { plugins: [], debris: [], changedOnlySkillDocs: false }, details: {} };
  const outcome = await removeDebris({ ...deps.delivery, remainingMs }, { workspace: state.workspace, paths });
  return { repaired: { plugins: [], debris: [...paths], changedOnlySkillDocs: false }, details: hostDetails(outcome) };
}

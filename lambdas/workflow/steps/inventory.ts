import type { Config } from '../../shared/config.js';
import { DEBRIS_PATH_RE, inventoryHost, type DeliveryDeps } from '../../delivery/index.js';
import { InvalidRequest } from '../../shared/errors.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';
import { PLUGIN_NAME_RE, type PluginRevision, type Verification } from '../../shared/types.js';
import type { Drift } from '../../plugins/drift.js';
import type { Inventories, StepPorts } from '../ports.js';
import { hostDetails } from './explain.js';
import { holdWorkspace } from './lease.js';
import { AcceptedDrift, type InventoriedState } from './state.js';
import type * as z from '../../shared/zod.js';

type AcceptedDriftState = z.output<typeof AcceptedDrift>;
import { defineStep, durableWrite, type StepOutcome } from './step.js';

export interface InventoryDeps {
  ports: StepPorts;
  delivery: DeliveryDeps;
  inventories: Inventories;
  config: Pick<Config, 'leaseTtlMs'>;
}

/**
 * Inventory (SPEC §12): under the workspace lease, so no operation is half-way through a swap on
 * the host, the host lists its plugins read-only and uploads the list (scripts/inventory.sh: its
 * output through SSM stays one short line whatever the host holds); the step reads it back and
 * holds it against the records (plugins/drift.ts). A verify ends here: the result goes on the
 * operation, the workspace is marked verified and freed. A repair keeps the lease and goes on with
 * what its mode mends.
 */
export function inventoryStep(deps: InventoryDeps) {
  const { ports } = deps;
  return defineStep(
    'Inventory',
    ports.operations,
    AcceptedDrift,
    async (state, log, remainingMs): Promise<StepOutcome<AcceptedDriftState | InventoriedState>> => {
      const { operationId, workspace } = state;
      await holdWorkspace(ports.leases, state, deps.config.leaseTtlMs, remainingMs);
      const uploadUrl = await deps.inventories.uploadUrl(operationId);
      const outcome = await inventoryHost({ ...deps.delivery, remainingMs }, { workspace, uploadUrl });
      const [inventory, installed, active, { compareWithRecords, drifted }] = await Promise.all([
        deps.inventories.read(operationId),
        ports.installed.list(workspace.id),
        ports.revisions.activeOn(workspace.id),
        import('../../plugins/drift.js'),
      ]);
      const drift = compareWithRecords(inventory, { installed, active });
      const verification: Verification = { status: 'verified', operationId, drift: drifted(drift), plugins: drift.plugins, debris: drift.debris };
      await durableWrite(() => ports.operations.verified(operationId, verification), remainingMs);
      const details = hostDetails(outcome);
      log.info('inventoried', {
        bytes: outcome.bytes,
        files: outcome.files,
        plugins: drift.plugins.length,
        drifted: drift.plugins.filter((p) => p.state !== 'ok').length,
        debris: drift.debris.length,
      });

      if (state.kind === 'verify') {
        await ports.operations.addWarnings(operationId, drift.warnings);
        await deps.inventories
          .discard(operationId)
          .catch((err: Error) => log.warn('could not delete the inventory; the bucket lifecycle will', { error: err.message }));
        await durableWrite(() => ports.drift.verified(workspace.id, verification.drift), remainingMs);
        // Recorded before the operation closes, which would close the step without how it reached the host.
        await durableWrite(() => ports.operations.stepEnded(operationId, 'Inventory', 'SUCCEEDED', details), remainingMs);
        await durableWrite(() => ports.operations.finish(operationId, 'SUCCEEDED'), remainingMs);
        await durableWrite(() => ports.leases.release(workspace.id, operationId), remainingMs);
        await emitMetric(METRIC.OperationsSucceeded, 1, { kind: 'verify' }, { alsoWithoutDimensions: true });
        return { state, details };
      }

      const request = state.repair;
      if (!request) throw new InvalidRequest('a repair must say what to mend (repair.mode)');
      const { targets, warnings } = repairTargets(request, drift, active);
      await ports.operations.addWarnings(operationId, [...drift.warnings, ...warnings]);
      // Only an adopting repair reads the inventory again (Repair records what it found).
      if (targets.adopt.length === 0) await deps.inventories.discard(operationId).catch(() => undefined);
      const next: InventoriedState = { ...state, kind: 'repair', phase: 'inventoried', repair: request, targets };
      return { state: next, details };
    },
  );
}

type Targets = InventoriedState['targets'];

/**
 * What a repair's mode mends (SPEC §12), of the plugins named when the request names some:
 * reinstall, modified and missing plugins that have an active revision to deliver again; adopt,
 * modified and unknown ones (with a plugin name); clean, the debris. Whatever is named but left
 * alone is said in a warning.
 */
export function repairTargets(
  request: NonNullable<InventoriedState['repair']>,
  drift: Pick<Drift, 'plugins' | 'debris'>,
  active: ReadonlyMap<string, PluginRevision>,
): { targets: Targets; warnings: string[] } {
  const named = request.plugins ? new Set<string>(request.plugins) : null;
  const wanted = (name: string) => named === null || named.has(name);
  const warnings: string[] = [];
  const targets: Targets = { reinstall: [], adopt: [], clean: [] };
  const mended = new Set<string>();

  if (request.mode === 'reinstall') {
    for (const plugin of drift.plugins) {
      if ((plugin.state !== 'modified' && plugin.state !== 'missing') || !wanted(plugin.name)) continue;
      const revision = active.get(plugin.name);
      if (!revision) {
        warnings.push(`not_reinstalled: ${plugin.name}: no active revision to deliver again (installed before revisions were kept)`);
        continue;
      }
      const { name, version, source, sha256, skills, runtimes } = { ...revision, name: plugin.name };
      targets.reinstall.push({ name, revision: revision.revision, version, source, sha256, skills, runtimes });
      mended.add(name);
    }
  } else if (request.mode === 'adopt') {
    for (const plugin of drift.plugins) {
      if ((plugin.state !== 'modified' && plugin.state !== 'unknown') || !wanted(plugin.name) || !plugin.found) continue;
      if (!PLUGIN_NAME_RE.test(plugin.name)) {
        warnings.push(`not_adopted: ${JSON.stringify(plugin.name)}: not a plugin name`);
        continue;
      }
      targets.adopt.push({ name: plugin.name, sha256: plugin.found.sha256 });
      mended.add(plugin.name);
    }
  } else {
    for (const path of drift.debris) {
      if (named && ![...named].some((name) => debrisOf(path, name))) continue;
      if (!DEBRIS_PATH_RE.test(path)) {
        warnings.push(`not_cleaned: ${JSON.stringify(path)}: not a path the clean-up removes`);
        continue;
      }
      targets.clean.push(path);
      for (const name of named ?? []) if (debrisOf(path, name)) mended.add(name);
    }
  }
  for (const name of named ?? []) {
    if (mended.has(name)) continue;
    const state = drift.plugins.find((p) => p.name === name)?.state ?? 'not on the host nor recorded';
    warnings.push(`not_repaired: ${name}: ${request.mode === 'clean' ? 'no debris of it' : state}`);
  }
  return { targets, warnings };
}

/** Whether a debris path is the plugin's: its staging dir, previous copy or markers. */
function debrisOf(path: string, name: string): boolean {
  const entry = path.slice(path.lastIndexOf('/') + 1);
  return entry === name || entry === `${name}.json` || (path.startsWith('.staging/') && entry.startsWith(`${name}.`));
}

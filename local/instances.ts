import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shellQuote } from '../lambdas/delivery/shell.js';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';

/**
 * The local stack's EC2 instances (SPEC §8): each one's root filesystem is
 * `<rootDir>/<instanceId>/`, and stop/start only flips whether the emulators can reach it,
 * as `POST /admin/local/instances/{id}/stop|start` asks. Instances start out running.
 */
export class LocalInstances {
  private readonly stopped = new Set<string>();

  constructor(readonly rootDir: string) {}

  rootOf(instanceId: string): string {
    if (!INSTANCE_ID_RE.test(instanceId)) throw new Error(`invalid instance id "${instanceId}"`);
    return join(this.rootDir, instanceId);
  }

  async ensure(instanceId: string): Promise<string> {
    const root = this.rootOf(instanceId);
    await mkdir(root, { recursive: true });
    return root;
  }

  stop(instanceId: string): void {
    this.rootOf(instanceId);
    this.stopped.add(instanceId);
  }

  start(instanceId: string): void {
    this.stopped.delete(instanceId);
  }

  isRunning = (instanceId: string): boolean => !this.stopped.has(instanceId);
}

/** The emulated agent every restart starts (SPEC §9 "Locally"), run by this very node. */
/** Starts the emulated agent on an instance: a local restart command that does anything else should run it too, or the health gate finds no agent. */
export const START_EMULATED_AGENT = `${shellQuote(process.execPath)} ${shellQuote(fileURLToPath(new URL('./emulated-agent.mjs', import.meta.url)))}`;

/**
 * The restart command (`PLUGIN_RESTART_COMMAND`) for emulated instances: instead of
 * restarting a container it appends a line naming the workspace to the instance's
 * `var/log/molecule-restarts.log` (bash builtins only, once the log directory is there: each
 * process costs milliseconds on a loaded machine; printf's `%(...)T` needs bash 4.2 or later),
 * then starts the emulated agent (local/emulated-agent.mjs), which loads the plugins in
 * `$CONFIG_DIR` and writes `var/run/molecule-agent.health` before it returns.
 */
export const LOCAL_RESTART_COMMAND = String.raw`{ [ -d "$MOLECULE_HOST_ROOT/var/log" ] || mkdir -p "$MOLECULE_HOST_ROOT/var/log"; } && TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T restart %s\n' -1 {workspaceId} >> "$MOLECULE_HOST_ROOT/var/log/molecule-restarts.log" && ${START_EMULATED_AGENT}`;

/**
 * The health command (`PLUGIN_HEALTH_COMMAND`) for emulated instances: prints the state the
 * emulated agent wrote at its last start, and passes when it reads `healthy`.
 */
export const LOCAL_HEALTH_COMMAND = 'read -r state < "$MOLECULE_HOST_ROOT/var/run/molecule-agent.health" && echo "$state" && [ "$state" = healthy ]';

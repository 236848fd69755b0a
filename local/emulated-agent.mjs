/**
 * The local stack's emulated agent (SPEC §9 "Locally"), started by every restart of an emulated
 * instance (LOCAL_RESTART_COMMAND, local/instances.ts). It loads each plugin under
 * `$CONFIG_DIR/plugins/` (dot-dirs are the delivery's own: `.previous`, `.staging`, `.molecule`)
 * and, as a runtime's loader does, fails on a plugin whose root `.mcp.json` or `hooks/hooks.json`
 * is not valid JSON. Before it returns it writes what it found to
 * `var/run/molecule-agent.health` under the instance root (`MOLECULE_HOST_ROOT`): `healthy`, or
 * `unhealthy: <plugin>: <reason>`, which the local health command reads.
 *
 * It exits 0 once that is written, whatever it found: a restart succeeds however the agent then
 * fares, as `docker restart` does, and telling is the health gate's job. Plain JavaScript, so the
 * restart runs it with node alone, without a TypeScript loader's start-up.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a runtime parses at a plugin's root when it loads it. */
const PARSED_FILES = ['.mcp.json', 'hooks/hooks.json'];
const MAX_REASON_CHARS = 200;

const oneLine = (text) => text.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON_CHARS);

/** Why the plugin in `dir` does not load, or undefined when it does. */
function pluginProblem(dir) {
  for (const file of PARSED_FILES) {
    let text;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      // No such file (or `hooks` is not a directory): nothing to load.
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') continue;
      return `${file} cannot be read (${err.code})`;
    }
    try {
      JSON.parse(text);
    } catch (err) {
      return `${file} is not valid JSON (${oneLine(err.message)})`;
    }
  }
  return undefined;
}

function isDirectory(path) {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The agent's state after loading every plugin in `configDir`. */
function agentState(configDir) {
  if (!configDir) return 'unhealthy: the restart gave no config dir (CONFIG_DIR)';
  const pluginsDir = join(configDir, 'plugins');
  let names;
  try {
    names = readdirSync(pluginsDir);
  } catch (err) {
    if (err.code === 'ENOENT') return 'healthy';
    return `unhealthy: ${pluginsDir} cannot be read (${err.code})`;
  }
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    const dir = join(pluginsDir, name);
    if (!isDirectory(dir)) continue;
    const problem = pluginProblem(dir);
    if (problem) return `unhealthy: ${name}: ${problem}`;
  }
  return 'healthy';
}

const root = process.env.MOLECULE_HOST_ROOT;
if (!root) {
  console.error('emulated agent: MOLECULE_HOST_ROOT is not set');
  process.exit(2);
}
const runDir = join(root, 'var', 'run');
const healthFile = join(runDir, 'molecule-agent.health');
mkdirSync(runDir, { recursive: true });
// Renamed into place, so the health command never reads half of it.
writeFileSync(`${healthFile}.${process.pid}`, `${agentState(process.env.CONFIG_DIR)}\n`);
renameSync(`${healthFile}.${process.pid}`, healthFile);

import { readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { ApiError, PluginDeliveryClient, type Operation, type RegistryPlugin } from './client.js';
import { hashPluginDir, validatePluginDir } from './plugin-dir.js';
import { pullPlugin } from './pull.js';
import { TokenCache, workspaceStateDir } from './token-cache.js';
import { explainHeader, explainSteps, watchFrame } from './ops-view.js';
import type { OperationsFilter } from './client.js';

/**
 * molecule-plugins: the command line over the SDK. Exit status: 0 done, 1 failed (the API's error
 * code is printed), 2 usage error, 3 still running when --timeout passed.
 */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress redraws one line there). */
  isTTY?: boolean;
  /** Whether stdout is a terminal (`watch` redraws the screen there, else appends frames). */
  stdoutIsTTY?: boolean;
  /** Ends `watch` (Ctrl-C); the CLI process wires SIGINT to it. */
  interrupted?: AbortSignal;
}

class UsageError extends Error {}

const DEFAULT_URL = 'http://127.0.0.1:3000';
const EXIT_HELP = `
Exit status: 0 done, 1 failed (the API's error code is printed), 2 usage error,
3 still running when --timeout passed.

Environment: MOLECULE_API_URL (or MOLECULE_PLATFORM_URL) for --url; MOLECULE_TOKEN (or
MOLECULE_WORKSPACE_TOKEN) for --token; without either, a workspace command uses the token
cached at ~/.molecule/<workspace>/.auth_token.`;

interface NetworkFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Runs one command; returns the exit status. */
export async function main(argv: string[], io: Io): Promise<number> {
  let current: Command | undefined;
  const exit = { code: 0 };
  const program = buildProgram(io, exit);
  program.hook('preSubcommand', (_, sub) => {
    current = sub;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit.code;
  } catch (err) {
    if (err instanceof CommanderError) return commanderExit(err, current, io);
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n(molecule-plugins --help shows the usage)\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      if (argv.includes('--json')) io.stdout(`${JSON.stringify({ error: err.message, code: err.code, status: err.status, ...err.details }, null, 2)}\n`);
      const hint = err.details.cause === 'ECONNREFUSED' ? ': is npm start running?' : '';
      io.stderr(`error: ${err.message}${hint} (${err.code}${err.status ? `, HTTP ${err.status}` : ''})\n`);
      if (typeof err.details.hint === 'string') io.stderr(`hint: ${err.details.hint}\n`);
      return 1;
    }
    // Local trouble (a --dir that cannot be written, ...): one line, not a stack trace.
    io.stderr(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

function commanderExit(err: CommanderError, command: Command | undefined, io: Io): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  // `help <command>` exits 0; no command at all shows the help on stderr, a usage mistake.
  if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
  let message = err.message.replace(/^error: /, '');
  if (command && (err.code === 'commander.missingArgument' || err.code === 'commander.excessArguments')) {
    const names = command.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    message = `${command.name()} takes ${names || 'no arguments'} (${message})`;
  }
  io.stderr(`error: ${message}\n(molecule-plugins ${command ? `${command.name()} ` : ''}--help shows the usage)\n`);
  return 2;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function buildProgram(io: Io, exit: { code: number }): Command {
  const program = new Command('molecule-plugins')
    .description('install, update and remove plugins in Molecule workspaces')
    .version(version(), '-v, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined })
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'show the help of a command')
    .addHelpText('after', EXIT_HELP);

  /** A command that talks to the API: its own --url, --token and --json (other commands refuse them). */
  const networked = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .option('--url <url>', `the API (env MOLECULE_API_URL or MOLECULE_PLATFORM_URL, default ${DEFAULT_URL})`)
      .option('--token <token>', 'an org, workspace or admin token (env MOLECULE_TOKEN or MOLECULE_WORKSPACE_TOKEN)')
      .option('--json', 'print the result as JSON on stdout');
  const timeout = () => new Option('--timeout <seconds>', 'how long to wait for the operation').default('600').argParser(seconds);
  const connect = async (flags: NetworkFlags, workspace?: string) => ({
    client: new PluginDeliveryClient({ baseUrl: apiUrl(flags, io), token: await token(flags, io, workspace) }),
    print: printer(io, flags.json),
  });

  networked('install', 'install (or update) a plugin and wait for the result, printing each workflow step')
    .argument('<workspace>')
    .argument('<source>', 'a plugin name, local://name, github://owner/repo#ref or clawhub://name@version')
    .option('--sha256 <hex>', 'the content hash the plugin must have')
    .option('--no-restart', 'do not restart the workspace after the change')
    .option('--uninstall-after <duration>', 'uninstall again after an ISO-8601 duration (P7D)')
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action(
      async (
        workspace: string,
        source: string,
        flags: NetworkFlags & { sha256?: string; restart: boolean; uninstallAfter?: string; wait: boolean; timeout: number },
      ) => {
        const { client, print } = await connect(flags, workspace);
        const accepted = await client.install(workspace, {
          source,
          ...(flags.sha256 ? { sha256: flags.sha256 } : {}),
          ...(flags.restart ? {} : { restart: false }),
          ...(flags.uninstallAfter ? { uninstallAfter: flags.uninstallAfter } : {}),
        });
        exit.code = await follow(client, workspace, accepted, !flags.wait, flags.timeout, io, print);
      },
    );

  networked('uninstall', 'remove a plugin now, or schedule it with --at')
    .argument('<workspace>')
    .argument('<name>')
    .option('--at <time>', 'uninstall at an RFC 3339 time with its offset')
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action(async (workspace: string, name: string, flags: NetworkFlags & { at?: string; wait: boolean; timeout: number }) => {
      const { client, print } = await connect(flags, workspace);
      const answer = await client.uninstall(workspace, name, flags.at ? { at: flags.at } : {});
      if (answer.status === 'scheduled') print.result(answer, `${answer.plugin}: uninstall scheduled for ${answer.uninstallAt}`);
      else exit.code = await follow(client, workspace, answer, !flags.wait, flags.timeout, io, print);
    });

  networked('list', "a workspace's installed plugins")
    .argument('<workspace>')
    .action(async (workspace: string, flags: NetworkFlags) => {
      const { client, print } = await connect(flags, workspace);
      const plugins = await client.listInstalled(workspace);
      print.result(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.source, p.sha256.slice(0, 12), p.installedAt])) || 'no plugins installed');
    });

  networked('available', 'the registry plugins a workspace can run')
    .argument('<workspace>')
    .action(async (workspace: string, flags: NetworkFlags) => {
      const { client, print } = await connect(flags, workspace);
      printPlugins(print, await client.available(workspace));
    });

  networked('status', 'one operation, explained step by step: `status <operationId>` (admin token) or `status <workspace> <operationId>`')
    .argument('<workspace|operationId>')
    .argument('[operationId]')
    .action(async (first: string, second: string | undefined, flags: NetworkFlags) => {
      const workspace = second === undefined ? undefined : first;
      const operationId = second ?? first;
      const { client, print } = await connect(flags, workspace);
      const op = workspace === undefined ? await client.operationById(operationId) : await client.operation(workspace, operationId);
      print.result(op, [describe(op), ...explainHeader(op), ...(op.steps.length ? ['steps:', ...explainSteps(op)] : [])].join('\n'));
      exit.code = op.status === 'FAILED' ? 1 : 0;
    });

  networked('watch', 'a live view of running and recently failed operations (admin token); Ctrl-C ends it')
    .option('--status <status>', 'only RUNNING, SUCCEEDED or FAILED operations (default: running and failed)')
    .option('--workspace <id>', 'only this workspace')
    .option('--org <id>', 'only this org')
    .option('--plugin <name>', 'only this plugin')
    .option('--kind <kind>', 'only install or uninstall')
    .option('--since <time>', 'only operations created since this ISO-8601 time (default: the last hour, for failed ones)')
    .option('--limit <n>', 'at most this many operations of each status', '20')
    .addOption(new Option('--interval <seconds>', 'seconds between redraws').default(2).argParser(intervalSeconds))
    .option('--once', 'print one frame and exit')
    .action(async (flags: NetworkFlags & WatchFlags) => {
      const { client } = await connect(flags);
      await watch(client, flags, io);
    });

  networked('registry', 'the plugin registry')
    .option('--runtime <runtime>', 'only plugins for this runtime')
    .action(async (flags: NetworkFlags & { runtime?: string }) => {
      const { client, print } = await connect(flags);
      printPlugins(print, await client.registry(flags.runtime));
    });

  networked('sources', 'the source schemes the service accepts').action(async (flags: NetworkFlags) => {
    const { client, print } = await connect(flags);
    const schemes = await client.sources();
    print.result({ schemes }, schemes.join('\n'));
  });

  networked('pull', 'external workspaces: download a plugin, check it and unpack it in place of the previous copy')
    .argument('<workspace>')
    .argument('<name>')
    .option('--source <source>', 'a source other than local://<name>')
    .option('--dir <plugins dir>', 'where plugins live (default ~/.molecule/<workspace>/plugins)')
    .action(async (workspace: string, name: string, flags: NetworkFlags & { source?: string; dir?: string }) => {
      const { client, print } = await connect(flags, workspace);
      const pluginsDir = flags.dir ?? join(workspaceStateDir(workspace, home(io)), 'plugins');
      const pulled = await pullPlugin(client, {
        workspaceId: workspace,
        name,
        pluginsDir,
        ...(flags.source ? { source: flags.source } : {}),
        onProgress: progress(io),
        onWarning: (warning) => io.stderr(`warning: ${warning}\n`),
      });
      if (io.isTTY) io.stderr('\n');
      print.result(pulled, `pulled ${name} (sha256 ${pulled.sha256}, ${pulled.files} files) into ${pulled.dir}`);
    });

  // Local commands on a plugin directory: no API, no token.
  const onPluginDir = (name: string, description: string, run: (dir: string, print: ReturnType<typeof printer>) => Promise<void>) =>
    program
      .command(name)
      .description(description)
      .argument('<dir>')
      .option('--json', 'print the result as JSON on stdout')
      .action((dir: string, flags: { json?: boolean }) => run(dir, printer(io, flags.json)));

  onPluginDir('hash', "a plugin directory's content hash (SPEC §3, the Python SDK's verify_plugin_sha256 scheme)", async (dir, print) => {
    const hashed = await hashPluginDir(dir);
    for (const path of hashed.skipped) io.stderr(`warning: ${path} is not a regular file; left out of the hash, as the service leaves it out\n`);
    print.result(hashed, hashed.sha256);
  });

  onPluginDir('validate', "check a plugin directory's plugin.yaml with the service's manifest parser", async (dir, print) => {
    const result = await validatePluginDir(dir);
    const lines = [
      ...result.errors.map((e) => `error: ${e}`),
      ...result.warnings.map((w) => `warning: ${w}`),
      result.errors.length
        ? `${dir}: invalid (${result.errors.length} error${result.errors.length === 1 ? '' : 's'})`
        : `${dir}: valid${result.name ? `, ${result.name}` : ''}${result.version ? ` ${result.version}` : ''} (sha256 ${result.sha256})`,
    ];
    print.result({ valid: result.errors.length === 0, ...result }, lines.join('\n'));
    exit.code = result.errors.length ? 1 : 0;
  });

  return program;
}

interface WatchFlags {
  status?: string;
  workspace?: string;
  org?: string;
  plugin?: string;
  kind?: string;
  since?: string;
  limit: string;
  interval: number;
  once?: boolean;
}

const CLEAR_SCREEN = '\u001b[H\u001b[2J';
const RECENT_FAILURES_MS = 60 * 60_000;

/**
 * `watch`: every interval, fetches the running operations and the recently failed ones (or those
 * of `--status`) and draws them, clearing the screen on a terminal and appending frames otherwise.
 * A failed fetch is shown in the frame and retried at the next one; Ctrl-C ends it with status 0.
 */
async function watch(client: PluginDeliveryClient, flags: WatchFlags, io: Io): Promise<void> {
  const status = flags.status?.toUpperCase();
  if (status !== undefined && !['RUNNING', 'SUCCEEDED', 'FAILED'].includes(status)) throw new UsageError('--status must be RUNNING, SUCCEEDED or FAILED');
  if (flags.kind !== undefined && !['install', 'uninstall'].includes(flags.kind)) throw new UsageError('--kind must be install or uninstall');
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new UsageError('--limit must be a whole number from 1 to 100');
  const base: OperationsFilter = {
    ...(flags.workspace ? { workspaceId: flags.workspace } : {}),
    ...(flags.org ? { orgId: flags.org } : {}),
    ...(flags.plugin ? { plugin: flags.plugin } : {}),
    ...(flags.kind ? { kind: flags.kind as 'install' | 'uninstall' } : {}),
    limit,
  };
  const frame = async (): Promise<string> => {
    const now = new Date();
    const since = flags.since ?? new Date(now.getTime() - RECENT_FAILURES_MS).toISOString();
    const queries: OperationsFilter[] = status
      ? [{ ...base, status: status as OperationsFilter['status'], ...(flags.since ? { since: flags.since } : {}) }]
      : [
          { ...base, status: 'RUNNING', ...(flags.since ? { since: flags.since } : {}) },
          { ...base, status: 'FAILED', since },
        ];
    const title = `molecule-plugins watch: ${status ? status.toLowerCase() : `running, and failed since ${since}`} operations, ${now.toISOString()}`;
    try {
      const pages = await Promise.all(queries.map((q) => client.operations(q)));
      const operations = pages.flat().sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
      return watchFrame(title, operations, now);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 401 || err.status === 403)) throw err;
      return `${title}\n(could not fetch the operations: ${(err as Error).message}; retrying)\n`;
    }
  };
  for (;;) {
    const text = await frame();
    io.stdout(io.stdoutIsTTY ? `${CLEAR_SCREEN}${text}` : `${text}\n`);
    if (flags.once || io.interrupted?.aborted) return;
    const stopped = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), flags.interval * 1000);
      io.interrupted?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        { once: true },
      );
    });
    if (stopped) return;
  }
}

function intervalSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new UsageError('--interval takes a number of seconds (at most 3600)');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout takes a number of seconds');
  return n;
}

function home(io: Io): string {
  return io.env.HOME || homedir();
}

function apiUrl(flags: NetworkFlags, io: Io): string {
  const [value, from] = flags.url
    ? [flags.url, '--url']
    : io.env.MOLECULE_API_URL
      ? [io.env.MOLECULE_API_URL, 'MOLECULE_API_URL']
      : io.env.MOLECULE_PLATFORM_URL
        ? [io.env.MOLECULE_PLATFORM_URL, 'MOLECULE_PLATFORM_URL']
        : [DEFAULT_URL, 'the default'];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${from} "${value}" is not a URL (like ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${from} "${value}" is not an http(s) URL`);
  return value;
}

/** --token, the environment (ours, then the Python SDK's), else the token register() cached for the workspace. */
async function token(flags: NetworkFlags, io: Io, workspace?: string): Promise<string> {
  const given = flags.token ?? io.env.MOLECULE_TOKEN ?? io.env.MOLECULE_WORKSPACE_TOKEN;
  if (given) return given;
  const cached = workspace ? await new TokenCache(workspaceStateDir(workspace, home(io))).load() : undefined;
  if (cached) return cached;
  throw new UsageError(
    `no token: pass --token, set MOLECULE_TOKEN or MOLECULE_WORKSPACE_TOKEN${workspace ? `, or cache one in ~/.molecule/${workspace}/.auth_token` : ''}`,
  );
}

interface Printer {
  result: (value: unknown, text: string) => void;
  /** A failure's text goes to stderr; with --json the result stays on stdout for the script. */
  failure: (value: unknown, text: string) => void;
}

function printer(io: Io, json: boolean | undefined): Printer {
  const result = (value: unknown, text: string) => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  return { result, failure: (value, text) => (json ? result(value, text) : io.stderr(`${text}\n`)) };
}

function printPlugins(print: Printer, plugins: RegistryPlugin[]): void {
  print.result(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.description ?? ''])) || 'no plugins');
}

/** Download progress on stderr: one redrawn line on a terminal, else a line per tenth (or per MiB when the size is unknown). */
function progress(io: Io): (p: { bytes: number; total?: number }) => void {
  let shown = -1;
  return ({ bytes, total }) => {
    const text = `received ${kib(bytes)}${total ? ` of ${kib(total)}` : ''}`;
    if (io.isTTY) return io.stderr(`\r${text}`);
    const step = total ? Math.floor((bytes / total) * 10) : Math.floor(bytes / (1024 * 1024));
    if (step === shown) return;
    shown = step;
    io.stderr(`${text}\n`);
  };
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Waits for the operation, printing each step as it starts and ends. */
async function follow(
  client: PluginDeliveryClient,
  workspace: string,
  accepted: { operationId: string },
  noWait: boolean,
  timeoutSeconds: number,
  io: Io,
  print: Printer,
): Promise<number> {
  const { operationId } = accepted;
  if (noWait) {
    print.result(accepted, `accepted: operation ${operationId} (follow it with: molecule-plugins status ${workspace} ${operationId})`);
    return 0;
  }
  const shown = new Map<string, string>();
  const op = await client.waitForOperation(workspace, operationId, {
    timeoutMs: timeoutSeconds * 1000,
    onChange: (latest) => {
      for (const step of latest.steps) {
        if (shown.get(step.name) === step.status) continue;
        shown.set(step.name, step.status);
        io.stderr(`  ${step.name.padEnd(15)} ${stepText(step)}\n`);
      }
    },
  });
  if (op.status === 'FAILED') print.failure(op, describe(op));
  else print.result(op, describe(op));
  if (op.status === 'RUNNING') {
    io.stderr(`still running after ${timeoutSeconds} s; follow it with: molecule-plugins status ${workspace} ${operationId}\n`);
    return 3;
  }
  return op.status === 'SUCCEEDED' ? 0 : 1;
}

function stepText(step: Operation['steps'][number]): string {
  if (step.status === 'RUNNING') return 'running';
  const seconds = step.endedAt ? ` (${((Date.parse(step.endedAt) - Date.parse(step.startedAt)) / 1000).toFixed(2)} s)` : '';
  return `${step.status.toLowerCase()}${seconds}`;
}

function describe(op: Operation): string {
  const what = op.kind === 'install' ? (op.status === 'SUCCEEDED' ? 'installed' : 'install') : op.status === 'SUCCEEDED' ? 'uninstalled' : 'uninstall';
  const lines = [
    op.status === 'FAILED'
      ? `${what} of ${op.plugin ?? op.source} failed: ${op.error?.message ?? 'unknown error'} (${op.error?.code ?? 'unknown'})`
      : op.status === 'RUNNING'
        ? `${what} of ${op.plugin ?? op.source} is running`
        : `${what} ${op.plugin}${op.sha256 && op.kind === 'install' ? ` (sha256 ${op.sha256})` : ''} on ${op.workspaceId}`,
    ...op.warnings.map((w) => `warning: ${w}`),
    `operation ${op.operationId}`,
  ];
  return lines.join('\n');
}

function table(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  // Ctrl-C ends `watch` cleanly (exit 0); other commands keep the default (the process ends).
  const interrupted = new AbortController();
  const watching = process.argv.slice(2).includes('watch');
  if (watching) process.once('SIGINT', () => interrupted.abort());
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    isTTY: process.stderr.isTTY,
    stdoutIsTTY: process.stdout.isTTY,
    interrupted: interrupted.signal,
  });
}

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, PluginDeliveryClient, type Operation, type RegistryPlugin } from './client.js';
import { pullPlugin } from './pull.js';

const USAGE = `molecule-plugins: install, update and remove plugins in Molecule workspaces

Usage:
  molecule-plugins install <workspace> <source> [--sha256 <hex>] [--no-restart] [--uninstall-after <P7D>] [--no-wait]
  molecule-plugins uninstall <workspace> <name> [--at <ISO time>] [--no-wait]
  molecule-plugins list <workspace>
  molecule-plugins available <workspace>
  molecule-plugins status <workspace> <operationId>
  molecule-plugins registry [--runtime <runtime>]
  molecule-plugins sources
  molecule-plugins pull <workspace> <name> [--source <source>] [--dir <plugins dir>]
                   (external workspaces: download, check and unpack into --dir,
                    default ~/.molecule/<workspace>/plugins)

Options:
  --url <url>      the API (env MOLECULE_API_URL, default http://127.0.0.1:3000)
  --token <token>  an org, workspace or admin token (env MOLECULE_TOKEN)
  --json           print the result as JSON on stdout
  --timeout <s>    how long install/uninstall wait for the operation (default 600)

While an install or uninstall runs, each workflow step's status is printed to stderr.
Exit status: 0 done, 1 failed (the API's error code is printed), 2 usage error,
3 still running when --timeout passed.`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
}

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  sha256: { type: 'string' },
  'no-restart': { type: 'boolean', default: false },
  'uninstall-after': { type: 'string' },
  'no-wait': { type: 'boolean', default: false },
  at: { type: 'string' },
  runtime: { type: 'string' },
  source: { type: 'string' },
  dir: { type: 'string' },
  timeout: { type: 'string', default: '600' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Runs one command; returns the exit status. */
export async function main(argv: string[], io: Io): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n(molecule-plugins --help shows the usage)\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      if (argv.includes('--json')) io.stdout(`${JSON.stringify({ error: err.message, code: err.code, status: err.status, ...err.details }, null, 2)}\n`);
      io.stderr(`error: ${err.message} (${err.code}${err.status ? `, HTTP ${err.status}` : ''})\n`);
      return 1;
    }
    // Local trouble (a --dir that cannot be written, ...): one line, not a stack trace.
    io.stderr(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command) {
    io.stdout(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const token = values.token ?? io.env.MOLECULE_TOKEN;
  if (!token) throw new UsageError('no token: pass --token or set MOLECULE_TOKEN');
  const timeoutSeconds = Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError('--timeout takes a number of seconds');
  const client = new PluginDeliveryClient({ baseUrl: values.url ?? io.env.MOLECULE_API_URL ?? 'http://127.0.0.1:3000', token });
  const print = (value: unknown, text: string) => io.stdout(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  // A failure's text goes to stderr; with --json the result stays on stdout for the script.
  const printFailure = (value: unknown, text: string) => (values.json ? print(value, text) : io.stderr(`${text}\n`));
  const printPlugins = (plugins: RegistryPlugin[]) =>
    print(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.description ?? ''])) || 'no plugins');
  const want = (count: number, names: string) => {
    if (args.length !== count) throw new UsageError(`${command} takes ${names}`);
    return args as string[];
  };

  switch (command) {
    case 'install': {
      const [workspace, source] = want(2, '<workspace> <source>');
      const accepted = await client.install(workspace!, {
        source: source!,
        ...(values.sha256 ? { sha256: values.sha256 } : {}),
        ...(values['no-restart'] ? { restart: false } : {}),
        ...(values['uninstall-after'] ? { uninstallAfter: values['uninstall-after'] } : {}),
      });
      return follow(client, workspace!, accepted, values['no-wait'], timeoutSeconds, io, print, printFailure);
    }
    case 'uninstall': {
      const [workspace, name] = want(2, '<workspace> <name>');
      const answer = await client.uninstall(workspace!, name!, values.at ? { at: values.at } : {});
      if (answer.status === 'scheduled') {
        print(answer, `${answer.plugin}: uninstall scheduled for ${answer.uninstallAt}`);
        return 0;
      }
      return follow(client, workspace!, answer, values['no-wait'], timeoutSeconds, io, print, printFailure);
    }
    case 'list': {
      const [workspace] = want(1, '<workspace>');
      const plugins = await client.listInstalled(workspace!);
      print(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.source, p.sha256.slice(0, 12), p.installedAt])) || 'no plugins installed');
      return 0;
    }
    case 'available': {
      const [workspace] = want(1, '<workspace>');
      printPlugins(await client.available(workspace!));
      return 0;
    }
    case 'registry': {
      want(0, 'no arguments');
      printPlugins(await client.registry(values.runtime));
      return 0;
    }
    case 'status': {
      const [workspace, operationId] = want(2, '<workspace> <operationId>');
      const op = await client.operation(workspace!, operationId!);
      print(op, describe(op));
      return op.status === 'FAILED' ? 1 : 0;
    }
    case 'pull': {
      const [workspace, name] = want(2, '<workspace> <name>');
      const pluginsDir = values.dir ?? join(homedir(), '.molecule', workspace!, 'plugins');
      const pulled = await pullPlugin(client, { workspaceId: workspace!, name: name!, pluginsDir, ...(values.source ? { source: values.source } : {}) });
      print(pulled, `pulled ${name} (sha256 ${pulled.sha256}, ${pulled.files} files) into ${pulled.dir}`);
      return 0;
    }
    case 'sources': {
      want(0, 'no arguments');
      const schemes = await client.sources();
      print({ schemes }, schemes.join('\n'));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Waits for the operation, printing each step as it starts and ends. */
async function follow(
  client: PluginDeliveryClient,
  workspace: string,
  accepted: { operationId: string },
  noWait: boolean,
  timeoutSeconds: number,
  io: Io,
  print: (value: unknown, text: string) => void,
  printFailure: (value: unknown, text: string) => void,
): Promise<number> {
  const { operationId } = accepted;
  if (noWait) {
    print(accepted, `accepted: operation ${operationId} (follow it with: molecule-plugins status ${workspace} ${operationId})`);
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
  if (op.status === 'FAILED') printFailure(op, describe(op));
  else print(op, describe(op));
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
  const code = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
  process.exitCode = code;
}

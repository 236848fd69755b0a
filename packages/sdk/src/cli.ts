#!/usr/bin/env node
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { ApiError } from './client.js';
import * as rollouts from './cli/rollouts.js';
import * as commands from './cli/commands.js';
import * as signing from './cli/signing.js';
import { DEFAULT_URL, type NetworkFlags } from './cli/connection.js';
import { printer } from './cli/format.js';
import { type Io, UsageError } from './cli/io.js';
import type { WatchFlags } from './cli/watch.js';

/**
 * molecule-plugins, the command line over the SDK: the commands and their options (commander), and
 * the exit status of a run: 0 done, 1 failed (the API's error code is printed), 2 usage error, 3
 * still running when --timeout passed. What each command does is in cli/commands.ts.
 */
export type { Io } from './cli/io.js';

const EXIT_HELP = `
Exit status: 0 done, 1 failed (the API's error code is printed), 2 usage error,
3 still running when --timeout passed.

Environment: MOLECULE_API_URL (or MOLECULE_PLATFORM_URL) for --url; MOLECULE_TOKEN (or
MOLECULE_WORKSPACE_TOKEN) for --token; without either, a workspace command uses the token
cached at ~/.molecule/<workspace>/.auth_token.`;

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
  /** Runs a command and keeps its exit status for main(). */
  const run = async (status: Promise<number>) => {
    exit.code = await status;
  };

  networked('install', 'install (or update) a plugin and wait for the result, printing each workflow step')
    .argument('<workspace>')
    .argument('<source>', 'a plugin name, local://name, github://owner/repo#ref or clawhub://name@version')
    .option('--sha256 <hex>', 'the content hash the plugin must have')
    .option('--no-restart', 'do not restart the workspace after the change')
    .option('--uninstall-after <duration>', 'uninstall again after an ISO-8601 duration (P7D)')
    .option('--no-health-check', 'do not run the health gate after the restart')
    .option('--signature <file>', "the plugin's SSH signature, sent with the request instead of a plugin.sig in the plugin")
    .option('--dry-run', 'print what the install would change (+ added, - removed, ~ changed) and whether it restarts; change nothing')
    .option('--detailed-exitcode', 'with --dry-run: exit 2 when the install would change files, 0 when not (1: error or refused)')
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action((workspace: string, source: string, flags: commands.InstallFlags) => run(commands.install(io, workspace, source, flags)));

  networked('revisions', "a plugin's revisions on a workspace, newest first")
    .argument('<workspace>')
    .argument('<plugin>')
    .action((workspace: string, name: string, flags: NetworkFlags) => run(commands.revisions(io, workspace, name, flags)));

  networked('rollback', 'put back an earlier revision of a plugin, byte for byte (default: the one before the active one)')
    .argument('<workspace>')
    .argument('<plugin>')
    .addOption(new Option('--revision <n>', 'the revision to put back').argParser(wholeNumber))
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action((workspace: string, name: string, flags: commands.RollbackFlags) => run(commands.rollback(io, workspace, name, flags)));

  networked('repair', 'mend drift: reinstall modified and missing plugins, adopt what the host has, or clean debris')
    .argument('<workspace>')
    .addOption(new Option('--mode <mode>', 'reinstall, adopt or clean').choices(['reinstall', 'adopt', 'clean']).makeOptionMandatory())
    .option('--plugin <name>', 'only this plugin (repeat for more)', (name: string, names: string[] = []) => [...names, name])
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action((workspace: string, flags: commands.RepairFlags) => run(commands.repair(io, workspace, flags)));

  networked('uninstall', 'remove a plugin now, or schedule it with --at')
    .argument('<workspace>')
    .argument('<name>')
    .option('--at <time>', 'uninstall at an RFC 3339 time with its offset')
    .option('--no-wait', 'return once the operation is accepted')
    .addOption(timeout())
    .action((workspace: string, name: string, flags: commands.UninstallFlags) => run(commands.uninstall(io, workspace, name, flags)));

  networked('list', "a workspace's installed plugins")
    .argument('<workspace>')
    .action((workspace: string, flags: NetworkFlags) => run(commands.list(io, workspace, flags)));

  networked('available', 'the registry plugins a workspace can run')
    .argument('<workspace>')
    .action((workspace: string, flags: NetworkFlags) => run(commands.available(io, workspace, flags)));

  networked('status', 'one operation, explained step by step: `status <operationId>` (admin token) or `status <workspace> <operationId>`')
    .argument('<workspace|operationId>')
    .argument('[operationId]')
    .action((first: string, second: string | undefined, flags: NetworkFlags) => run(commands.status(io, first, second, flags)));

  networked('watch', 'a live view of running and recently failed operations (admin token); Ctrl-C ends it')
    .option('--status <status>', 'only RUNNING, SUCCEEDED or FAILED operations (default: running and failed)')
    .option('--workspace <id>', 'only this workspace')
    .option('--org <id>', 'only this org')
    .option('--plugin <name>', 'only this plugin')
    .option('--kind <kind>', 'only operations of this kind: install, uninstall, rollback, plan, verify or repair')
    .option('--since <time>', 'only operations created since this ISO-8601 time (default: the last hour, for failed ones)')
    .option('--limit <n>', 'at most this many operations of each status', '20')
    .addOption(new Option('--interval <seconds>', 'seconds between redraws').default(2).argParser(intervalSeconds))
    .option('--once', 'print one frame and exit')
    .action((flags: NetworkFlags & WatchFlags) => run(commands.watch(io, flags)));

  networked('registry', 'the plugin registry')
    .option('--runtime <runtime>', 'only plugins for this runtime')
    .action((flags: commands.RegistryFlags) => run(commands.registry(io, flags)));

  networked('sources', 'the source schemes the service accepts').action((flags: NetworkFlags) => run(commands.sources(io, flags)));

  networked('pull', 'external workspaces: download a plugin, check it and unpack it in place of the previous copy')
    .argument('<workspace>')
    .argument('<name>')
    .option('--source <source>', 'a source other than local://<name>')
    .option('--dir <plugins dir>', 'where plugins live (default ~/.molecule/<workspace>/plugins)')
    .option('--signers <allowed_signers>', 'install only a plugin signed by a key this OpenSSH allowed_signers file trusts now')
    .action((workspace: string, name: string, flags: commands.PullFlags) => run(commands.pull(io, workspace, name, flags)));

  // Local commands on a plugin directory: no API, no token.
  const onPluginDir = (name: string, description: string, command: typeof commands.hash) =>
    program
      .command(name)
      .description(description)
      .argument('<dir>')
      .option('--json', 'print the result as JSON on stdout')
      .action((dir: string, flags: { json?: boolean }) => run(command(io, dir, printer(io, flags.json))));

  onPluginDir('hash', "a plugin directory's content hash (SPEC §3, the Python SDK's verify_plugin_sha256 scheme)", commands.hash);
  onPluginDir('validate', "check a plugin directory's plugin.yaml with the service's manifest parser", commands.validate);

  // Signed plugins (SPEC §11): a plugin directory's statement, signing it, verifying it; no API.
  program
    .command('statement')
    .description('what a signature of a plugin directory signs, as Stage will check it (no newline when piped: `> file` holds exactly it)')
    .argument('<dir>')
    .option('--name <name>', 'the plugin name its source gives when plugin.yaml names none (default: the directory name)')
    .option('--json', 'print the statement and its parts as JSON on stdout')
    .action((dir: string, flags: signing.StatementFlags) => run(signing.statement(io, dir, flags, printer(io, flags.json))));

  program
    .command('sign')
    .description("sign a plugin directory's statement with an OpenSSH ed25519 key into <dir>/plugin.sig (ssh-keygen -Y verify accepts it)")
    .argument('<dir>')
    .requiredOption('--key <file>', 'an unencrypted OpenSSH ed25519 private key (~/.ssh/id_ed25519)')
    .option('--name <name>', 'the plugin name its source gives when plugin.yaml names none (default: the directory name)')
    .option('--output <file>', 'where to write the signature (default <dir>/plugin.sig)')
    .option('--json', 'print the result as JSON on stdout')
    .action((dir: string, flags: signing.SignFlags) => run(signing.sign(io, dir, flags, printer(io, flags.json))));

  // One verify for two questions (SPEC §11 and §12): with --signers, a plugin directory's signature;
  // without, what a workspace's host really has against the records.
  networked(
    'verify',
    "with --signers: a plugin directory's plugin.sig against an allowed_signers file (exit 0 valid, 1 not); else what a workspace's host really has against the records (exit 0 in sync, 2 drifted, 1 error)",
  )
    .argument('<workspace-or-dir>', 'a workspace (drift), or with --signers a plugin directory')
    .option('--signers <allowed_signers>', "check the directory's signature against this OpenSSH allowed_signers file (the one ssh-keygen -Y verify -f reads)")
    .option('--signature <file>', 'with --signers: the signature to check (default <dir>/plugin.sig)')
    .option('--name <name>', 'with --signers: the plugin name its source gives when plugin.yaml names none (default: the directory name)')
    .addOption(timeout())
    .action((target: string, flags: commands.VerifyFlags & Partial<signing.VerifyFlags>) =>
      run(flags.signers ? signing.verify(io, target, { ...flags, signers: flags.signers }, printer(io, flags.json)) : commands.verify(io, target, flags)),
    );

  networked('rollout', 'fleet rollouts of an org: create <org> <source>, list <org>, status|watch|cancel|resume|rollback <org> <rollout id>')
    .argument('<action>', 'create, list, status, watch, cancel, resume or rollback')
    .argument('<org>')
    .argument('[source-or-id]', 'create: the source; the others: the rollout id')
    .option('--targets <targets>', 'create: ws-1,ws-2 | runtime:<runtime> | all (default all)')
    .option('--sha256 <hex>', 'create: the content hash the plugin must have')
    .option('--max-concurrency <n>', 'create: installs in flight at most, a number or a percentage (default 10%)')
    .option('--max-errors <n>', 'create, resume: failures tolerated, a number or a percentage (default 0)')
    .option('--canary <n>', 'create: targets installed one at a time first (default 1)')
    .option('--strict', 'create: shrink concurrency as failures arrive, so failures never pass max-errors + 1')
    .option('--dry-run', 'create: plan on every target, deliver nothing')
    .option('--signature <armor>', 'create: the SSH signature of the plugin, if not its plugin.sig')
    .addOption(new Option('--interval <seconds>', 'watch: seconds between reads').default(1).argParser(intervalSeconds))
    .addOption(new Option('--timeout <seconds>', 'watch: how long to follow it').default(3600).argParser(seconds))
    .action((action: string, org: string, arg: string | undefined, flags: rollouts.RolloutFlags) => run(rollouts.rollout(io, action, org, arg, flags)));

  networked('trust', "an org's trusted plugin signers: show (the default), add <principal> <key>, remove <principal>, revoke <key>, require on|off")
    .argument('<org>')
    .argument('[action]', 'show, add, remove, revoke or require')
    .argument('[args...]', 'add: <principal> <public key or .pub file>; remove: <principal>; revoke: <fingerprint, key or .pub file>; require: on|off')
    .option('--valid-after <time>', 'add: the key signs from this ISO-8601 time on')
    .option('--valid-before <time>', 'add: the key signs until this ISO-8601 time')
    .action((org: string, action: string | undefined, args: string[], flags: signing.TrustFlags) => run(signing.trust(io, org, action, args, flags)));

  return program;
}

function intervalSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new UsageError('--interval takes a number of seconds (at most 3600)');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError('--revision takes a revision number (1, 2, …)');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout takes a number of seconds');
  return n;
}

/** Runs one command as this process: its streams, its terminal and Ctrl-C (`npm run cli` and the package's bin). */
export async function runAsProcess(argv = process.argv.slice(2)): Promise<number> {
  // Ctrl-C ends `watch` cleanly (exit 0); other commands keep the default (the process ends).
  const interrupted = new AbortController();
  const watching = argv.includes('watch');
  if (watching) process.once('SIGINT', () => interrupted.abort());
  return main(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    isTTY: process.stderr.isTTY,
    stdoutIsTTY: process.stdout.isTTY,
    interrupted: interrupted.signal,
  });
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) process.exitCode = await runAsProcess();

// The tsnet command line. Commands are imported when they run, so `tsnet --version` and
// `tsnet validate` never load the engine or listr2. main.ts runs it; tests import buildProgram.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitError } from './errors.js';

/** tsnet's version, from its package.json (found upwards: dist/cli/ or dist/ for the bundle). */
function version(): string {
  for (let url = new URL('./', import.meta.url); url.pathname !== '/'; url = new URL('../', url)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'tsnet') return pkg.version;
    } catch {
      /* not here */
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tsnet')
    .description(
      'Declarative container networks for Linux: describe sandboxes, networks and endpoints in YAML;\n' +
        'tsnet plans the changes against the live kernel, applies them reversibly, and destroys only what it made.',
    )
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run "tsnet --help" for usage)')
    .configureHelp({ sortSubcommands: false })
    .exitOverride();

  program
    .command('validate')
    .description('check topology files (YAML syntax, schema, semantic rules) without touching the kernel')
    .argument('<file...>', 'topology files')
    .option('--show', 'print the normalized topology: defaults, kernel names and allocated addresses')
    .option('--json', 'print the result as one JSON document on stdout')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (files: string[], opts) => {
      const { validateCommand } = await import('./commands/validate.js');
      await validateCommand(files, opts);
    });

  registerEngineCommands(program);

  registerUseCommands(program);

  program
    .command('confirm')
    .description('keep a change applied with --confirm-within (otherwise it rolls back when the time is up)')
    .argument('<name>', 'topology name')
    .action(async (name: string) => {
      const { confirmCommand } = await import('./confirm.js');
      await confirmCommand(name);
    });

  program
    .command('graph')
    .description('draw the topology: networks, sandboxes and endpoints with addresses, grouped by host')
    .argument('<file>', 'topology file')
    .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'dot', 'svg']).default('mermaid'))
    .option('--out <path>', 'write to a file instead of stdout')
    .action(async (file: string, opts) => {
      const { graphCommand } = await import('./commands/graph.js');
      await graphCommand(file, opts);
    });

  // Started by "apply --confirm-within"; not for people.
  program
    .command('_confirm-timer', { hidden: true })
    .argument('<name>')
    .action(async (name: string) => {
      const { confirmTimer } = await import('./confirm.js');
      await confirmTimer(name);
    });
  return program;
}

/** plan, apply, destroy, show: they share the options that reach the kernel. */
function registerEngineCommands(program: Command): void {
  const jsonOption = () => new Option('--json', 'machine-readable output on stdout (see README "JSON output")');
  const noRefreshOption = () =>
    new Option('--no-refresh', 'take namespaces from the state the last apply verified instead of reading each again (fast; drift inside them is not seen)');
  program
    .command('plan')
    .description('show the changes that would make the kernel match FILE')
    .argument('<file>', 'topology file')
    .addOption(jsonOption())
    .option('--out <path>', 'save the plan to a file for "tsnet apply <path>"')
    .option('--detailed-exitcode', 'exit 0 when there is nothing to do, 2 when there are changes, 1 on error')
    .addOption(noRefreshOption())
    .option('-q, --quiet', 'print only the summary line')
    .action(async (file: string, opts) => {
      const { planCommand } = await import('./commands/plan.js');
      await planCommand(file, opts);
    });

  program
    .command('apply')
    .description('make the kernel match FILE (or carry out a plan saved with "plan --out")')
    .argument('<file>', 'topology file or saved plan')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(jsonOption())
    .addOption(noRefreshOption())
    .option('--lock-timeout <duration>', 'wait this long for another apply or destroy of the topology (e.g. 30s)', '0s')
    .option('--confirm-within <duration>', 'roll back automatically unless "tsnet confirm NAME" runs within this time (e.g. 60s)')
    .option('--check', 'after the apply is verified, run the checks of the file; one failing exits 1 (with --confirm-within: rolls the change back at once)')
    .option('--adopt', 'take unmarked namespaces and links whose names and kinds match what the plan makes as this topology\'s (after a run killed with a damaged journal); shown in the plan')
    .option('-q, --quiet', 'print only errors and the summary line')
    .action(async (file: string, opts) => {
      const { applyCommand } = await import('./commands/apply.js');
      await applyCommand(file, opts);
    });

  program
    .command('destroy')
    .description('remove everything the topology in FILE owns, and nothing else; with --name, a topology whose file is gone')
    .argument('[file]', 'topology file')
    .option('--name <name>', 'destroy the topology of this name without its file: what carries its marks on the hosts of its last apply (this machine when unrecorded)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(jsonOption())
    .addOption(noRefreshOption())
    .option('--lock-timeout <duration>', 'wait this long for another apply or destroy of the topology (e.g. 30s)', '0s')
    .option('-q, --quiet', 'print only errors and the summary line')
    .action(async (file: string | undefined, opts) => {
      const { destroyCommand } = await import('./commands/destroy.js');
      await destroyCommand(file, opts);
    });

  program
    .command('show')
    .description('show the live state of what the topology in FILE owns')
    .argument('<file>', 'topology file')
    .addOption(jsonOption())
    .action(async (file: string, opts) => {
      const { showCommand } = await import('./commands/show.js');
      await showCommand(file, opts);
    });
}

/** exec and list: using what was built. */
function registerUseCommands(program: Command): void {
  program
    .command('exec')
    .description('run a command in sandboxes\' network namespaces, wherever they live (this machine, netns or ssh hosts)')
    .addHelpText(
      'after',
      [
        '',
        'The command comes after "--"; without one, an interactive shell ($SHELL, else sh):',
        '  tsnet exec FILE SANDBOX                 a shell in SANDBOX',
        '  tsnet exec FILE SANDBOX -- CMD ARGS...  CMD in SANDBOX; stdin, output and exit code pass through',
        '  tsnet exec FILE A B -- CMD ARGS...      in A and B at once, lines prefixed by sandbox',
        '  tsnet exec FILE --all -- CMD ARGS...    in every sandbox of FILE',
      ].join('\n'),
    )
    .usage('[options] FILE [SANDBOX...] [-- COMMAND [ARGS...]]')
    .argument('<file>', 'topology file')
    .argument('[args...]', 'sandbox names, then "--" and the command')
    .option('--all', 'every sandbox of the file')
    .option('--json', 'capture each sandbox\'s output and exit code into one JSON document on stdout (see README "JSON output")')
    .option('--parallel <n>', 'with several sandboxes: at most this many commands at once', '16')
    .option('-t, --tty', 'give the command a terminal over ssh (ssh -t), as an interactive shell gets')
    .action(async (file: string, args: string[], opts, cmd: Command) => {
      const { splitExecArgs } = await import('../exec/args.js');
      // Commander drops "--" from the operands, so where it was is read from the arguments as
      // given (rawArgs: set by parse(), missing from commander's typings).
      const raw = (cmd.parent as { rawArgs?: string[] } | null)?.rawArgs ?? [];
      const split = splitExecArgs(args, raw.slice(raw.indexOf('exec', 2) + 1));
      if (!split.ok) throw new ExitError(split.error);
      const { execCommand } = await import('./commands/exec.js');
      await execCommand(file, split.args.names, split.args.command, opts);
    });

  program
    .command('check')
    .description('run the checks of FILE inside its sandboxes, on their hosts (reach and blocked, ICMP, TCP and UDP), and report a table')
    .argument('<file>', 'topology file (applied)')
    .addOption(new Option('--json', 'machine-readable output on stdout (see README "JSON output")'))
    .option('--all-pairs', 'also ping between every two endpoints of each network (sampled past --max-pairs)')
    .option('--timeout <duration>', 'how long each probe waits for an answer', '1s')
    .option('--deadline <duration>', 'no probe starts after this long; those left fail as not run', '60s')
    .option('--parallel <n>', 'probes at once', '16')
    .option('--max-pairs <n>', 'with --all-pairs: at most this many pairs per network and family', '1000')
    .option('--seed <n>', 'with --all-pairs: the seed of the sample (the same seed tries the same pairs)', '1')
    .option('-q, --quiet', 'print only the summary lines (and errors)')
    .action(async (file: string, opts) => {
      const { checkCommand } = await import('./commands/check.js');
      await checkCommand(file, opts);
    });

  program
    .command('list')
    .description('list the topologies tsnet has built on this machine (found by their ownership marks), with object counts and last apply')
    .addOption(new Option('--json', 'machine-readable output on stdout (see README "JSON output")'))
    .action(async (opts) => {
      const { listCommand } = await import('./commands/list.js');
      await listCommand(opts);
    });
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors are already printed.
      return err.exitCode === 0 ? 0 : 1;
    }
    if (err instanceof ExitError) {
      if (!err.printed && err.message) process.stderr.write(`tsnet: ${err.message}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(
      `tsnet: internal error: ${e?.message ?? String(err)}\nThis is a bug in tsnet; please report it with the command and file that caused it.\n`,
    );
    if (process.env.TSNET_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return 1;
  }
}


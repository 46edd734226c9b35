/**
 * `veil`: the operator's command line. Each command works on a file or a folder and exits with a
 * code scripts can rely on (src/cli/exit-codes.ts, docs/cli.md).
 */
import { Command, CommanderError } from 'commander';
import { ExitCode } from './exit-codes';
import { registerKeyCommands } from './keys-command';
import { registerBatchCommands } from './batch-commands';
import { registerInspectCommand } from './inspect-command';
import { registerServeCommand } from './serve-command';
import { registerWorkerCommand } from './worker-command';
import { registerTokenCommand } from './token-command';
import { registerAnalyzeCommand } from './analyze-command';
import { registerRewrapCommand } from './rewrap-command';
import { VeilError } from '../errors';

/** Builds the program; exported so tests can run commands in-process. */
export function buildProgram(): Command {
  const program = new Command('veil')
    .description('Veil: a DICOM gateway that keeps medical images confidential at rest.')
    .option(
      '-c, --config <file>',
      'extra configuration file (JSON), applied after config/<NODE_ENV>.json',
    )
    .option(
      '--data-dir <dir>',
      'data folder (keys, spool, archive); overrides dataDir and keys.dir',
    )
    .showHelpAfterError()
    .exitOverride();
  registerKeyCommands(program);
  registerBatchCommands(program);
  registerInspectCommand(program);
  registerServeCommand(program);
  registerWorkerCommand(program);
  registerTokenCommand(program);
  registerAnalyzeCommand(program);
  registerRewrapCommand(program);
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return (program as Command & { veilExitCode?: number }).veilExitCode ?? ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.exitCode === 0
      )
        return ExitCode.Ok;
      return ExitCode.Usage;
    }
    if (err instanceof VeilError) {
      console.error(`veil: ${err.code}: ${err.message}`);
      return err.code === 'VEIL_E_USAGE' ? ExitCode.Usage : ExitCode.Setup;
    }
    console.error('veil: internal error:', err);
    return ExitCode.Internal;
  }
}

if (require.main === module || process.argv[1]?.endsWith('bin/veil')) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error('veil: internal error:', err);
      process.exitCode = ExitCode.Internal;
    },
  );
}

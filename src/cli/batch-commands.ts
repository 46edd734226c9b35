/** `veil protect IN OUT` and `veil reveal IN OUT`: one file or a whole folder, with a progress bar. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { VeilError, isVeilError } from '../errors';
import { openProtectionContext } from '../pipeline/protection-context';
import { protect, reveal } from '../protection';
import { ExitCode } from './exit-codes';
import { planJobs, writeFileAtomic } from './files';
import { ProgressBar } from './progress';
import { setExitCode, settingsOf } from './settings';

type Transform = (bytes: Buffer) => { bytes: Buffer; summary: string; report: unknown };

export function registerBatchCommands(program: Command): void {
  program
    .command('protect')
    .description('protect a DICOM file, or every DICOM file of a folder (mirrored into OUT)')
    .argument('<in>', 'DICOM file or folder')
    .argument('<out>', 'output file or folder')
    .option(
      '--no-header-confidentiality',
      'keep identifying header attributes in clear (pixels still encrypted)',
    )
    .option('--json', 'print one JSON report line per file')
    .action(
      async (
        input: string,
        output: string,
        opts: { headerConfidentiality: boolean; json?: boolean },
        command: Command,
      ) => {
        const config = settingsOf(command);
        const code = await runBatch(input, output, 'protect', opts.json === true, async () => {
          const context = await openProtectionContext(config, {
            forProtect: true,
            onKeyGenerated: (key, dir) =>
              console.error(
                `\nNOTICE: no key was found, so a new ${key.bits}-bit RSA key ${key.keyId} was generated in ${dir}.\n` +
                  `        BACK UP THAT FOLDER: without its private keys, protected images can never be revealed.\n`,
              ),
          });
          const options = context.protectOptions();
          if (!opts.headerConfidentiality) {
            options.headerConfidentiality = false;
            delete options.pseudonymKey;
          }
          return (bytes) => {
            const { bytes: out, report } = protect(bytes, options);
            return {
              bytes: out,
              summary: `stego ${report.stego.outcome}, pixels ${report.pixelMode}`,
              report,
            };
          };
        });
        setExitCode(command, code);
      },
    );

  program
    .command('reveal')
    .description('reveal protected files back to the original instances, verified')
    .argument('<in>', 'protected file or folder')
    .argument('<out>', 'output file or folder')
    .option('--json', 'print one JSON report line per file')
    .action(async (input: string, output: string, opts: { json?: boolean }, command: Command) => {
      const config = settingsOf(command);
      const code = await runBatch(input, output, 'reveal', opts.json === true, async () => {
        const options = (
          await openProtectionContext(config, { forProtect: false })
        ).revealOptions();
        return (bytes) => {
          const { bytes: out, report } = reveal(bytes, options);
          const verified = report.stego.verified ? ' verified' : '';
          return {
            bytes: out,
            summary: `${report.kind}, stego ${report.stego.outcome}${verified}`,
            report,
          };
        };
      });
      setExitCode(command, code);
    });
}

/**
 * Plans the jobs (so a wrong path fails before keys are touched), prepares the transform, runs it
 * over every job. Failures are reported with their code and do not stop the rest.
 */
async function runBatch(
  input: string,
  output: string,
  verb: string,
  json: boolean,
  prepare: () => Promise<Transform>,
): Promise<number> {
  const { jobs, folder, skipped } = await planJobs(input, output);
  const transform = await prepare();
  const bar = new ProgressBar(jobs.length, verb);
  let failed = 0;
  for (const job of jobs) {
    try {
      const result = transform(await fs.readFile(job.input));
      await writeFileAtomic(job.output, result.bytes);
      if (json)
        console.log(
          JSON.stringify({ input: job.input, output: job.output, ok: true, report: result.report }),
        );
      else if (!folder) console.log(`${verb}: ${job.input} -> ${job.output} (${result.summary})`);
    } catch (caught) {
      const err = asVeilError(caught);
      failed++;
      if (json) console.log(JSON.stringify({ input: job.input, ok: false, error: err.toJSON() }));
      else bar.note(`${verb}: ${job.input}: ${err.code}: ${err.message}`);
    }
    bar.tick();
  }
  if (folder && !json) {
    const extra = skipped.length > 0 ? `, ${skipped.length} non-DICOM file(s) skipped` : '';
    console.log(
      `${verb}: ${jobs.length - failed} of ${jobs.length} file(s) done, ${failed} failed${extra}`,
    );
  }
  return failed > 0 ? ExitCode.SomeFailed : ExitCode.Ok;
}

/** File system errors of one job are that job's failure (VEIL_E_IO); anything else is a bug. */
function asVeilError(err: unknown): VeilError {
  if (isVeilError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code))
    return new VeilError('VEIL_E_IO', `File system error ${code}.`);
  throw err;
}

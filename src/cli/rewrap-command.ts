/** `veil rewrap IN [OUT]`: re-wraps protected files for the key store's current recipients (key rotation). */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { VeilError, isVeilError } from '../errors';
import { FileKeyStore } from '../keys/file-key-store';
import { rewrap } from '../protection';
import { ExitCode } from './exit-codes';
import { planJobs, writeFileAtomic } from './files';
import { ProgressBar } from './progress';
import { setExitCode, settingsOf } from './settings';

/** Registers `veil rewrap`. */
export function registerRewrapCommand(program: Command): void {
  program
    .command('rewrap')
    .description(
      're-wrap protected files for the current key and recipients (in place when OUT is omitted); pixels are not re-encrypted',
    )
    .argument('<in>', 'protected file or folder')
    .argument('[out]', 'output file or folder (default: rewrite IN in place, atomically)')
    .option('--json', 'print one JSON report line per file')
    .action(
      async (
        input: string,
        output: string | undefined,
        opts: { json?: boolean },
        command: Command,
      ) => {
        const config = settingsOf(command);
        const { jobs, folder, skipped } = await planJobs(input, output ?? input);
        const store = await FileKeyStore.open(config.keys.dir);
        const recipients = store.recipients();
        if (recipients.length === 0) {
          throw new VeilError(
            'VEIL_E_KEY_NOT_FOUND',
            `No current key in ${config.keys.dir}: run \`veil keys rotate\` first.`,
          );
        }
        const options = {
          privateKeys: store.privateKeys(),
          recipients,
          cmsKeyTransport: config.protection.cmsKeyTransport,
          // Series share one data key: unwrap it once per series, not once per file.
          keyCache: new Map<string, Buffer>(),
        };
        const bar = new ProgressBar(jobs.length, 'rewrap');
        let failed = 0;
        for (const job of jobs) {
          try {
            const { bytes, report } = rewrap(await fs.readFile(job.input), options);
            // Atomic replace (temp file, fsync, rename): a crash leaves the old or the new object.
            await writeFileAtomic(job.output, bytes);
            if (opts.json) {
              console.log(
                JSON.stringify({ input: job.input, output: job.output, ok: true, report }),
              );
            } else if (!folder) {
              console.log(
                `rewrap: ${job.input} -> ${job.output} (${short(report.fromKeyIds)} -> ${short(report.toKeyIds)})`,
              );
            }
          } catch (caught) {
            const err = asVeilError(caught);
            failed++;
            if (opts.json) {
              console.log(JSON.stringify({ input: job.input, ok: false, error: err.toJSON() }));
            } else bar.note(`rewrap: ${job.input}: ${err.code}: ${err.message}`);
          }
          bar.tick();
        }
        if (folder && !opts.json) {
          const extra = skipped.length > 0 ? `, ${skipped.length} non-DICOM file(s) skipped` : '';
          console.log(
            `rewrap: ${jobs.length - failed} of ${jobs.length} file(s) done, ${failed} failed${extra}`,
          );
        }
        setExitCode(command, failed > 0 ? ExitCode.SomeFailed : ExitCode.Ok);
      },
    );
}

function short(keyIds: string[]): string {
  return keyIds.map((k) => k.slice(0, 12)).join(',');
}

/** File system errors of one file are that file's failure (VEIL_E_IO); anything else is a bug. */
function asVeilError(err: unknown): VeilError {
  if (isVeilError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code))
    return new VeilError('VEIL_E_IO', `File system error ${code}.`);
  throw err;
}

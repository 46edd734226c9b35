/**
 * `veil rewrap IN [OUT]` and `veil rewrap --archive`: re-wraps protected files, or the gateway's
 * archived instances, for the key store's current recipients (key rotation).
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { VeilError, isVeilError } from '../errors';
import { FileKeyStore } from '../keys/file-key-store';
import { createArchive } from '../archive/create-archive';
import type { VeilConfig } from '../config';
import { silentLogger } from '../log';
import { type RewrapOptions, rewrap } from '../protection';
import { ArchiveFileSync } from './archive-file-sync';
import { openExistingCatalogue } from './catalogue-keys';
import { ExitCode } from './exit-codes';
import { planJobs, writeFileAtomic } from './files';
import { ProgressBar } from './progress';
import { requireCatalogue, rewrapArchive } from './rewrap-archive';
import { gatewaySettingsOf } from './serve-command';
import { setExitCode } from './settings';

/** Registers `veil rewrap`. */
export function registerRewrapCommand(program: Command): void {
  program
    .command('rewrap')
    .description(
      're-wrap protected files (in place when OUT is omitted), or with --archive every instance in the gateway archive, for the current key and recipients; pixels are not re-encrypted',
    )
    .argument('[in]', 'protected file or folder')
    .argument('[out]', 'output file or folder (default: rewrite IN in place, atomically)')
    .option('--archive', "the gateway's archive (any kind) through its catalogue, instead of IN")
    .option('--json', 'print one JSON report line per file or instance')
    .action(
      async (
        input: string | undefined,
        output: string | undefined,
        opts: { archive?: boolean; json?: boolean },
        command: Command,
      ) => {
        if ((input === undefined) === !opts.archive) {
          throw new VeilError('VEIL_E_USAGE', 'Give IN [OUT] or --archive (not both).');
        }
        const config = gatewaySettingsOf(command);
        const store = await FileKeyStore.open(config.keys.dir);
        const recipients = store.recipients();
        if (recipients.length === 0) {
          throw new VeilError(
            'VEIL_E_KEY_NOT_FOUND',
            `No current key in ${config.keys.dir}: run \`veil keys rotate\` first.`,
          );
        }
        const options: RewrapOptions = {
          privateKeys: store.privateKeys(),
          recipients,
          cmsKeyTransport: config.protection.cmsKeyTransport,
          // Series share one data key: unwrap it once per series, not once per file.
          keyCache: new Map<string, Buffer>(),
        };
        const failed =
          input === undefined
            ? await rewrapGatewayArchive(config, options, !!opts.json)
            : await rewrapFiles(config, options, input, output, !!opts.json);
        setExitCode(command, failed > 0 ? ExitCode.SomeFailed : ExitCode.Ok);
      },
    );
}

/** `veil rewrap --archive`; returns the number of failed instances. */
async function rewrapGatewayArchive(
  config: VeilConfig,
  options: RewrapOptions,
  json: boolean,
): Promise<number> {
  const catalogue = requireCatalogue(config, openExistingCatalogue);
  const archive = await createArchive(config, silentLogger).catch((err: unknown) => {
    catalogue.close();
    throw err;
  });
  try {
    const summary = await rewrapArchive(archive, catalogue, options, (o) => {
      const uids = `${o.instance.studyInstanceUID} ${o.instance.seriesInstanceUID} ${o.instance.sopInstanceUID}`;
      if (json) {
        const { error, ...rest } = o;
        console.log(JSON.stringify(error ? { ...rest, error: error.toJSON() } : rest));
      } else if (!o.ok) console.error(`rewrap: ${uids}: ${o.error!.code}: ${o.error!.message}`);
    });
    if (!json) {
      console.log(
        `rewrap: ${summary.done} archived instance(s) re-wrapped, ${summary.failed} failed, ${summary.current} already current`,
      );
    }
    return summary.failed;
  } finally {
    await archive.close();
    catalogue.close();
  }
}

/** `veil rewrap IN [OUT]`; returns the number of failed files. */
async function rewrapFiles(
  config: VeilConfig,
  options: RewrapOptions,
  input: string,
  output: string | undefined,
  json: boolean,
): Promise<number> {
  const { jobs, folder, skipped } = await planJobs(input, output ?? input);
  // Files rewritten in place inside the gateway's filesystem archive move its catalogue along.
  const archived = ArchiveFileSync.open(config);
  const bar = new ProgressBar(jobs.length, 'rewrap');
  let failed = 0;
  try {
    for (const job of jobs) {
      try {
        const { bytes, report } = rewrap(await fs.readFile(job.input), options);
        const sync = archived?.before(job.output, bytes, report.fromMac, report.toMac);
        // Atomic replace (temp file, fsync, rename): a crash leaves the old or the new object.
        await writeFileAtomic(job.output, bytes);
        sync?.(report.toKeyIds, bytes.length);
        if (json) {
          console.log(JSON.stringify({ input: job.input, output: job.output, ok: true, report }));
        } else if (!folder) {
          console.log(
            `rewrap: ${job.input} -> ${job.output} (${short(report.fromKeyIds)} -> ${short(report.toKeyIds)})`,
          );
        }
      } catch (caught) {
        const err = asVeilError(caught);
        failed++;
        if (json) console.log(JSON.stringify({ input: job.input, ok: false, error: err.toJSON() }));
        else bar.note(`rewrap: ${job.input}: ${err.code}: ${err.message}`);
      }
      bar.tick();
    }
  } finally {
    archived?.close();
  }
  if (folder && !json) {
    const extra = skipped.length > 0 ? `, ${skipped.length} non-DICOM file(s) skipped` : '';
    console.log(
      `rewrap: ${jobs.length - failed} of ${jobs.length} file(s) done, ${failed} failed${extra}`,
    );
  }
  return failed;
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

/** `veil inspect FILE|FOLDER`: the protection of each object in words (or JSON); never secrets. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { isVeilError } from '../errors';
import { type InspectReport, inspect } from '../protection';
import { ExitCode } from './exit-codes';
import { planJobs } from './files';
import { setExitCode } from './settings';

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'describe the protection of a file (or of every file in a folder): format, cipher, key ids, stego, header profile',
    )
    .argument('<file>', 'DICOM file or folder')
    .option('--json', 'print JSON')
    .action(async (input: string, opts: { json?: boolean }, command: Command) => {
      const { jobs } = await planJobs(input, input);
      let failed = 0;
      for (const job of jobs) {
        try {
          const report = inspect(await fs.readFile(job.input));
          if (opts.json) console.log(JSON.stringify({ file: job.input, ...report }));
          else console.log(`${job.input}\n${describe(report)}\n`);
        } catch (err) {
          if (!isVeilError(err)) throw err;
          failed++;
          console.error(`inspect: ${job.input}: ${err.code}: ${err.message}`);
        }
      }
      setExitCode(command, failed > 0 ? ExitCode.SomeFailed : ExitCode.Ok);
    });
}

/** The report in words, one fact a line. */
export function describe(r: InspectReport): string {
  const lines: string[] = [];
  const add = (label: string, value: string | number | undefined) => {
    if (value !== undefined) lines.push(`  ${label.padEnd(22)} ${value}`);
  };
  add(
    'protection',
    {
      veil: 'Veil protection format',
      'attributes-only': 'PS3.15 encrypted attributes only (pixels in clear)',
      none: 'none (an ordinary DICOM object)',
    }[r.protection],
  );
  add('transfer syntax', r.transferSyntax);
  add('SOP class', r.sopClassUID);
  add('image', r.geometry);
  add('identity removed', r.patientIdentityRemoved);
  add('de-identification', r.deidentificationMethod);
  const rec = r.record;
  if (rec) {
    add('format version', rec.version);
    add('cipher suite', rec.suite);
    add('key ids', rec.keyIds.join(', '));
    add(
      'pixels',
      `${rec.pixels.mode}, ${rec.pixels.length} bytes encrypted (arrived as ${rec.pixels.originalTransferSyntaxUID})`,
    );
    const s = rec.stego;
    add(
      'stego',
      `${s.outcome}${s.reason ? ` (${s.reason})` : ''}: ${s.bitsUsed} of ${s.capacityBits} bits used, ${s.samplesChanged} samples changed, PSNR ${s.psnr === null ? 'infinite' : `${s.psnr.toFixed(1)} dB`}`,
    );
    add(
      'header profile',
      rec.header.profile === 'none'
        ? 'none (header in clear)'
        : `PS3.15 Basic Profile, Retain UIDs: ${rec.header.replaced} replaced, ${rec.header.emptied} emptied, ${rec.header.removed} removed`,
    );
  }
  for (const [i, cms] of (r.encryptedAttributes ?? []).entries()) {
    add(
      `encrypted attributes ${i + 1}`,
      `CMS EnvelopedData, ${cms.contentEncryptionAlgorithm}, ${cms.recipients.length} recipient(s)`,
    );
    for (const rcp of cms.recipients)
      add(
        '  recipient',
        `${rcp.keyEncryptionAlgorithm} to serial ${rcp.serialNumber} of ${rcp.issuer}`,
      );
  }
  if (r.problems.length > 0) add('problems', r.problems.join(', '));
  return lines.join('\n');
}

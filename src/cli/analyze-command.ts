/**
 * `veil analyze FILE...`: the source paper's security analysis of each image for Veil's cipher
 * and the paper's textbook RSA, as a summary, JSON (`--json`), an HTML report (`--report DIR`)
 * or the generated tables of docs/security-analysis.md (`--markdown FILE`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { type AnalysisResult, analyzeInstance } from '../analysis/analyze-instance';
import { generateAnalysisKeys } from '../analysis/keys';
import { renderHtmlReport } from '../analysis/report-html';
import { renderMarkdown, spliceGenerated } from '../analysis/report-markdown';
import type { PrivateKey } from '../crypto';
import { VeilError, isVeilError } from '../errors';
import { openProtectionContext } from '../pipeline/protection-context';
import { ExitCode } from './exit-codes';
import { planJobs } from './files';
import { setExitCode, settingsOf } from './settings';

interface AnalyzeFlags {
  report?: string;
  json?: boolean;
  markdown?: string;
  maxFrames: string;
  rsaBits: string;
}

/** Registers `veil analyze`. */
export function registerAnalyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description(
      "security analysis of images (entropy, correlation, NPCR/UACI, key sensitivity...) for Veil's cipher and the source paper's textbook RSA",
    )
    .argument('<files...>', 'DICOM files or folders')
    .option('--report <dir>', 'write an HTML report with pictures to DIR')
    .option('--json', 'print one JSON line per file (the same numbers)')
    .option('--markdown <file>', 'write the tables between the markers of a Markdown file')
    .option('--max-frames <n>', 'frames analysed per multi-frame image', '4')
    .option('--rsa-bits <bits>', 'size of the ephemeral Veil RSA key (2048, 3072, 4096)', '3072')
    .action(async (inputs: string[], opts: AnalyzeFlags, command: Command) => {
      const maxFrames = Number(opts.maxFrames);
      const rsaBits = Number(opts.rsaBits);
      if (!Number.isInteger(maxFrames) || maxFrames < 1) {
        throw new VeilError('VEIL_E_USAGE', '--max-frames must be a positive integer.');
      }
      if (rsaBits !== 2048 && rsaBits !== 3072 && rsaBits !== 4096) {
        throw new VeilError('VEIL_E_USAGE', '--rsa-bits must be 2048, 3072 or 4096.');
      }
      const files: string[] = [];
      for (const input of inputs)
        files.push(...(await planJobs(input, input)).jobs.map((j) => j.input));
      // One set of ephemeral keys per command run, never stored.
      const keys = await generateAnalysisKeys(rsaBits);
      let privateKeys: PrivateKey[] | undefined;
      const keysFor = async () =>
        (privateKeys ??= (
          await openProtectionContext(settingsOf(command), { forProtect: false })
        ).revealOptions().privateKeys);
      const done: { name: string; result: AnalysisResult }[] = [];
      let failed = 0;
      for (const file of files) {
        try {
          const bytes = await fs.readFile(file);
          const analyse = (keyList?: PrivateKey[]) =>
            analyzeInstance(bytes, {
              keys,
              maxFrames,
              keepPlanes: opts.report !== undefined,
              ...(keyList ? { privateKeys: keyList } : {}),
            });
          const result = await analyse().catch(async (err: unknown) => {
            // A protected input: reveal it with the key store's keys, then analyse.
            if (isVeilError(err) && err.code === 'VEIL_E_KEY_NOT_FOUND')
              return analyse(await keysFor());
            throw err;
          });
          done.push({ name: file, result });
          if (opts.json) {
            const { planes: _planes, ...numbers } = result;
            console.log(JSON.stringify({ file, ...numbers }));
          } else if (opts.markdown === undefined) console.log(summary(file, result));
        } catch (err) {
          if (!isVeilError(err)) throw err;
          failed++;
          console.error(`analyze: ${file}: ${err.code}: ${err.message}`);
        }
      }
      if (opts.report !== undefined) {
        for (const f of renderHtmlReport(done)) {
          const target = path.join(opts.report, f.path);
          await fs.mkdir(path.dirname(target), { recursive: true });
          await fs.writeFile(target, f.bytes);
        }
        if (!opts.json) console.error(`report: ${path.join(opts.report, 'index.html')}`);
      }
      if (opts.markdown !== undefined) {
        const existing = await fs.readFile(opts.markdown, 'utf8').catch(() => '');
        await fs.writeFile(opts.markdown, spliceGenerated(existing, renderMarkdown(done)));
      }
      setExitCode(command, failed > 0 ? ExitCode.SomeFailed : ExitCode.Ok);
    });
}

/** A few lines per file for a terminal. */
function summary(file: string, r: AnalysisResult): string {
  const i = r.instance;
  const failedVeil = r.rows.filter((row) => row.cipher === 'veil' && row.pass === false);
  return [
    file,
    `  ${i.columns}x${i.rows}x${i.samplesPerPixel}, ${i.bitsStored} bits, frames ${r.framesAnalysed.join(',')} of ${i.frames}`,
    `  Veil (AES-256-GCM, ephemeral RSA-${r.keys.veil.rsaBits}): ${r.verdict.veil.pass} pass, ${r.verdict.veil.fail} fail${failedVeil.length ? ` (${failedVeil.map((row) => `${row.id}@${row.frame ?? 'all'}`).join(', ')}; about 1 in 20 statistical tests fails by chance)` : ''}`,
    `  paper (textbook RSA, n = ${r.keys.textbook.n}): ${r.verdict.textbook.pass} pass, ${r.verdict.textbook.fail} fail`,
  ].join('\n');
}

/**
 * `npm run bench`: protect and reveal throughput (one core) and peak memory, next to raw
 * AES-256-GCM over the same bytes measured in the same run, with the ratios.
 * Aim (issue): protect and reveal >= 0.3x raw AES-GCM on 16-bit images; peak < 3x instance size.
 * Set BENCH_LARGE=0 to skip the ~500 MB multi-frame.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateRsaKey } from '../src/crypto';
import { writeBenchInstances } from './instances';

interface CaseResult {
  mode: string;
  bytes: number;
  seconds: number;
  extraPeakBytes: number;
}

function runCase(file: string, mode: string, keys: string[]): CaseResult {
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      path.join(__dirname, 'protect-case.ts'),
      file,
      mode,
      ...keys,
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as CaseResult;
}

const mb = (bytes: number) => bytes / 1e6;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-bench-'));
  try {
    const key = await generateRsaKey({ bits: 3072 });
    const keys = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    writeFileSync(keys[0]!, key.privateKeyPem, { mode: 0o600 });
    writeFileSync(keys[1]!, key.certificatePem);
    const instances = writeBenchInstances(dir, { large: process.env.BENCH_LARGE !== '0' });
    console.log(
      'protect / reveal vs raw AES-256-GCM (Node crypto, 64 KiB in-place updates) on the same bytes, one core',
    );
    console.log(
      'case | op | MB/s | raw AES-GCM MB/s | ratio (aim >= 0.30) | peak extra memory / instance size (aim < 3)',
    );
    for (const inst of instances) {
      const aes = runCase(inst.file, 'aes', keys);
      const aesRate = mb(aes.bytes) / aes.seconds;
      for (const op of ['protect', 'reveal']) {
        const r = runCase(inst.file, op, keys);
        const rate = mb(r.bytes) / r.seconds;
        console.log(
          [
            inst.name,
            op,
            rate.toFixed(0),
            aesRate.toFixed(0),
            (rate / aesRate).toFixed(2),
            `${(r.extraPeakBytes / 1e6).toFixed(0)} MB / ${mb(inst.bytes).toFixed(1)} MB = ${(r.extraPeakBytes / inst.bytes).toFixed(2)}x`,
          ].join(' | '),
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

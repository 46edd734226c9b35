/**
 * `npm run bench`: protect and reveal throughput (one core) and peak memory, next to raw
 * AES-256-GCM over the same bytes measured in the same run, with the ratios.
 * Aim (issue 2): protect and reveal >= 0.3x raw AES-GCM on 16-bit images; peak < 3x instance size.
 * BENCH_LARGE=0 skips the ~500 MB multi-frame. Then the gateway benchmark (bench/gateway/run.ts,
 * alone: `npm run bench:gateway`); BENCH_GATEWAY=0 skips it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateRsaKey } from '../src/crypto';
import { runGatewayBench } from './gateway/run';
import { writeBenchInstances } from './instances';

interface CaseResult {
  bytes: number;
  seconds: number;
  iterations: number;
  peakBytes: number;
}

function runCase(file: string, mode: string, scope: string, keys: string[]): CaseResult {
  const script = path.join(__dirname, 'protect-case.ts');
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', script, file, mode, scope, ...keys],
    {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as CaseResult;
}

const mbps = (r: CaseResult) => r.bytes / 1e6 / r.seconds;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-bench-'));
  try {
    const key = await generateRsaKey({ bits: 3072 });
    const keys = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    writeFileSync(keys[0]!, key.privateKeyPem, { mode: 0o600 });
    writeFileSync(keys[1]!, key.certificatePem);
    const instances = writeBenchInstances(dir, { large: process.env.BENCH_LARGE !== '0' });
    console.log(
      'Veil protect / reveal against raw AES-256-GCM (Node crypto, 64 KiB in-place updates) on the same bytes,',
    );
    console.log(
      'one core, RSA-3072 keys. Key scope "instance": one data key and two RSA private operations per instance',
    );
    console.log(
      'on reveal; "series": keys shared by the series and cached by the worker (protection.dataKeyScope).',
    );
    console.log('');
    console.log(
      '| instance | op | key scope | MB/s | raw AES-GCM MB/s | ratio (aim >= 0.30) | peak memory / size (aim < 3) |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const inst of instances) {
      const aes = runCase(inst.file, 'aes', 'instance', keys);
      const scopes = inst.bytes > 64e6 ? ['instance'] : ['instance', 'series'];
      for (const scope of scopes) {
        for (const op of ['protect', 'reveal']) {
          const r = runCase(inst.file, op, scope, keys);
          const ratio = mbps(r) / mbps(aes);
          const memory = r.peakBytes / inst.bytes;
          console.log(
            `| ${inst.name} | ${op} | ${scope} | ${mbps(r).toFixed(0)} | ${mbps(aes).toFixed(0)} | ${ratio.toFixed(2)} ${ratio >= 0.3 ? 'ok' : 'below aim'} | ${(r.peakBytes / 1e6).toFixed(0)} MB / ${(inst.bytes / 1e6).toFixed(1)} MB = ${memory.toFixed(2)}x ${inst.bytes < 64e6 ? '(fixed overhead dominates)' : memory < 3 ? 'ok' : 'over aim'} |`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (process.env.BENCH_GATEWAY !== '0') {
    console.log('');
    await runGatewayBench();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

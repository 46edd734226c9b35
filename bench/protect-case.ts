/**
 * One benchmark case in its own process (so peak RSS is this case's): raw AES-256-GCM over the
 * instance's bytes, then protect and reveal, each timed; prints one JSON line.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { protect, reveal } from '../src/protection';
import { privateKeyFromPem, recipientFromCertificate } from '../src/crypto';

const CHUNK = 64 * 1024;

function rawGcm(bytes: Buffer): number {
  // The peer: Node's AES-256-GCM over the same bytes, 64 KiB updates copied back in place.
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  const start = process.hrtime.bigint();
  for (let off = 0; off < bytes.length; off += CHUNK) {
    const view = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
    cipher.update(view).copy(view);
  }
  cipher.final();
  cipher.getAuthTag();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main(): Promise<void> {
  const [file, mode, keyFile, certFile] = process.argv.slice(2) as [
    string,
    'protect' | 'reveal' | 'aes',
    string,
    string,
  ];
  const certificatePem = readFileSync(certFile, 'utf8');
  const recipient = recipientFromCertificate(certificatePem);
  const privateKey = privateKeyFromPem(readFileSync(keyFile, 'utf8'), certificatePem);
  const options = {
    recipients: [recipient],
    headerConfidentiality: true,
    pseudonymKey: randomBytes(32),
    stego: {
      enabled: true,
      fields: [
        'PatientID',
        'PatientName',
        'PatientBirthDate',
        'AccessionNumber',
        'StudyInstanceUID',
        'SOPInstanceUID',
      ],
      whenTooSmall: 'minimal' as const,
    },
    compressed: { default: 'encrypt' as const },
  };
  // Memory is counted from before the input is read: input + output + working set.
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  const maxBefore = process.resourceUsage().maxRSS * 1024;
  // reveal reads what the protect case of this run wrote, so its peak is its own.
  const input = readFileSync(mode === 'reveal' ? `${file}.protected` : file);
  let seconds: number;
  let output: Buffer | undefined;
  if (mode === 'aes') {
    seconds = rawGcm(input);
  } else {
    const start = process.hrtime.bigint();
    output =
      mode === 'protect'
        ? protect(input, options).bytes
        : reveal(input, { privateKeys: [privateKey] }).bytes;
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  }
  const peak = Math.max(process.resourceUsage().maxRSS * 1024, maxBefore);
  if (mode === 'protect' && output) writeFileSync(`${file}.protected`, output);
  console.log(
    JSON.stringify({
      mode,
      bytes: input.length,
      seconds,
      extraPeakBytes: Math.max(0, peak - baseline),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

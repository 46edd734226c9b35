/**
 * One benchmark case in its own process (so peak RSS is this case's): raw AES-256-GCM over the
 * instance's bytes, or protect / reveal of it, after one warm-up call, repeated to at least
 * ~64 MB of work. Prints one JSON line.
 *   tsx bench/protect-case.ts FILE aes|protect|reveal instance|series KEY.pem CERT.pem
 * 'series' shares one data key and one CMS content key (protection.dataKeyScope series) and
 * reveals with a warm key cache, as a worker does for the instances of one series.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA } from '../src/config';
import {
  privateKeyFromPem,
  randomDataKey,
  recipientFromCertificate,
  wrapDataKey,
} from '../src/crypto';
import { type ProtectOptions, type SharedDataKey, protect, reveal } from '../src/protection';

const CHUNK = 64 * 1024;

function rawGcm(bytes: Buffer): void {
  // The peer: Node's AES-256-GCM over the same bytes, 64 KiB updates copied back in place.
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  for (let off = 0; off < bytes.length; off += CHUNK) {
    const view = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
    cipher.update(view).copy(view);
  }
  cipher.final();
  cipher.getAuthTag();
}

function main(): void {
  const [file, mode, scope, keyFile, certFile] = process.argv.slice(2) as [
    string,
    'aes' | 'protect' | 'reveal',
    'instance' | 'series',
    string,
    string,
  ];
  const certificatePem = readFileSync(certFile, 'utf8');
  const recipient = recipientFromCertificate(certificatePem);
  const privateKey = privateKeyFromPem(readFileSync(keyFile, 'utf8'), certificatePem);
  const dataKey = randomDataKey();
  const shared: SharedDataKey = {
    key: dataKey,
    recipients: [
      { keyId: recipient.keyId, wrappedKey: wrapDataKey(dataKey, recipient).toString('base64') },
    ],
    cms: { contentKey: randomDataKey(), encryptedKeys: new Map() },
  };
  const options: ProtectOptions = {
    recipients: [recipient],
    ...(scope === 'series' ? { dataKeyFor: () => shared } : {}),
    headerConfidentiality: true,
    pseudonymKey: randomBytes(32),
    stego: {
      enabled: true,
      fields: CONFIG_SCHEMA.protection.stego.fields.default,
      whenTooSmall: 'minimal',
    },
    compressed: { default: 'encrypt' },
  };
  const keyCache = scope === 'series' ? new Map<string, Buffer>() : undefined;

  // Memory is counted from before the input is read: input + output + working set.
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  // reveal reads what the protect case of this run wrote, so its peak is its own.
  const input = readFileSync(mode === 'reveal' ? `${file}.${scope}.protected` : file);
  const once = (): Buffer | undefined => {
    if (mode === 'aes') return (rawGcm(input), undefined);
    if (mode === 'protect') return protect(input, options).bytes;
    return reveal(input, { privateKeys: [privateKey], ...(keyCache ? { keyCache } : {}) }).bytes;
  };
  // The warm-up call compiles the code paths (and, for 'series', fills the key cache).
  let output = once();
  // Peak memory of one call (the repeats below only add collectable garbage).
  const peak = process.resourceUsage().maxRSS * 1024;
  if (mode === 'protect' && output) writeFileSync(`${file}.${scope}.protected`, output);
  output = undefined;
  global.gc?.();
  const iterations = Math.max(1, Math.min(100, Math.ceil(64e6 / input.length)));
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    once();
    if (input.length > 64e6) global.gc?.();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9 / iterations;
  console.log(
    JSON.stringify({
      mode,
      scope,
      bytes: input.length,
      seconds,
      iterations,
      peakBytes: Math.max(0, peak - baseline),
    }),
  );
}

main();

/**
 * No leaks (issue 5): `node bin/veil serve` as a process (embedded Redis, filesystem archive,
 * sandboxed workers, log level debug, every line of it and of its worker children captured) takes
 * instances of patients with distinctive names, IDs and birth dates by storescu and STOW-RS,
 * answers QIDO-RS, C-FIND, WADO-RS, C-MOVE and C-GET, and is provoked into errors (missing and
 * wrong tokens, bad queries, bad multipart, a tampered archived object). Then every log line, the
 * audit file, every Redis key and value, the /metrics text, every error body, the archive files
 * and the rest of the data folder are searched: no patient value and no private key byte appears.
 * Where they must be (the SQLite index, the key store, the revealed answers) is said below.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { Tags, parsePart10 } from '../../src/dicom';
import { generateCtSeries } from '../../samples/generate';
import { freePort } from '../helpers/orthanc';
import { tempDir } from '../helpers/tools';
import { eventually } from '../pipeline/harness';
import { dcmtk, multipartParts, sopOf, startStorescp, stopChild, stowBody } from './e2e-tools';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'veil');

/** Two patients whose every identifying value is unlikely to occur by chance anywhere. */
const PUSHED = {
  name: 'LEAKCHECK^ZEPHYRINE',
  id: 'LEAK-7731-Q',
  birthDate: '19230917',
  accession: 'LEAKACC7731',
};
const STOWED = {
  name: 'QUILLFEATHER^OSBERT',
  id: 'LEAK-4402-X',
  birthDate: '19310228',
  accession: 'LEAKACC4402',
};
/** Each identifying value, and each name component on its own (a name may be split or reordered). */
const PATIENT_NEEDLES = [PUSHED, STOWED].flatMap((p) => [
  p.name,
  ...p.name.split('^'),
  p.id,
  p.birthDate,
  p.accession,
  // The ID cut at its last dash, as a date-range parser would split it.
  p.id.slice(0, p.id.lastIndexOf('-')),
]);

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...filesUnder(file));
    else out.push(file);
  }
  return out;
}

/**
 * Needles of the key store: the PEM armour, 24-character slices of every base64 body line of
 * the private key files (a key leaked in another encoding would still show its base64 in JSON or
 * a log), and the pseudonym secret.
 */
function keyNeedles(keysDir: string): string[] {
  const needles = ['PRIVATE KEY'];
  for (const file of filesUnder(keysDir)) {
    const text = readFileSync(file, 'latin1');
    if (text.includes('PRIVATE KEY')) {
      const body = text
        .split('\n')
        .filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line.trim()))
        .map((line) => line.trim());
      for (const line of body) needles.push(line.slice(0, 24), line.slice(-24, -2));
    } else if (path.basename(file).includes('pseudonym')) {
      const secret = text.trim();
      if (secret.length >= 16) needles.push(secret);
    }
  }
  return needles;
}

/** The needles found in `text` (case-insensitive for patient values). */
function leaksIn(text: string, needles: string[]): string[] {
  const lower = text.toLowerCase();
  return needles.filter((n) => lower.includes(n.toLowerCase()));
}

/** Every Redis key with its type and values, as latin1 text (values are JSON or raw bytes). */
async function redisDump(url: string): Promise<{ keys: number; text: string }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const out: string[] = [];
  let keys = 0;
  try {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scanBuffer(cursor, 'COUNT', 500);
      cursor = next.toString();
      for (const keyBytes of batch) {
        keys += 1;
        const key = keyBytes.toString('latin1');
        const type = await redis.type(key);
        out.push(`${type} ${key}`);
        const values: Buffer[] = [];
        if (type === 'string') values.push((await redis.getBuffer(key)) ?? Buffer.alloc(0));
        else if (type === 'hash') {
          const h = await redis.hgetallBuffer(key);
          for (const [f, v] of Object.entries(h)) values.push(Buffer.from(f), v);
        } else if (type === 'list') values.push(...(await redis.lrangeBuffer(key, 0, -1)));
        else if (type === 'set') values.push(...(await redis.smembersBuffer(key)));
        else if (type === 'zset')
          values.push(...(await redis.zrangeBuffer(key, 0, -1, 'WITHSCORES')));
        else if (type === 'stream') {
          for (const [id, fields] of await redis.xrangeBuffer(key, '-', '+')) {
            values.push(id, ...fields);
          }
        }
        for (const v of values) out.push(v.toString('latin1'));
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return { keys, text: out.join('\n') };
}

describe('e2e/no-leaks (veil serve, debug logs, Redis, metrics, errors, archive)', function () {
  this.timeout(300_000);
  let tmp: ReturnType<typeof tempDir>;
  let dataDir: string;
  let child: ChildProcess | undefined;
  let storescp: ChildProcess | undefined;
  let output = '';
  let exit: Promise<number | null>;
  let httpPort: number;
  let dimsePort: number;
  let token: string;
  let movedDir: string;
  /** Bodies of every error answer, with the request that provoked it. */
  const errorBodies: Array<{ what: string; status: number; body: string }> = [];
  /** Output of the DCMTK tools when they were refused or failed (their error comments). */
  const toolErrors: string[] = [];

  const pushedSeries = generateCtSeries({
    slices: 3,
    rows: 32,
    columns: 32,
    seed: 4711,
    patient: { name: PUSHED.name, id: PUSHED.id, birthDate: PUSHED.birthDate },
    accessionNumber: PUSHED.accession,
  });
  const stowed = generateCtSeries({
    slices: 2,
    rows: 32,
    columns: 32,
    seed: 4712,
    patient: { name: STOWED.name, id: STOWED.id, birthDate: STOWED.birthDate },
    accessionNumber: STOWED.accession,
  });
  const header = (b: Buffer) => parsePart10(b, { stopAtPixelData: true }).dataset;
  const pushedStudy = header(pushedSeries[0]!).string(Tags.StudyInstanceUID)!;
  const stowedStudy = header(stowed[0]!).string(Tags.StudyInstanceUID)!;
  const stowedSeries = header(stowed[0]!).string(Tags.SeriesInstanceUID)!;

  const base = () => `http://127.0.0.1:${httpPort}`;
  const auth = () => ({ authorization: `Bearer ${token}` });

  /** A request whose answer must be an error: its body is kept for the scan. */
  async function provoke(what: string, url: string, init: RequestInit = {}): Promise<number> {
    const res = await fetch(url, init);
    const body = await res.text();
    assert.ok(res.status >= 400, `${what} answers an error, got ${res.status}`);
    errorBodies.push({ what, status: res.status, body });
    return res.status;
  }

  before(async () => {
    tmp = tempDir('veil-e2e-leaks-');
    dataDir = path.join(tmp.dir, 'data');
    httpPort = await freePort();
    dimsePort = await freePort();
    const storescpPort = await freePort();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('VEIL_') && k !== 'REDIS_URL' && k !== 'NODE_ENV' && k !== 'LOG_LEVEL')
        env[k] = v;
    }
    child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'serve'], {
      cwd: tmp.dir,
      env: {
        ...env,
        VEIL_HTTP__HOST: '127.0.0.1',
        VEIL_HTTP__PORT: String(httpPort),
        VEIL_DIMSE__HOST: '127.0.0.1',
        VEIL_DIMSE__PORT: String(dimsePort),
        VEIL_DIMSE__DESTINATIONS: `LEAKSCP@127.0.0.1:${storescpPort}`,
        VEIL_REDIS__URL: '',
        VEIL_KEYS__BITS: '2048',
        VEIL_SPOOL__MIN_FREE_BYTES: '0',
        VEIL_JOBS__BACKOFF_MS: '50',
        // The most talkative level: whatever any code path logs is in the scan.
        VEIL_LOG__LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString('latin1')));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString('latin1')));
    exit = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
    await eventually(
      async () => {
        if (child!.exitCode !== null) throw new Error(`veil serve exited early:\n${output}`);
        const res = await fetch(`${base()}/readyz`).catch(() => undefined);
        if (!res) return undefined;
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      },
      '/readyz 200',
      120_000,
    );
    token = /admin bearer token[^\n]*\n\*\*\*\s+(\S+)/.exec(output)![1]!;
    movedDir = path.join(tmp.dir, 'moved');
    mkdirSync(movedDir);
    storescp = await startStorescp('LEAKSCP', storescpPort, movedDir);
  });
  after(async () => {
    await stopChild(storescp);
    await stopChild(child);
    tmp?.cleanup();
  });

  /** Waits until QIDO-RS lists every instance of the study (it lists archived ones only). */
  async function waitListed(study: string, count: number): Promise<void> {
    await eventually(
      async () => {
        const res = await fetch(`${base()}/dicom-web/studies/${study}/instances`, {
          headers: { ...auth(), accept: 'application/dicom+json' },
        });
        if (res.status !== 200) {
          await res.arrayBuffer();
          return undefined;
        }
        return ((await res.json()) as unknown[]).length >= count ? true : undefined;
      },
      `${count} instances of a study archived`,
      180_000,
    );
  }

  it('takes the patients in by storescu and STOW-RS and gives them back by every door', async () => {
    const pushDir = path.join(tmp.dir, 'push');
    mkdirSync(pushDir);
    const files = pushedSeries.map((bytes, i) => {
      const file = path.join(pushDir, `ct${i}.dcm`);
      writeFileSync(file, bytes);
      return file;
    });
    await dcmtk('storescu', ['-aec', 'VEIL', '127.0.0.1', String(dimsePort), ...files]);
    const boundary = 'veil-leak-boundary';
    const stored = await fetch(`${base()}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        ...auth(),
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
      },
      body: stowBody(stowed, boundary),
    });
    assert.equal(stored.status, 200, await stored.clone().text());
    await stored.arrayBuffer();
    await waitListed(pushedStudy, pushedSeries.length);
    await waitListed(stowedStudy, stowed.length);

    // QIDO-RS and C-FIND by the patient's name and ID: the answers carry them (revealed output).
    const qido = await fetch(
      `${base()}/dicom-web/studies?PatientName=${encodeURIComponent('LEAKCHECK*')}&PatientID=${PUSHED.id}`,
      { headers: { ...auth(), accept: 'application/dicom+json' } },
    );
    assert.equal(qido.status, 200);
    assert.ok((await qido.text()).includes(PUSHED.id), 'QIDO-RS answers with the patient');
    const found = await dcmtk('findscu', [
      '-v',
      '-S',
      '-aec',
      'VEIL',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `PatientName=QUILLFEATHER*`,
      '-k',
      'PatientID',
      '-k',
      'StudyInstanceUID',
      '127.0.0.1',
      String(dimsePort),
    ]);
    assert.ok(found.includes(STOWED.id), 'C-FIND answers with the patient');

    // WADO-RS, C-MOVE and C-GET give the originals back, names included (revealed output).
    const wado = await fetch(`${base()}/dicom-web/studies/${pushedStudy}`, {
      headers: { ...auth(), accept: 'multipart/related; type="application/dicom"' },
    });
    assert.equal(wado.status, 200);
    const parts = multipartParts(
      Buffer.from(await wado.arrayBuffer()),
      wado.headers.get('content-type')!,
    );
    assert.equal(parts.length, pushedSeries.length);
    assert.ok(parts[0]!.toString('latin1').includes(PUSHED.name));
    await dcmtk('movescu', [
      '-S',
      '-aec',
      'VEIL',
      '-aem',
      'LEAKSCP',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${stowedStudy}`,
      '127.0.0.1',
      String(dimsePort),
    ]);
    assert.equal(readdirSync(movedDir).length, stowed.length);
    const gotDir = path.join(tmp.dir, 'got');
    mkdirSync(gotDir);
    await dcmtk('getscu', [
      '-S',
      '-aec',
      'VEIL',
      '-od',
      gotDir,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${pushedStudy}`,
      '127.0.0.1',
      String(dimsePort),
    ]);
    assert.equal(readdirSync(gotDir).length, pushedSeries.length);
  });

  it('answers bad tokens, bad queries, bad multipart and a tampered archived object with errors', async () => {
    const query = `PatientName=${encodeURIComponent(PUSHED.name)}&PatientID=${PUSHED.id}`;
    const json = { accept: 'application/dicom+json' };
    assert.equal(await provoke('no token', `${base()}/dicom-web/studies?${query}`), 401);
    await provoke('wrong token', `${base()}/dicom-web/studies?${query}`, {
      headers: { authorization: `Bearer ${PUSHED.id}-not-a-token`, ...json },
    });
    await provoke(
      'a birth date that is not a date',
      `${base()}/dicom-web/studies?PatientBirthDate=${PUSHED.id}&${query}`,
      { headers: { ...auth(), ...json } },
    );
    await provoke(
      'a bad limit',
      `${base()}/dicom-web/studies?limit=${PUSHED.birthDate}x&${query}`,
      {
        headers: { ...auth(), ...json },
      },
    );
    await provoke('a UID that is not a UID', `${base()}/dicom-web/studies/${PUSHED.id}/series`, {
      headers: { ...auth(), ...json },
    });
    const instance = stowed[0]!;
    await provoke('STOW with a wrong token', `${base()}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer wrong',
        'content-type': 'multipart/related; type="application/dicom"; boundary=b',
      },
      body: stowBody([instance], 'b'),
    });
    await provoke('STOW with a boundary not in the body', `${base()}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        ...auth(),
        'content-type': 'multipart/related; type="application/dicom"; boundary=other',
        accept: 'application/dicom+json',
      },
      body: stowBody([instance], 'b'),
    });
    await provoke('STOW of a truncated instance', `${base()}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        ...auth(),
        'content-type': 'multipart/related; type="application/dicom"; boundary=b',
        accept: 'application/dicom+json',
      },
      body: stowBody([instance.subarray(0, 700)], 'b'),
    });
    await dcmtk('findscu', [
      '-S',
      '-aec',
      'VEIL',
      '-k',
      'QueryRetrieveLevel=NOSUCHLEVEL',
      '-k',
      `PatientName=${PUSHED.name}`,
      '127.0.0.1',
      String(dimsePort),
    ]).then(
      (out) => toolErrors.push(out),
      (err: Error) => toolErrors.push(err.message),
    );

    // One ciphertext byte of an archived instance flipped: reveal must refuse it.
    const tampered = stowed[1]!;
    const sop = sopOf(tampered);
    const file = filesUnder(path.join(dataDir, 'archive')).find((f) => f.endsWith(`${sop}.dcm`));
    assert.ok(file, 'the archived file of the instance');
    const bytes = readFileSync(file);
    bytes[bytes.length - 40] ^= 0x01;
    writeFileSync(file, bytes);
    await provoke(
      'WADO-RS of a tampered instance',
      `${base()}/dicom-web/studies/${stowedStudy}/series/${stowedSeries}/instances/${sop}`,
      { headers: { ...auth(), accept: 'multipart/related; type="application/dicom"' } },
    );
    const gotDir = path.join(tmp.dir, 'got-tampered');
    mkdirSync(gotDir);
    await dcmtk('getscu', [
      '-S',
      '-aec',
      'VEIL',
      '-od',
      gotDir,
      '-k',
      'QueryRetrieveLevel=IMAGE',
      '-k',
      `StudyInstanceUID=${stowedStudy}`,
      '-k',
      `SeriesInstanceUID=${stowedSeries}`,
      '-k',
      `SOPInstanceUID=${sop}`,
      '127.0.0.1',
      String(dimsePort),
    ]).then(
      (out) => toolErrors.push(out),
      (err: Error) => toolErrors.push(err.message),
    );
    assert.equal(readdirSync(gotDir).length, 0, 'nothing tampered is delivered');
  });

  it('keeps patient values and key material out of every error body and DIMSE error comment', () => {
    const needles = [...PATIENT_NEEDLES, ...keyNeedles(path.join(dataDir, 'keys'))];
    for (const { what, status, body } of errorBodies) {
      assert.deepEqual(leaksIn(body, needles), [], `${what} (${status}): ${body}`);
    }
    // The tools print the query they sent (it holds the name): only the answer part counts.
    for (const out of toolErrors) {
      const answers = out
        .split(/Received Final|Response/)
        .slice(1)
        .join('\n');
      assert.deepEqual(leaksIn(answers, needles), [], out);
    }
  });

  it('keeps them out of Redis: job data, results, failed reasons, event streams', async () => {
    const redisLine = output
      .split('\n')
      .find((line) => line.includes('started embedded redis-server'));
    assert.ok(redisLine, 'the debug log names the embedded Redis port');
    const port = (JSON.parse(redisLine) as { port: number }).port;
    const dump = await redisDump(`redis://127.0.0.1:${port}`);
    assert.ok(dump.keys > 5, `Redis holds the queues (${dump.keys} keys)`);
    assert.ok(dump.text.includes('stream'), 'the event streams were scanned');
    const needles = [...PATIENT_NEEDLES, ...keyNeedles(path.join(dataDir, 'keys'))];
    assert.deepEqual(leaksIn(dump.text, needles), []);
  });

  it('keeps them out of /metrics', async () => {
    const res = await fetch(`${base()}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.includes('veil_'), 'the metrics text');
    const needles = [...PATIENT_NEEDLES, ...keyNeedles(path.join(dataDir, 'keys'))];
    assert.deepEqual(leaksIn(text, needles), []);
  });

  it('keeps them out of every log line (gateway and workers) and the audit file, after a clean stop', async () => {
    const needles = [...PATIENT_NEEDLES, ...keyNeedles(path.join(dataDir, 'keys'))];
    await stopChild(child);
    assert.equal(await exit, 0, output);
    assert.ok(output.split('\n').length > 20, 'debug logging produced lines to scan');
    assert.ok(/"name":"veil-worker"/.test(output), 'worker children logs are in the scan');
    for (const line of output.split('\n')) {
      assert.deepEqual(leaksIn(line, needles), [], line);
    }
    const audit = readFileSync(path.join(dataDir, 'audit.jsonl'), 'utf8');
    assert.ok(audit.includes('"outcome"'), 'the audit file');
    assert.deepEqual(leaksIn(audit, needles), []);
  });

  it('keeps them out of the archive (header confidentiality) and of every other file of the data folder', () => {
    const needles = [...PATIENT_NEEDLES, ...keyNeedles(path.join(dataDir, 'keys'))];
    const archived = filesUnder(path.join(dataDir, 'archive'));
    assert.equal(archived.length, pushedSeries.length + stowed.length);
    // Where they must be: the SQLite index answers QIDO/C-FIND by name (index.sqlite*), the key
    // store holds the private key (keys/), Redis's own dump is scanned through Redis above.
    const mustHold = (f: string) =>
      f.startsWith(path.join(dataDir, 'keys') + path.sep) ||
      f.startsWith(path.join(dataDir, 'redis') + path.sep) ||
      path.basename(f).startsWith('index.sqlite');
    // Control: the needles do match the way the values are stored where they must be.
    const index = readFileSync(path.join(dataDir, 'index.sqlite'), 'latin1');
    assert.ok(leaksIn(index, [PUSHED.id, STOWED.id]).length === 2, 'the index holds the IDs');
    assert.ok(keyNeedles(path.join(dataDir, 'keys')).length > 10, 'the private key was read');
    const scanned = filesUnder(dataDir).filter((f) => !mustHold(f));
    assert.ok(scanned.length >= archived.length);
    for (const file of scanned) {
      assert.deepEqual(leaksIn(readFileSync(file, 'latin1'), needles), [], file);
    }
  });
});

/** Pure pieces of the HTTP door: tokens, media types, DICOM JSON and QIDO-RS parameters. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataSetToJson, keywordAttribute, personName } from '../../src/api/dicom-json';
import { covers, parseAccept } from '../../src/api/media-type';
import { parseQidoParams } from '../../src/api/qido-params';
import { failureReasonOf } from '../../src/api/stow';
import {
  ensureInitialToken,
  findToken,
  formatTokenEntry,
  hashToken,
  loadTokens,
  newToken,
  parseTokenEntry,
  readTokensFile,
} from '../../src/api/tokens';
import { DataSet, Tags, textElement, usElement } from '../../src/dicom';
import { VeilError } from '../../src/errors';
import { testConfig } from '../pipeline/harness';

describe('api/tokens', () => {
  it('round-trips a token through its hashed entry and finds it', () => {
    const token = newToken();
    const entry = parseTokenEntry(formatTokenEntry('ct1', 'modality', token));
    assert.equal(entry.name, 'ct1');
    assert.equal(entry.role, 'modality');
    assert.equal(entry.hash.toString('hex'), hashToken(token));
    assert.equal(findToken([entry], token), entry);
    assert.equal(findToken([entry], `${token}x`), undefined);
    assert.notEqual(newToken(), token);
  });

  it('rejects malformed entries and tokens files', () => {
    for (const bad of [
      'ct1:modality',
      'ct1:root:' + 'a'.repeat(64),
      'a b:admin:' + 'a'.repeat(64),
      'x:admin:' + 'A'.repeat(64),
    ]) {
      assert.throws(
        () => parseTokenEntry(bad),
        (e: unknown) => e instanceof VeilError && e.code === 'VEIL_E_CONFIG_INVALID',
      );
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-tokens-'));
    try {
      const file = path.join(dir, 'tokens.json');
      assert.deepEqual(readTokensFile(file), []);
      writeFileSync(file, '{"not":"a list"}');
      assert.throws(() => readTokensFile(file), /JSON list/);
      writeFileSync(file, 'not json');
      assert.throws(() => readTokensFile(file), /not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates one admin token on first start, stores only its hash (0600), and not again', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'veil-tokens-'));
    try {
      const config = testConfig(dir);
      const first = ensureInitialToken(config);
      assert.ok(first);
      const stored = readFileSync(config.http.tokensFile, 'utf8');
      assert.ok(!stored.includes(first.token), 'the token itself is never stored');
      assert.equal(statSync(config.http.tokensFile).mode & 0o777, 0o600);
      assert.equal(findToken(loadTokens(config), first.token)?.role, 'admin');
      assert.equal(ensureInitialToken(config), undefined);
      assert.equal(
        ensureInitialToken(testConfig(dir, { VEIL_HTTP__AUTH_REQUIRED: 'false' })),
        undefined,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('api/media-type', () => {
  it('orders Accept entries by quality and drops q=0', () => {
    const list = parseAccept(
      'application/json;q=0.5, multipart/related; type="application/dicom", image/*;q=0',
    );
    assert.deepEqual(
      list.map((m) => m.type),
      ['multipart/related', 'application/json'],
    );
    assert.equal(list[0]!.params.type, 'application/dicom');
    assert.deepEqual(
      parseAccept(undefined).map((m) => m.type),
      ['*/*'],
    );
  });

  it('matches wildcards', () => {
    const [any] = parseAccept('*/*');
    const [app] = parseAccept('application/*');
    assert.ok(covers(any!, 'application/dicom+json'));
    assert.ok(covers(app!, 'application/dicom+json'));
    assert.ok(!covers(app!, 'multipart/related'));
  });
});

describe('api/dicom-json', () => {
  it('encodes a data set per PS3.18 F.2: numbers, PN objects, multi-values, sequences, binaries', () => {
    const item = new DataSet().set(textElement(Tags.PatientID, 'LO', 'X1'));
    const ds = new DataSet()
      .set(textElement(Tags.PatientName, 'PN', 'DOE^JANE=D^J'))
      .set(textElement(0x00080008, 'CS', 'ORIGINAL\\PRIMARY'))
      .set(textElement(0x00281050, 'DS', '40\\400'))
      .set(usElement(Tags.Rows, 512))
      .set(textElement(Tags.InstanceNumber, 'IS', '7'))
      .set({ tag: 0x00091001, vr: 'UN', value: Buffer.from([1, 2]) })
      .set({ tag: Tags.PixelData, vr: 'OW', value: Buffer.alloc(8) })
      .set({ tag: 0x00081115, vr: 'SQ', items: [item] })
      .set({ tag: 0x00200032, vr: 'DS', value: Buffer.alloc(0) });
    const json = dataSetToJson(ds);
    assert.deepEqual(json['00100010'], {
      vr: 'PN',
      Value: [{ Alphabetic: 'DOE^JANE', Ideographic: 'D^J' }],
    });
    assert.deepEqual(json['00080008'], { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY'] });
    assert.deepEqual(json['00281050'], { vr: 'DS', Value: [40, 400] });
    assert.deepEqual(json['00280010'], { vr: 'US', Value: [512] });
    assert.deepEqual(json['00200013'], { vr: 'IS', Value: [7] });
    assert.deepEqual(json['00091001'], { vr: 'UN', InlineBinary: 'AQI=' });
    assert.deepEqual(json['7FE00010'], { vr: 'OW' });
    assert.deepEqual(json['00081115'], {
      vr: 'SQ',
      Value: [{ '00100020': { vr: 'LO', Value: ['X1'] } }],
    });
    assert.deepEqual(json['00200032'], { vr: 'DS' });
    assert.deepEqual(Object.keys(json), [...Object.keys(json)].sort());
  });

  it('encodes catalogue values by keyword', () => {
    assert.deepEqual(keywordAttribute('ModalitiesInStudy', 'CT\\MR'), [
      '00080061',
      { vr: 'CS', Value: ['CT', 'MR'] },
    ]);
    assert.deepEqual(keywordAttribute('NumberOfStudyRelatedInstances', 3), [
      '00201208',
      { vr: 'IS', Value: [3] },
    ]);
    assert.deepEqual(keywordAttribute('PatientName', ''), ['00100010', { vr: 'PN' }]);
    assert.equal(keywordAttribute('NotAKeyword', 'x'), undefined);
    assert.equal(personName(''), null);
  });
});

describe('api/qido-params', () => {
  const parse = (q: string, fromPath: Record<string, string> = {}) =>
    parseQidoParams(new URLSearchParams(q), 'STUDY', fromPath);

  it('builds a catalogue query from keywords, tags, includefield, limit, offset and fuzzymatching', () => {
    const r = parse(
      'PatientName=DOE*&00080020=20240101-&StudyInstanceUID=1.2.3,1.2.4&includefield=00081030&includefield=StudyID&limit=5&offset=10&fuzzymatching=true',
    );
    assert.deepEqual(r.query, {
      level: 'STUDY',
      match: { PatientName: 'DOE*', StudyDate: '20240101-', StudyInstanceUID: '1.2.3\\1.2.4' },
      fuzzy: true,
      limit: 5,
      offset: 10,
    });
    assert.deepEqual([...r.include!], ['StudyDescription', 'StudyID']);
    assert.equal(parse('includefield=all').include, undefined);
    assert.deepEqual(parse('', { StudyInstanceUID: '1.2' }).query.match, {
      StudyInstanceUID: '1.2',
    });
  });

  it('rejects unknown keys, repeated keys, nested keys, bad numbers and invalid UIDs', () => {
    const codeOf = (q: string) => {
      try {
        parse(q);
      } catch (e) {
        return (e as VeilError).code;
      }
      return 'none';
    };
    assert.equal(codeOf('Bogus=1'), 'VEIL_E_HTTP_BAD_REQUEST');
    assert.equal(codeOf('PatientID=1&00100020=2'), 'VEIL_E_HTTP_BAD_REQUEST');
    assert.equal(codeOf('00081110.00081150=1.2'), 'VEIL_E_HTTP_BAD_REQUEST');
    assert.equal(codeOf('fuzzymatching=yes'), 'VEIL_E_HTTP_BAD_REQUEST');
    assert.equal(codeOf('includefield=Nope'), 'VEIL_E_HTTP_BAD_REQUEST');
    assert.equal(codeOf('limit=ten'), 'VEIL_E_QUERY_INVALID');
    assert.equal(codeOf('offset=-1'), 'VEIL_E_QUERY_INVALID');
    assert.equal(codeOf('StudyInstanceUID=1.02'), 'VEIL_E_UID_INVALID');
  });
});

describe('api/stow failure reasons', () => {
  it('maps error codes to PS3.18 FailureReason values', () => {
    assert.equal(failureReasonOf(new VeilError('VEIL_E_DICOM_NOT_DICOM', 'x')), 0xc000);
    assert.equal(failureReasonOf(new VeilError('VEIL_E_SPOOL_FULL', 'x')), 0xa700);
    assert.equal(failureReasonOf(new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', 'x')), 0xa900);
    assert.equal(failureReasonOf(new VeilError('VEIL_E_ARCHIVE_NOT_FOUND', 'x')), 0x0110);
    assert.equal(failureReasonOf(new Error('bug')), 0x0110);
  });
});

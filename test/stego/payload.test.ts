import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import {
  MIN_PAYLOAD_BYTES,
  type StegoPayload,
  decodePayload,
  encodePayload,
} from '../../src/stego';
import { isVeilError } from '../../src/errors';
import { assertVeil, bytesOf } from './fixtures';

const macKey = bytesOf('mac key', 32);
const pixelDigest = createHash('sha256').update('pixels').digest();
const full: StegoPayload = {
  kind: 'full',
  fields: new Map([
    ['PatientID', Buffer.from('PAT-0042')],
    ['PatientName', Buffer.from('Doe^Jane')],
    ['PatientBirthDate', Buffer.from('19700101')],
    ['AccessionNumber', Buffer.alloc(0)],
    ['StudyInstanceUID', Buffer.from('1.2.3.4\0', 'latin1')],
  ]),
  pixelDigest,
};
const minimal: StegoPayload = { kind: 'minimal', fields: new Map(), pixelDigest };

/** Builds a body by hand and seals it with a correct HMAC, to reach the parser behind the MAC. */
function sealed(body: Buffer, macBytes = 32): Buffer {
  return Buffer.concat([
    body,
    createHmac('sha256', macKey).update(body).digest().subarray(0, macBytes),
  ]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

describe('stego/payload', () => {
  it('round-trips a full payload with its fields, in order', () => {
    const decoded = decodePayload(encodePayload(full, macKey), macKey);
    assert.equal(decoded.kind, 'full');
    assert.deepEqual([...decoded.fields.keys()], [...full.fields.keys()]);
    for (const [keyword, value] of full.fields)
      assert.deepEqual(decoded.fields.get(keyword), value);
    assert.deepEqual(decoded.pixelDigest, pixelDigest);
  });

  it('round-trips a minimal payload of 54 bytes', () => {
    const bytes = encodePayload(minimal, macKey);
    assert.equal(bytes.length, 54);
    assert.equal(MIN_PAYLOAD_BYTES, 54);
    assert.deepEqual(decodePayload(bytes, macKey), minimal);
  });

  it('round-trips a full payload without fields', () => {
    const empty: StegoPayload = { kind: 'full', fields: new Map(), pixelDigest };
    assert.deepEqual(decodePayload(encodePayload(empty, macKey), macKey), empty);
  });

  it('lays out magic, version, kind, fields, digest and a full-length HMAC as specified', () => {
    const one: StegoPayload = {
      kind: 'full',
      fields: new Map([['PatientID', Buffer.from('X1')]]),
      pixelDigest,
    };
    const body = Buffer.concat([
      Buffer.from('VEIL'),
      Buffer.from([1, 1, 0, 1, 9]),
      Buffer.from('PatientID'),
      u32(2),
      Buffer.from('X1'),
      pixelDigest,
    ]);
    assert.deepEqual(encodePayload(one, macKey), sealed(body));
  });

  it('truncates the HMAC of a minimal payload to 16 bytes', () => {
    const body = Buffer.concat([Buffer.from('VEIL'), Buffer.from([1, 2]), pixelDigest]);
    assert.deepEqual(encodePayload(minimal, macKey), sealed(body, 16));
  });

  it('rejects a wrong MAC key', () => {
    assertVeil(
      () => decodePayload(encodePayload(full, macKey), bytesOf('other', 32)),
      'VEIL_E_STEGO_PAYLOAD',
    );
    assertVeil(
      () => decodePayload(encodePayload(minimal, macKey), bytesOf('other', 32)),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects any single flipped bit', () => {
    for (const payload of [full, minimal]) {
      const bytes = encodePayload(payload, macKey);
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const altered = Buffer.from(bytes);
        altered[bit >> 3] = altered[bit >> 3]! ^ (0x80 >> (bit & 7));
        assertVeil(() => decodePayload(altered, macKey), 'VEIL_E_STEGO_PAYLOAD');
      }
    }
  });

  it('rejects truncated and extended payloads', () => {
    const bytes = encodePayload(full, macKey);
    for (const length of [0, 4, 53, 54, bytes.length - 1]) {
      assertVeil(() => decodePayload(bytes.subarray(0, length), macKey), 'VEIL_E_STEGO_PAYLOAD');
    }
    assertVeil(
      () => decodePayload(Buffer.concat([bytes, Buffer.alloc(1)]), macKey),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('rejects a wrong magic, an unknown version and an unknown kind even when sealed', () => {
    const rest = Buffer.concat([Buffer.from([0, 0]), pixelDigest]);
    const header = (magic: string, version: number, kind: number): Buffer =>
      Buffer.concat([Buffer.from(magic), Buffer.from([version, kind])]);
    for (const head of [
      header('VEIM', 1, 1),
      header('VEIL', 2, 1),
      header('VEIL', 1, 3),
      header('VEIL', 1, 0),
    ]) {
      assertVeil(
        () => decodePayload(sealed(Buffer.concat([head, rest])), macKey),
        'VEIL_E_STEGO_PAYLOAD',
      );
    }
  });

  it('rejects sealed bodies whose fields are malformed', () => {
    const head = Buffer.concat([Buffer.from('VEIL'), Buffer.from([1, 1])]);
    const field = (keyword: string, value: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from([keyword.length]),
        Buffer.from(keyword, 'latin1'),
        u32(value.length),
        value,
      ]);
    const bodies = [
      // count says 2, one field present
      Buffer.concat([head, Buffer.from([0, 2]), field('PatientID', Buffer.from('A')), pixelDigest]),
      // repeated keyword
      Buffer.concat([
        head,
        Buffer.from([0, 2]),
        field('PatientID', Buffer.from('A')),
        field('PatientID', Buffer.from('B')),
        pixelDigest,
      ]),
      // empty keyword
      Buffer.concat([head, Buffer.from([0, 1]), field('', Buffer.from('A')), pixelDigest]),
      // keyword with a space
      Buffer.concat([
        head,
        Buffer.from([0, 1]),
        field('Patient ID', Buffer.from('A')),
        pixelDigest,
      ]),
      // value length past the digest
      Buffer.concat([head, Buffer.from([0, 1, 1]), Buffer.from('P'), u32(1000), pixelDigest]),
      // bytes between the fields and the digest
      Buffer.concat([head, Buffer.from([0, 0, 7]), pixelDigest]),
      // minimal kind with extra bytes
      Buffer.concat([Buffer.from('VEIL'), Buffer.from([1, 2, 0]), pixelDigest]),
    ];
    bodies.forEach((body, i) => {
      const macBytes = body[5] === 2 ? 16 : 32;
      assert.throws(
        () => decodePayload(sealed(body, macBytes), macKey),
        (err: unknown) => isVeilError(err, 'VEIL_E_STEGO_PAYLOAD'),
        `body ${i}`,
      );
    });
  });

  it('keeps patient values out of error messages', () => {
    const bytes = encodePayload(full, macKey);
    try {
      decodePayload(bytes, bytesOf('other', 32));
      assert.fail('decoded with a wrong key');
    } catch (err) {
      assert.ok(isVeilError(err, 'VEIL_E_STEGO_PAYLOAD'));
      assert.ok(!err.message.includes('Doe') && !err.message.includes('PAT-0042'));
    }
  });

  it('refuses to encode a digest that is not 32 bytes', () => {
    assertVeil(
      () => encodePayload({ ...full, pixelDigest: Buffer.alloc(31) }, macKey),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('refuses to encode a minimal payload with fields', () => {
    assertVeil(() => encodePayload({ ...full, kind: 'minimal' }, macKey), 'VEIL_E_STEGO_PAYLOAD');
  });

  it('refuses to encode keywords that are empty, too long or not visible ASCII', () => {
    for (const keyword of ['', 'Patient Name', 'Patiënt', 'K'.repeat(256)]) {
      const payload: StegoPayload = {
        kind: 'full',
        fields: new Map([[keyword, Buffer.from('x')]]),
        pixelDigest,
      };
      assertVeil(() => encodePayload(payload, macKey), 'VEIL_E_STEGO_PAYLOAD');
    }
  });

  it('refuses an unknown kind', () => {
    assertVeil(
      () => encodePayload({ ...minimal, kind: 'partial' as 'full' }, macKey),
      'VEIL_E_STEGO_PAYLOAD',
    );
  });

  it('refuses an empty MAC key', () => {
    assertVeil(() => encodePayload(full, Buffer.alloc(0)), 'VEIL_E_KEY_INVALID');
    assertVeil(
      () => decodePayload(encodePayload(full, macKey), Buffer.alloc(0)),
      'VEIL_E_KEY_INVALID',
    );
  });
});

import assert from 'node:assert/strict';
import {
  DataSet,
  bytesElement,
  diffDataSets,
  sequenceElement,
  textElement,
  usElement,
} from '../../src/dicom';

function sample(name = 'Doe^Jane'): DataSet {
  return new DataSet()
    .set(textElement(0x00100010, 'PN', name))
    .set(usElement(0x00280010, 4))
    .set(sequenceElement(0x00081115, [new DataSet().set(textElement(0x00081150, 'UI', '1.2.3'))]))
    .set({ tag: 0x7fe00010, vr: 'OB', fragments: [Buffer.alloc(0), Buffer.from([1, 2])] });
}

describe('dicom/compare', () => {
  it('finds no difference between equal data sets', () => {
    assert.deepEqual(diffDataSets(sample(), sample()), []);
  });

  it('names differing values without printing them', () => {
    const diff = diffDataSets(sample('Doe^Jane'), sample('Roe^Joan'));
    assert.deepEqual(diff, ['(0010,0010) value differs']);
    assert.doesNotMatch(diff.join(), /Doe|Roe/);
  });

  it('reports lengths, VRs, missing elements and kinds', () => {
    const a = sample().set(bytesElement(0x00091010, 'OB', Buffer.alloc(2)));
    const b = sample('Doe^Janet').set(bytesElement(0x00280010, 'SS', Buffer.from([4, 0])));
    b.set(bytesElement(0x00081115, 'OB', Buffer.alloc(0)));
    b.set(textElement(0x00200010, 'SH', 'X'));
    assert.deepEqual(diffDataSets(a, b), [
      '(0008,1115) VR differs (SQ vs OB)',
      '(0008,1115) kind differs (items vs value)',
      '(0009,1010) only in first',
      '(0010,0010) value length differs (8 vs 10)',
      '(0020,0010) only in second',
      '(0028,0010) VR differs (US vs SS)',
    ]);
  });

  it('recurses into sequence items and fragments', () => {
    const b = sample();
    b.get(0x00081115)!.items![0]!.set(textElement(0x00081150, 'UI', '1.2.4'));
    b.get(0x00081115)!.items!.push(new DataSet());
    b.set({
      tag: 0x7fe00010,
      vr: 'OB',
      fragments: [Buffer.alloc(4), Buffer.from([1, 3]), Buffer.alloc(2)],
    });
    assert.deepEqual(diffDataSets(sample(), b), [
      '(0008,1115) item count differs (1 vs 2)',
      '(0008,1115)[0] > (0008,1150) value differs',
      '(7FE0,0010) fragment count differs (2 vs 3)',
      '(7FE0,0010) basic offset table differs',
      '(7FE0,0010) fragment 1 differs',
    ]);
  });

  it('skips ignored tags at every level', () => {
    const b = sample('Other^Name');
    b.get(0x00081115)!.items![0]!.set(textElement(0x00081150, 'UI', '9.9'));
    const ignore = (tag: number): boolean => tag === 0x00100010 || tag === 0x00081150;
    assert.deepEqual(diffDataSets(sample(), b, { ignore }), []);
  });
});

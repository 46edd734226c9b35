import assert from 'node:assert/strict';
import type { InstanceRef } from '../../src/archive/archive';
import { MAX_REVEAL_BATCH } from '../../src/pipeline/jobs';
import { planRevealJobs } from '../../src/pipeline/queue-retriever';

const STUDY = '1.2.826.0.1.3680043.99.1';

/** `count` instances of series `series` of one study. */
function refs(series: string, count: number): InstanceRef[] {
  return Array.from({ length: count }, (_, i) => ({
    studyInstanceUID: STUDY,
    seriesInstanceUID: series,
    sopInstanceUID: `${series}.${i + 1}`,
  }));
}

const sizes = (batches: ReturnType<typeof planRevealJobs>) =>
  batches.map((b) => `${b.fromSeries ? 'series' : 'batch'}:${b.refs.length}`);

describe('pipeline/reveal plan (planRevealJobs)', () => {
  const perInstance = { maxInFlight: 4, batchSize: 8, seriesJobMin: Infinity };

  it('cuts a retrieval in batches of batchSize, smaller when there are few, every ref once', () => {
    const all = refs('1.2.3.1', 100);
    const batches = planRevealJobs(all, perInstance);
    assert.deepEqual(sizes(batches), [...Array(12).fill('batch:8'), 'batch:4']);
    assert.deepEqual(
      batches.flatMap((b) => b.refs),
      all,
    );
    // Six instances and four job slots: two at a time, so every slot gets work.
    assert.deepEqual(sizes(planRevealJobs(refs('1.2.3.1', 6), perInstance)), [
      'batch:2',
      'batch:2',
      'batch:2',
    ]);
    assert.deepEqual(planRevealJobs([], perInstance), []);
  });

  it('gives a series of at least seriesJobMin instances series jobs, the small series batches', () => {
    const ct = refs('1.2.3.1', 300);
    const dx = refs('1.2.3.2', 4);
    const batches = planRevealJobs([...ct, ...dx], { ...perInstance, seriesJobMin: 16 });
    assert.deepEqual(sizes(batches), [
      `series:${MAX_REVEAL_BATCH}`,
      `series:${300 - MAX_REVEAL_BATCH}`,
      'batch:1',
      'batch:1',
      'batch:1',
      'batch:1',
    ]);
    assert.ok(
      batches.filter((b) => b.fromSeries).every((b) => b.refs.every((r) => ct.includes(r))),
    );
  });

  it('does not read a whole series for less than half of it', () => {
    const wanted = refs('1.2.3.1', 40);
    const options = { ...perInstance, seriesJobMin: 16 };
    const of = (held: number) =>
      sizes(planRevealJobs(wanted, { ...options, seriesSize: () => held }));
    assert.deepEqual(of(80), ['series:40']);
    assert.deepEqual(of(81), Array(5).fill('batch:8'));
  });
});

/**
 * A running gateway's workers see `veil keys rotate` made by another process: the key store
 * re-reads keys.json when it changed, and the protection context then wraps new data for the new
 * current key (series data keys made before the rotation are dropped) and reveals with every key.
 */
import assert from 'node:assert/strict';
import { FileKeyStore } from '../../src/keys/file-key-store';
import { KEY_REFRESH_MS, openProtectionContext } from '../../src/pipeline/protection-context';
import { tempDir } from '../helpers/tools';
import { testConfig } from './harness';

const waitPastThrottle = () => new Promise((r) => setTimeout(r, KEY_REFRESH_MS + 100));

describe('pipeline/key refresh (keys rotated beside a running process)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('veil-key-refresh-');
  });
  after(() => tmp.cleanup());

  it('FileKeyStore.refresh reports a change made by another store once, reusing loaded keys', async () => {
    const dir = `${tmp.dir}/store`;
    const mine = await FileKeyStore.open(dir);
    const first = await mine.generate({ bits: 2048, status: 'current' });
    assert.equal(await mine.refresh(), false, 'its own change is not news');
    const before = mine.privateKeys()[0];

    const other = await FileKeyStore.open(dir);
    const second = await other.generate({ bits: 2048, status: 'current' });
    assert.equal(mine.recipients()[0]!.keyId, first.keyId, 'not seen before refresh');
    assert.equal(await mine.refresh(), true);
    assert.equal(await mine.refresh(), false);
    assert.equal(mine.recipients()[0]!.keyId, second.keyId);
    assert.deepEqual(
      mine.list().map((k) => [k.keyId, k.status]),
      [
        [first.keyId, 'retired'],
        [second.keyId, 'current'],
      ],
    );
    const reused = mine.privateKeys().find((k) => k.keyId === first.keyId);
    assert.equal(reused, before, 'the retired key was not parsed again');

    await other.remove(first.keyId);
    assert.equal(await mine.refresh(), true);
    assert.deepEqual(
      mine.privateKeys().map((k) => k.keyId),
      [second.keyId],
    );
  });

  it('the protection context wraps new series keys for the rotated key and reveals with both', async () => {
    const config = testConfig(`${tmp.dir}/ctx`, { VEIL_PROTECTION__DATA_KEY_SCOPE: 'series' });
    const ctx = await openProtectionContext(config, { forProtect: true });
    const [old] = ctx.keyStore.list();
    const series = { seriesInstanceUID: '1.2.826.0.1.3680043.8.498.1' };
    const wrappedFor = () =>
      ctx.protectOptions().dataKeyFor!(series)!.recipients.map((r) => r.keyId);
    assert.deepEqual(wrappedFor(), [old!.keyId]);

    const cli = await FileKeyStore.open(config.keys.dir);
    const rotated = await cli.generate({ bits: 2048, label: 'rotated', status: 'current' });
    await waitPastThrottle();
    await ctx.refresh();

    assert.deepEqual(
      ctx.protectOptions().recipients.map((r) => r.keyId),
      [rotated.keyId],
    );
    assert.deepEqual(wrappedFor(), [rotated.keyId], 'the series key made before was dropped');
    assert.deepEqual(
      ctx
        .revealOptions()
        .privateKeys.map((k) => k.keyId)
        .sort(),
      [old!.keyId, rotated.keyId].sort(),
    );
  });
});

/**
 * The export benchmark's seed cache (bench/support/export-seed.ts `SeedCache`): seeded clusters are
 * remembered across opens while the seeding writes the same data, and everything in the cache is
 * dropped once it does not (a stale cache would benchmark data the code no longer writes).
 * The fingerprint is injected here; the real one seeds a small case into dynalite.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startChildAws } from '../../bench/support/aws.ts';
import {
  FINGERPRINT_CLUSTER,
  FINGERPRINT_START_TS,
  OLDER_CHECKPOINT_SETTINGS,
  rebuildCheckpoint,
  SeedCache,
  seedFingerprintCase,
  seedingFingerprint,
  storeFingerprint,
} from '../../bench/support/export-seed.ts';

describe('export seed cache', () => {
  it('keeps seeded clusters while the fingerprint holds, and empties itself when it changes', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'sktrace-seed-cache-')), 'cache');
    const logs: string[] = [];
    const log = (line: string) => logs.push(line);
    try {
      const first = await SeedCache.open(dir, log, async () => 'v1');
      assert.equal(first.seeded('export-10-h0-o4'), undefined);
      await writeFile(join(first.dynamoDir, 'leveldb-file'), 'seeded');
      await first.record('export-10-h0-o4', 1_800_000_000, 1234);

      const again = await SeedCache.open(dir, log, async () => 'v1');
      assert.deepEqual(again.seeded('export-10-h0-o4'), { startTs: 1_800_000_000, seedMs: 1234 });
      assert.deepEqual(await readdir(again.dynamoDir), ['leveldb-file']);
      assert.deepEqual(logs, []);

      const changed = await SeedCache.open(dir, log, async () => 'v2');
      assert.equal(changed.seeded('export-10-h0-o4'), undefined);
      assert.deepEqual(await readdir(changed.dynamoDir), []);
      assert.equal(logs.length, 1);
      assert.match(logs[0]!, /seeding changed/);
    } finally {
      await rm(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('keeps the data and asks for new checkpoints when only the checkpoint settings changed', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'sktrace-seed-cache-')), 'cache');
    const logs: string[] = [];
    const log = (line: string) => logs.push(line);
    try {
      const first = await SeedCache.open(dir, log, async () => 'v1');
      await writeFile(join(first.dynamoDir, 'leveldb-file'), 'seeded');
      await first.record('export-10-h0-o4', 1_800_000_000, 1234);
      await first.record('export-10-h10-o4', 1_800_003_600, 99);

      // v2 differs from v1 only in the checkpoints (v1 is what seeding with the old settings writes).
      const stale = await SeedCache.open(
        dir,
        log,
        async () => 'v2',
        async () => 'v1',
      );
      assert.equal(stale.staleCheckpoints, true);
      assert.deepEqual(await readdir(stale.dynamoDir), ['leveldb-file']);
      assert.match(logs.join('\n'), /only the checkpoints/);
      const rebuilt: string[] = [];
      await stale.rebuildCheckpoints(async (cluster, startTs) => {
        rebuilt.push(`${cluster} ${startTs}`);
      });
      assert.deepEqual(rebuilt.sort(), ['export-10-h0-o4 1800000000', 'export-10-h10-o4 1800003600']);
      assert.equal(stale.staleCheckpoints, false);

      const again = await SeedCache.open(
        dir,
        log,
        async () => 'v2',
        async () => assert.fail('not asked: the fingerprint holds'),
      );
      assert.equal(again.staleCheckpoints, false);
      assert.deepEqual(again.seeded('export-10-h0-o4'), { startTs: 1_800_000_000, seedMs: 1234 });

      // Anything else changed: emptied as before.
      const other = await SeedCache.open(
        dir,
        log,
        async () => 'v3',
        async () => 'v1',
      );
      assert.equal(other.staleCheckpoints, false);
      assert.equal(other.seeded('export-10-h0-o4'), undefined);
      assert.deepEqual(await readdir(other.dynamoDir), []);
    } finally {
      await rm(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it("rebuildCheckpoint turns an older seeding's data into exactly what seeding writes now", async () => {
    const now = await seedingFingerprint();
    // Version 2 checkpoints (msgpack without digests) at today's batch bound, JSON checkpoints
    // (version 1) at today's batch bound and at the previous one: the caches that exist (the
    // msgpack formats came after the bound changed, so no cache holds the previous bound in them).
    const olds = OLDER_CHECKPOINT_SETTINGS;
    assert.deepEqual(
      OLDER_CHECKPOINT_SETTINGS.map((o) => o.checkpointFormat),
      ['msgpack2', 'json', 'json'],
    );
    for (const older of olds) {
      const aws = await startChildAws();
      try {
        await seedFingerprintCase(aws, older);
        const before = await storeFingerprint(aws);
        assert.notEqual(before, now, `${JSON.stringify(older)}: the old settings write other checkpoints`);
        assert.equal(before, await seedingFingerprint(older));
        await rebuildCheckpoint(aws, FINGERPRINT_CLUSTER, FINGERPRINT_START_TS);
        assert.equal(await storeFingerprint(aws), now, JSON.stringify(older));
      } finally {
        await aws.close();
      }
    }
  });
});

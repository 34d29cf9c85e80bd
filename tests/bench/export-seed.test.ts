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
import { SeedCache } from '../../bench/support/export-seed.ts';

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
});

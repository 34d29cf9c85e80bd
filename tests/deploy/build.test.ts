/**
 * deploy/build.ts: what it bundles, its arguments, and the cold-import measurement it reports.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  allBundles,
  bundleOptions,
  coldImport,
  ESM_REQUIRE_BANNER,
  FORWARDER_BUNDLE,
  median,
  ownSourcesOf,
  parseBuildArgs,
} from '../../deploy/build.ts';

describe('deploy/build.ts', () => {
  test('bundles every function to its own .mjs and the forwarder to a .cjs', () => {
    assert.deepEqual(
      allBundles().map((b) => `${b.name} ${b.entry} -> ${b.out}`),
      [
        'checkpoint functions/checkpoint/handler.ts -> functions/checkpoint/handler.mjs',
        'export-job functions/export-job/handler.ts -> functions/export-job/handler.mjs',
        'exports functions/exports/handler.ts -> functions/exports/handler.mjs',
        'ingest functions/ingest/handler.ts -> functions/ingest/handler.mjs',
        'forwarder deploy/forwarder/main.ts -> forwarder/sktrace.cjs',
      ],
    );
  });

  test('ESM for node22 with a require() for CommonJS dependencies; the SDK bundled unless asked', () => {
    const ingest = allBundles().find((b) => b.name === 'ingest')!;
    const o = bundleOptions(ingest, { outDir: '/out' });
    assert.equal(o.format, 'esm');
    assert.equal(o.platform, 'node');
    assert.equal(o.target, 'node22');
    assert.equal(o.bundle, true);
    assert.equal(o.minify, true);
    assert.equal(o.outfile, '/out/functions/ingest/handler.mjs');
    assert.equal(o.banner?.js, ESM_REQUIRE_BANNER);
    assert.match(ESM_REQUIRE_BANNER, /const require = /);
    assert.deepEqual(o.external, []);
    assert.deepEqual(bundleOptions(FORWARDER_BUNDLE, { outDir: '/o', externalAwsSdk: true }).external, [
      '@aws-sdk/*',
      '@smithy/*',
    ]);
  });

  test('the forwarder: CommonJS (no ESM loader in the process), syntax-minified only (readable stack traces)', () => {
    const o = bundleOptions(FORWARDER_BUNDLE, { outDir: '/out' });
    assert.equal(o.format, 'cjs');
    assert.equal(o.outfile, '/out/forwarder/sktrace.cjs');
    assert.equal(o.banner, undefined);
    assert.equal(o.minify, undefined);
    assert.equal(o.minifySyntax, true);
    assert.equal(o.minifyIdentifiers, undefined);
    assert.equal(o.platform, 'node');
    assert.equal(o.target, 'node22');
  });

  test('own sources: files outside node_modules whose code survived tree-shaking', () => {
    const metafile = {
      inputs: {},
      outputs: {
        'out.mjs': {
          entryPoint: 'functions/x/handler.ts',
          bytes: 1,
          imports: [],
          exports: [],
          inputs: {
            'functions/x/handler.ts': { bytesInOutput: 10 },
            'lib/only-types.ts': { bytesInOutput: 0 },
            'node_modules/@aws-sdk/client-s3/dist-es/index.js': { bytesInOutput: 99 },
          },
        },
        'out.mjs.map': { bytes: 1, imports: [], exports: [], inputs: {} },
      },
    };
    assert.deepEqual(ownSourcesOf(metafile), ['functions/x/handler.ts']);
  });

  test('arguments', () => {
    const d = parseBuildArgs([]);
    assert.equal(d.measureRuns, 0);
    assert.equal(d.compareSdk, false);
    assert.equal(d.only, undefined);
    const o = parseBuildArgs([
      '--out',
      '/tmp/x',
      '--only',
      'ingest,forwarder',
      '--measure',
      '5',
      '--compare-sdk',
    ]);
    assert.equal(o.outDir, '/tmp/x');
    assert.deepEqual([...o.only!], ['ingest', 'forwarder']);
    assert.equal(o.measureRuns, 5);
    assert.equal(o.compareSdk, true);
    for (const bad of [['--measure', '1.5'], ['--measure'], ['--fast']]) {
      assert.throws(
        () => parseBuildArgs(bad),
        (err: unknown) => (err as { code: string }).code === 'usage',
      );
    }
  });

  test('median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  test('cold import: CPU and wall time of importing a module in a fresh process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sktrace-import-'));
    try {
      const file = join(dir, 'm.mjs');
      await writeFile(file, 'let x = 0; for (let i = 0; i < 1e6; i++) x += i; export default x;\n');
      const [timing, ...rest] = await coldImport(file, 1);
      assert.equal(rest.length, 0);
      assert.ok(timing!.wallMs > 0 && timing!.cpuMs > 0, JSON.stringify(timing));
      await writeFile(file, 'throw new Error("boom");\n');
      await assert.rejects(coldImport(file, 1), /exited 1: .*boom/s);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

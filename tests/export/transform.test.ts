/**
 * `transform` in export requests (sk-api ExportRequest): applied to every stored change before
 * filtering and indexing. The oracle is the export of the transformed history: the same trace
 * transformed as a file (`sktrace transform`), imported into another cluster and exported without
 * a transform must give the same bytes. Bad SKEL is a 400 naming its line and column; a command
 * that fails on an object fails the job with that reason; the job record counts validation findings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiClient, ApiError } from '../../lib/cli/client.ts';
import { ExportRequestError } from '../../lib/export/errors.ts';
import { validateExportRequest } from '../../lib/export/request.ts';
import type { LocalStack } from '../../lib/local/serve.ts';
import { fullWindow, NO_FILTERS } from '../../lib/roundtrip/reference.ts';
import { exportTrace, importTrace } from '../../lib/roundtrip/transfer.ts';
import { parseSkel, traceStartTs, transformTrace } from '../../lib/skel/index.ts';
import { encodeTrace } from '../../lib/trace/codec.ts';
import type { ExportFilters, KubeObject } from '../../lib/trace/model.ts';
import { validationCounts } from '../../lib/validation/index.ts';
import { generatedTrace, T0 } from '../roundtrip/fixtures.ts';
import { startTestStack } from '../support/local-stack.ts';

const SKEL = `# an absolute time: the same instant whatever the window (relative ones count from its start)
modify(@t >= ${T0 + 30} && metadata.labels.tier == "front", spec.template.spec.priorityClassName = "sim-high");
remove($x := spec.template.spec.containers[*] | exists($x.resources), $x.resources);
delete(metadata.name == "bare-2");
modify(metadata.labels.app == "api", metadata.labels.tier = "middle");
`;

describe('the transform field of an export request', () => {
  const limits = { nowSec: 2_000_000_000, maxFutureSec: 300 };
  const body = (transform: unknown) => ({ start_ts: 10, end_ts: 20, transform });
  it('is optional (absent or null), and kept verbatim when it is SKEL', () => {
    assert.equal('transform' in validateExportRequest({ start_ts: 10, end_ts: 20 }, limits), false);
    assert.equal('transform' in validateExportRequest(body(null), limits), false);
    assert.equal(validateExportRequest(body('remove(status);'), limits).transform, 'remove(status);');
  });
  it('refuses a non-string, bad SKEL and a file over 64 KiB, naming the field', () => {
    const refused = (v: unknown, pattern: RegExp) =>
      assert.throws(
        () => validateExportRequest(body(v), limits),
        (err: unknown) =>
          err instanceof ExportRequestError && err.context.field === 'transform' && pattern.test(err.message),
      );
    refused(42, /must be the text of a SKEL file/);
    refused('delete($x := a | exists($y));', /SKEL line 1, column \d+: variable \$y/);
    refused(`# ${'x'.repeat(70_000)}\nremove(status);`, /larger than 65536 bytes/);
  });
});

describe('export with a SKEL transform', () => {
  let stack: LocalStack;
  let client: ApiClient;
  const original = generatedTrace();
  const window = fullWindow(original)!;

  before(async () => {
    ({ stack, client } = await startTestStack());
    await importTrace(client, 'raw', original);
    const transformed = transformTrace(original, parseSkel(SKEL, traceStartTs(original)));
    await importTrace(client, 'pre-transformed', transformed);
  });
  after(async () => {
    await stack.close();
  });

  // The full window, and one starting later, so that start-state objects go through the transform.
  const windows = [window, { startTs: T0 + 45, endTs: T0 + 101 }];
  const filterSets: [string, ExportFilters][] = [
    ['no filters', NO_FILTERS],
    // tier=middle exists only after the transform: filtering sees transformed objects.
    [
      'tier=middle excluded',
      { excluded_namespaces: [], excluded_labels: [{ matchLabels: { tier: 'middle' } }] },
    ],
  ];
  for (const [name, filters] of filterSets) {
    for (const w of windows)
      it(`equals the export of the transformed history (${name}, [${w.startTs - T0}, ${w.endTs - T0}))`, async () => {
        const window = w;
        const withTransform = await exportTrace(client, 'raw', window, filters, {
          pollMs: 20,
          transform: SKEL,
        });
        const ofTransformed = await exportTrace(client, 'pre-transformed', window, filters, { pollMs: 20 });
        assert.deepEqual(
          Buffer.from(encodeTrace(withTransform.trace)),
          Buffer.from(encodeTrace(ofTransformed.trace)),
        );
        // And the transform did act: web's last version carries the class, bare-2 is gone, and the
        // index hashes are those of the transformed objects.
        const objs = withTransform.trace.events.flatMap((e) => e.applied_objs);
        const web = objs
          .filter((o) => o.metadata.name === 'web' && o.kind === 'Deployment')
          .at(-1) as KubeObject;
        assert.equal(
          (web.spec as { template: { spec: { priorityClassName?: string } } }).template.spec
            .priorityClassName,
          'sim-high',
        );
        assert.equal(
          objs.some((o) => o.metadata.name === 'bare-2'),
          false,
        );
        const untransformed = await exportTrace(client, 'raw', window, filters, { pollMs: 20 });
        assert.notEqual(
          withTransform.trace.index.get('apps/v1.Deployment')?.get('shop/web'),
          untransformed.trace.index.get('apps/v1.Deployment')?.get('shop/web'),
        );
        assert.equal(
          objs.some((o) => o.metadata.name === 'api'),
          name === 'no filters',
        );
        const found = validationCounts(withTransform.trace);
        assert.deepEqual(withTransform.job.counts?.validation, Object.keys(found).length ? found : undefined);
      });
  }

  it('bad SKEL is a 400 naming its line and column, and starts no job', async () => {
    await assert.rejects(
      client.createExport('raw', {
        start_ts: window.startTs,
        end_ts: window.endTs,
        filters: NO_FILTERS,
        transform: 'remove(status);\nremove(sta%tus);',
      }),
      (err: unknown) =>
        err instanceof ApiError &&
        err.status === 400 &&
        /transform: SKEL line 2, column 11/.test(err.message),
    );
  });

  it('a command that cannot apply fails the job with the SKEL line in its reason', async () => {
    await assert.rejects(
      exportTrace(client, 'raw', window, NO_FILTERS, { pollMs: 20, transform: 'delete(spec.replicas < 3);' }),
      (err: unknown) =>
        err instanceof Error && /SKEL line 1, column 1 .*comparison < is not supported/.test(err.message),
    );
  });

  it('the job record counts validation findings', async () => {
    // Every Deployment's pods now need a ServiceAccount the trace does not hold.
    const { job } = await exportTrace(client, 'raw', window, NO_FILTERS, {
      pollMs: 20,
      transform:
        'modify(exists(spec.template.spec.containers), spec.template.spec.serviceAccountName = "robot");',
    });
    // Deployment versions in the window, counted by hand from tests/roundtrip/fixtures.ts: web at
    // +0, +10, +40; api at +0, +40; db at +0 and (recreated) +80; canary at +90. SimKube counts
    // one finding per applied version. The CronJob's template is elsewhere and bare pods have none.
    assert.equal(job.counts?.validation?.E0001, 8);
    assert.deepEqual(job.counts?.validation, { E0001: 8 });
  });
});

/**
 * Trace validation, with SimKube's own test cases (sk-cli/src/validation/rules/tests) and its
 * snapshot of `skctl validate check --generate-skel validation_trace.json` as the oracle.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSkel, traceStartTs, transformTrace } from '../../lib/skel/index.ts';
import { readTraceFile } from '../../lib/trace/codec-file.ts';
import type { KubeObject, Trace, TraceEvent } from '../../lib/trace/model.ts';
import { formatSummary, TraceValidator, validateTrace } from '../../lib/validation/index.ts';
import { SANITIZE_SKEL } from '../support/skel.ts';

const SHARED = fileURLToPath(
  new URL('../../../shared/simkube-traces/validation_trace.json', import.meta.url),
);

// sk_testutils: test_trace_config tracks Deployments with /spec/template, and ServiceAccounts.
const CONFIG = {
  trackedObjects: {
    'apps/v1.Deployment': { podSpecTemplatePaths: ['/spec/template'] },
    'v1.ServiceAccount': {},
  },
};
const SA_NAME = 'the-service-account';
const serviceAccount = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { namespace: 'test-namespace', name: SA_NAME },
});
const deployment = (podSpec: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { namespace: 'test-namespace', name: 'the-deployment' },
  spec: { template: { spec: podSpec } },
  ...extra,
});
// missing_resources_test.rs `depl_event`
const deplPodSpec = (saKey: string) => ({
  containers: [
    {
      env: [
        { name: 'SECRET1', valueFrom: { secretKeyRef: { key: 'secretKey1' } } },
        { name: 'FOOENV', value: 'bar' },
        { name: 'SECRET2', valueFrom: { secretKeyRef: { key: 'secretKey2' } } },
        { name: 'CONFIGMAP1', valueFrom: { configMapKeyRef: { key: 'configMap' } } },
      ],
      envFrom: [{ configMapRef: { name: 'fooconfig' } }, { secretRef: { name: 'secretRef' } }],
    },
  ],
  [saKey]: SA_NAME,
  volumes: [
    { name: 'volume1', hostPath: {} },
    { name: 'secretVolume', secret: { secretName: 'secret' } },
    { name: 'configVolume', configMap: { name: 'configMap' } },
  ],
});
const ev = (ts: number, applied: KubeObject[], deleted: KubeObject[] = []): TraceEvent => ({
  ts,
  applied_objs: applied,
  deleted_objs: deleted,
});
const count = (events: TraceEvent[], code: string) =>
  validateTrace({ config: CONFIG, events }).counts.find((c) => c.code === code)!.count;

describe('missing resources (missing_resources_test.rs)', () => {
  for (const key of ['serviceAccount', 'serviceAccountName']) {
    it(`a ServiceAccount named in ${key} and absent is one finding`, () => {
      assert.equal(count([ev(2, [deployment(deplPodSpec(key))])], 'E0001'), 1);
    });
  }
  it('both keys naming absent accounts: two findings for the one object', () => {
    const spec = { ...deplPodSpec('serviceAccount'), serviceAccountName: 'foobar' };
    const r = validateTrace({ config: CONFIG, events: [ev(2, [deployment(spec)])] });
    assert.deepEqual(
      r.findings.filter((f) => f.code === 'E0001').map((f) => [f.objectIndex, f.missing]),
      [
        [0, `test-namespace/${SA_NAME}`],
        [0, 'test-namespace/foobar'],
      ],
    );
  });
  it('an account created then deleted is missing', () => {
    const events = [
      ev(0, [serviceAccount()]),
      ev(1, [], [serviceAccount()]),
      ev(2, [deployment(deplPodSpec('serviceAccount'))]),
    ];
    assert.equal(count(events, 'E0001'), 1);
  });
  it('an account applied before is present', () => {
    assert.equal(
      count([ev(0, [serviceAccount()]), ev(2, [deployment(deplPodSpec('serviceAccount'))])], 'E0001'),
      0,
    );
  });
  it('an account applied in the same event is present', () => {
    assert.equal(count([ev(1, [deployment({ serviceAccountName: SA_NAME }), serviceAccount()])], 'E0001'), 0);
  });
  it('the other rules on the same deployment: key refs, envFrom, volumes', () => {
    const events = [ev(2, [deployment(deplPodSpec('serviceAccount'))])];
    assert.deepEqual(
      validateTrace({ config: CONFIG, events }).counts.map((c) => `${c.code} ${c.count}`),
      ['W0000 0', 'E0001 1', 'E0002 3', 'E0003 2', 'E0004 1', 'E0005 1'],
    );
  });
  it('a kind without podSpecTemplatePaths in the config is not looked into', () => {
    const config = { trackedObjects: { 'apps/v1.Deployment': {} } };
    assert.equal(
      validateTrace({ config, events: [ev(2, [deployment(deplPodSpec('serviceAccount'))])] }).findings.length,
      0,
    );
  });
});

describe('status_field_populated (status_field_populated_test.rs)', () => {
  it('a populated status is a finding; none or null is not', () => {
    assert.equal(count([ev(1, [deployment({}, { status: { availableReplicas: 3 } })])], 'W0000'), 1);
    assert.equal(count([ev(1, [deployment({})])], 'W0000'), 0);
    assert.equal(count([ev(1, [deployment({}, { status: null })])], 'W0000'), 0);
  });
});

describe('validation store (validation_store_test.rs)', () => {
  it('findings carry their event, object and time; the streaming validator agrees', () => {
    const events = [ev(0, []), ev(1, [deployment({}, { status: {} })]), ev(5, [], [deployment({})])];
    const r = validateTrace({ config: CONFIG, events });
    assert.deepEqual(
      r.findings.map((f) => [f.code, f.eventIndex, f.ts, f.objectIndex, f.gvk, f.nsName]),
      [['W0000', 1, 1, 0, 'apps/v1.Deployment', 'test-namespace/the-deployment']],
    );
    const v = new TraceValidator(CONFIG.trackedObjects);
    for (const e of events) v.checkEvent(e);
    assert.deepEqual(v.result(), r);
  });
});

// SimKube's snapshot skctl__validation__rules__tests__validate_all_test__itest__validate_all_rules.snap,
// with `skctl transform` renamed.
const SNAPSHOT = `Validation errors found:
----------------------------------------------------------------------
status_field_populated (W0000) ..................................... 1
service_account_missing (E0001) .................................... 2
envvar_secret_missing (E0002) ...................................... 2
envvar_configmap_missing (E0003) ................................... 2
volume_secret_missing (E0004) ...................................... 1
volume_configmap_missing (E0005) ................................... 1
----------------------------------------------------------------------
# Auto-generated SKEL file to fix this trace;
# Run \`sktrace transform validation_trace.json <SKELFILE>\` to apply it

remove(status);

# these paths are only correct for Deployments, adjust as needed for other resources
remove(spec.template.spec.serviceAccount);
remove(spec.template.spec.serviceAccountName);

# these paths are only correct for Deployments, adjust as needed for other resources
remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.secretRef), $x);

# these paths are only correct for Deployments, adjust as needed for other resources
remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.configMapKeyRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.configMapRef), $x);

# these paths are only correct for Deployments, adjust as needed for other resources
remove($x := spec.template.spec.volumes[*] | exists($x.secret)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);

# these paths are only correct for Deployments, adjust as needed for other resources
remove($x := spec.template.spec.volumes[*] | exists($x.configMap)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.configMap), $x);

`;

describe('SimKube validation_trace.json (../shared)', () => {
  const present = existsSync(SHARED);
  if (!present) console.log(`# skipped: ${SHARED} is absent`);
  it('reports SimKube snapshot counts and SKEL, byte for byte', { skip: !present }, async () => {
    const trace = await readTraceFile(SHARED);
    assert.equal(formatSummary(validateTrace(trace), { skelFor: 'validation_trace.json' }), SNAPSHOT);
  });
  it('after SimKube examples/sanitize.skel nothing is left to report', { skip: !present }, async () => {
    const trace: Trace = await readTraceFile(SHARED);
    const clean = transformTrace(
      trace,
      parseSkel(`# SimKube examples/sanitize.skel\n${SANITIZE_SKEL}`, traceStartTs(trace)),
    );
    const r = validateTrace(clean);
    assert.deepEqual(r.findings, []);
    assert.equal(clean.events[0]!.applied_objs.length, 1, 'the deployment stays');
    assert.equal(formatSummary(r), `Validation errors found:\n${'-'.repeat(70)}\n`);
  });
});

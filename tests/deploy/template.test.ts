/**
 * template.yaml against the code it deploys: the table as lib/aws/table.ts declares it, the
 * bucket's lifecycle against the key builders, the functions' environments against their deps
 * modules, the routes against the handlers, esbuild settings against deploy/build.ts, and every
 * IAM grant against the AWS calls each function's bundled sources can make.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  type BuiltBundle,
  buildBundle,
  bundleOptions,
  functionBundles,
  ownSourcesOf,
  ROOT_DIR,
} from '../../deploy/build.ts';
import { DEFAULT_MIN_INTERVAL_SEC } from '../../functions/checkpoint/handler.ts';
import { INGEST_MAX_BATCH_SEC } from '../../functions/env.ts';
import { CHANGES_ROUTE } from '../../functions/exports/changes.ts';
import {
  DEFAULT_JOB_RETENTION_SEC,
  DEFAULT_MAX_ACTIVE_EXPORTS,
  DEFAULT_URL_TTL_SEC,
  EXPORT_ROUTES,
} from '../../functions/exports/handler.ts';
import { exportJobKey, idempotencyKeyOf } from '../../lib/aws/dynamo-export-jobs.ts';
import { tokenListingKey, tokenLookupKey } from '../../lib/aws/dynamo-token-store.ts';
import { MAX_PRESIGN_TTL_SEC } from '../../lib/aws/s3-exports.ts';
import { TTL_ATTRIBUTE, tableDefinition } from '../../lib/aws/table.ts';
import { CLUSTER_REGISTRY_PK } from '../../lib/aws/trace-store/meta.ts';
import { DEFAULT_MAX_RUN_SEC, DEFAULT_START_DEADLINE_SEC, exportKey } from '../../lib/export/job.ts';
import { DEFAULT_MAX_WINDOW_SEC } from '../../lib/export/request.ts';
import { feedPk } from '../../lib/store/feed.ts';
import {
  bodyBlobKey,
  checkpointBlobKey,
  checkpointPk,
  configPk,
  eventPk,
  lifecycleEndPk,
  lifecyclePk,
  metaPk,
  runningLifecyclePk,
  statePk,
} from '../../lib/store/keys.ts';
import {
  actionsInSource,
  asList,
  type Cfn,
  derivedCalls,
  describeRef,
  loadTemplate,
  parseCfn,
  resourcesOfType,
  roleStatements,
} from './support.ts';

const t = loadTemplate();
const INGEST_ROUTE = 'POST /v1/clusters/{cluster}/events';

/** Function resources by function directory name (from their esbuild entry points). */
function functionIds(): Map<string, string> {
  const ids = new Map<string, string>();
  for (const id of resourcesOfType(t, 'AWS::Serverless::Function')) {
    const entry = (t.Resources[id]!.Metadata!.BuildProperties as Cfn).EntryPoints as string[];
    const name = /^functions\/([^/]+)\/handler\.ts$/.exec(entry[0]!)?.[1];
    assert.ok(name, `${id}: entry point ${entry[0]} is not functions/<name>/handler.ts`);
    ids.set(name, id);
  }
  return ids;
}

const FUNCTIONS = functionIds();
const fn = (name: string) => t.Resources[FUNCTIONS.get(name)!]!;

/**
 * Actions a function's bundled sources can send that its role deliberately lacks, each with the
 * reason it is never sent by that function. Keeping this exact (a stale entry fails too) makes
 * every gap between "reachable in the bundle" and "granted" a reviewed decision.
 */
const NOT_GRANTED: Record<string, Record<string, string>> = {
  ingest: {},
  exports: {
    'dynamodb:DeleteItem':
      'DynamoTokenStore.revoke serves `sktrace token revoke`; functions only look tokens up',
    'dynamodb:UpdateItem':
      "DynamoTraceStore's writer; exports reads the retention horizon and the change feed",
    's3:PutObject':
      'uploads (S3ExportObjects.put, S3BlobStore.put) happen in the export job; exports only presigns',
    's3:AbortMultipartUpload': 'uploads happen in the export job; exports only presigns',
  },
  'export-job': {
    'dynamodb:DeleteItem':
      "DynamoTraceStore's writer (running-lifecycle index); the job only reads and checkpoints",
    'dynamodb:BatchGetItem': "DynamoTraceStore's writer (applyBatch); the job only reads and checkpoints",
    'dynamodb:UpdateItem': "DynamoTraceStore's writer (applyBatch); the job only reads and checkpoints",
  },
  checkpoint: {
    'dynamodb:DeleteItem':
      "DynamoTraceStore's writer (running-lifecycle index); the function only checkpoints",
    'dynamodb:BatchGetItem':
      "DynamoTraceStore's writer; the function only calls writeCheckpoint and latestCheckpointAtOrBefore",
    'dynamodb:UpdateItem':
      "DynamoTraceStore's writer; the function only calls writeCheckpoint and latestCheckpointAtOrBefore",
    'dynamodb:GetItem':
      'only the writer and liveAt/configAt/retentionHorizon reads use GetItem; checkpoints Query',
  },
};

describe('template.yaml: shape', () => {
  test('is a SAM template whose every CloudFormation short-form tag resolves', () => {
    assert.equal(t.Transform, 'AWS::Serverless-2016-10-31');
    assert.equal(t.AWSTemplateFormatVersion, '2010-09-09');
    // The tags the template uses, resolved to their long form.
    assert.deepEqual(
      parseCfn(
        'a: !Ref X\nb: !GetAtt T.Arn\nc: !If [C, 1, !Ref AWS::NoValue]\nd: !Sub [x, {}]\ne: !Join ["", [a, !Ref B]]',
      ),
      {
        a: { Ref: 'X' },
        b: { 'Fn::GetAtt': ['T', 'Arn'] },
        c: { 'Fn::If': ['C', 1, { Ref: 'AWS::NoValue' }] },
        d: { 'Fn::Sub': ['x', {}] },
        e: { 'Fn::Join': ['', ['a', { Ref: 'B' }]] },
      },
    );
  });

  test('every Ref and GetAtt names a parameter, a resource or a pseudo parameter', () => {
    const known = new Set([...Object.keys(t.Parameters), ...Object.keys(t.Resources)]);
    const bad: string[] = [];
    const visit = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (typeof o.Ref === 'string' && !o.Ref.startsWith('AWS::') && !known.has(o.Ref)) bad.push(o.Ref);
        if (Array.isArray(o['Fn::GetAtt']) && !known.has(o['Fn::GetAtt'][0] as string)) {
          bad.push(String(o['Fn::GetAtt'][0]));
        }
        if (typeof o['Fn::Sub'] === 'string') {
          for (const m of o['Fn::Sub'].matchAll(/\$\{([^}!]+)\}/g)) {
            const name = m[1]!.split('.')[0]!;
            if (!name.startsWith('AWS::') && !known.has(name)) bad.push(name);
          }
        }
        Object.values(o).forEach(visit);
      }
    };
    visit(t.Resources);
    visit(t.Outputs);
    assert.deepEqual(bad, []);
  });

  test('every functions/<name>/handler.ts is deployed by exactly one function', () => {
    assert.deepEqual(
      [...FUNCTIONS.keys()].sort(),
      functionBundles().map((b) => b.name),
    );
  });

  test('outputs name the API, the bucket and the table', () => {
    assert.deepEqual(describeRef(t.Outputs.BucketName!.Value), 'Ref:Bucket');
    assert.deepEqual(describeRef(t.Outputs.TableName!.Value), 'Ref:Table');
    assert.match(describeRef(t.Outputs.ApiUrl!.Value), /^https:\/\/\$\{HttpApi\}\.execute-api\./);
  });
});

describe('template.yaml: functions', () => {
  test('Node 22 on arm64, from the same esbuild settings as deploy/build.ts', () => {
    assert.equal(t.Globals.Function.Runtime, 'nodejs22.x');
    assert.deepEqual(t.Globals.Function.Architectures, ['arm64']);
    for (const spec of functionBundles()) {
      const r = fn(spec.name);
      const props = r.Metadata!.BuildProperties as Cfn;
      const options = bundleOptions(spec, { outDir: '/unused' });
      assert.equal(r.Metadata!.BuildMethod, 'esbuild', spec.name);
      assert.deepEqual(props.EntryPoints, [spec.entry], spec.name);
      assert.equal(props.Format, options.format, spec.name);
      assert.equal(props.Target, options.target, spec.name);
      assert.equal(props.Minify, options.minify, spec.name);
      assert.equal(props.Sourcemap, options.sourcemap, spec.name);
      // A string: sam build's esbuild builder drops a boolean false (aws-lambda-builders
      // `_create_boolean_config` emits nothing for False), so sources would be embedded.
      assert.equal(typeof props.SourcesContent, 'string', `${spec.name}: SourcesContent must be a string`);
      assert.equal(props.SourcesContent, String(options.sourcesContent), spec.name);
      assert.deepEqual(props.Banner, [`js=${options.banner!.js}`], spec.name);
      assert.deepEqual(props.OutExtension, ['.js=.mjs'], spec.name);
      assert.deepEqual(props.External ?? [], options.external, spec.name);
      // esbuild writes the single entry's bundle at the artifact root as handler.mjs.
      assert.equal(r.Properties.Handler, 'handler.handler', spec.name);
      assert.equal(r.Properties.CodeUri, '.', spec.name);
      const memory = r.Properties.MemorySize;
      assert.ok(
        typeof memory === 'number' ? memory >= 128 : t.Parameters[describeRef(memory).slice(4)],
        spec.name,
      );
    }
  });

  test('timeouts fit their callers: API routes under API Gateway’s 30 s, the job up to 15 min', () => {
    assert.ok((fn('ingest').Properties.Timeout as number) < 30);
    // The checkpoints' replay margin assumes no batch applies for longer (functions/env.ts).
    assert.ok((fn('ingest').Properties.Timeout as number) * 2 <= INGEST_MAX_BATCH_SEC);
    assert.ok((fn('exports').Properties.Timeout as number) < 30);
    assert.equal(fn('export-job').Properties.Timeout, 900);
    assert.ok((fn('checkpoint').Properties.Timeout as number) <= 900);
  });

  test('the export job is started asynchronously by the exports function, retried at most once', () => {
    const env = (fn('exports').Properties.Environment as Cfn).Variables as Cfn;
    assert.equal(describeRef(env.EXPORT_JOB_FUNCTION), `Ref:${FUNCTIONS.get('export-job')}`);
    const config = fn('export-job').Properties.EventInvokeConfig as Cfn;
    assert.ok((config.MaximumRetryAttempts as number) <= 1);
    assert.ok((config.MaximumEventAgeInSeconds as number) >= 60);
  });

  test('checkpoints run hourly, and a retry within the hour skips clusters already done', () => {
    const events = fn('checkpoint').Properties.Events as Record<string, { Type: string; Properties: Cfn }>;
    const schedules = Object.values(events).filter((e) => e.Type === 'Schedule');
    assert.deepEqual(
      schedules.map((s) => s.Properties.Schedule),
      ['rate(1 hour)'],
    );
    assert.ok(DEFAULT_MIN_INTERVAL_SEC < 3600, 'the skip interval must be below the schedule period');
  });

  test('the checkpointed clusters come from the store, not from a deploy-time list', () => {
    // A list in the template goes stale the day a cluster is added; the registry cannot.
    const list = /cluster/i;
    const perClusterLimit = /PerCluster$/; // a limit applied to each cluster, not a list of them
    assert.deepEqual(
      Object.keys(t.Parameters).filter((p) => list.test(p) && !perClusterLimit.test(p)),
      [],
    );
    const env = (fn('checkpoint').Properties.Environment as Cfn).Variables as Cfn;
    assert.deepEqual(
      Object.keys(env).filter((v) => list.test(v)),
      [],
    );
  });

  test('all functions name the same setting with the same variable, unprefixed', () => {
    const names = new Map<string, Set<string>>();
    for (const [name] of FUNCTIONS) {
      const env = ((fn(name).Properties.Environment as Cfn).Variables ?? {}) as Cfn;
      for (const [v, value] of Object.entries(env)) {
        assert.doesNotMatch(v, /^SKTRACE_/, `${name}: ${v}`);
        const ref = describeRef(value);
        if (!names.has(ref)) names.set(ref, new Set());
        names.get(ref)!.add(v);
      }
    }
    for (const [ref, vars] of names) {
      if (ref.startsWith('Ref:')) assert.equal(vars.size, 1, `${ref} is passed as ${[...vars].join(', ')}`);
    }
    for (const ref of ['Ref:Table', 'Ref:Bucket', 'Ref:RetentionDays', 'Ref:AuthMode']) {
      assert.ok(names.has(ref), ref);
    }
  });

  test("each function's environment sets what its deps module requires, and nothing it does not read", () => {
    const ALWAYS = new Set(['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME']);
    for (const [name] of FUNCTIONS) {
      const source = readDeps(name);
      const required = new Set(
        [...source.matchAll(/\brequired(?:Env)?\(env, '([A-Z0-9_]+)'\)/g)].map((m) => m[1]!),
      );
      const read = new Set([
        ...required,
        ...[...source.matchAll(/\(env, '([A-Z0-9_]+)'/g)].map((m) => m[1]!),
        ...[...source.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!),
      ]);
      const env = ((fn(name).Properties.Environment as Cfn).Variables ?? {}) as Cfn;
      const globalEnv = ((t.Globals.Function.Environment as Cfn).Variables ?? {}) as Cfn;
      const set = new Set([...Object.keys(env), ...Object.keys(globalEnv)]);
      assert.ok(required.size > 0, `${name}: no required variables found in its deps module`);
      for (const v of required) assert.ok(set.has(v), `${name}: ${v} is required but not set`);
      for (const v of Object.keys(env)) {
        assert.ok(read.has(v) || ALWAYS.has(v), `${name}: ${v} is set but its deps module never reads it`);
      }
      for (const [v, value] of Object.entries(env)) {
        const expected = /TABLE/.test(v)
          ? 'Ref:Table'
          : /BUCKET/.test(v)
            ? 'Ref:Bucket'
            : /AUTH_MODE/.test(v)
              ? 'Ref:AuthMode'
              : /^EXPORT_RETENTION_DAYS$/.test(v)
                ? 'Ref:ExportRetentionDays'
                : /RETENTION_DAYS/.test(v)
                  ? 'Ref:RetentionDays'
                  : undefined;
        if (expected) assert.equal(describeRef(value), expected, `${name}: ${v}`);
      }
    }
  });

  test('each function logs to its own log group, kept LogRetentionDays', () => {
    const used = new Set<string>();
    for (const [name, id] of FUNCTIONS) {
      const logging = t.Resources[id]!.Properties.LoggingConfig as Cfn;
      const group = describeRef(logging.LogGroup).replace(/^Ref:/, '');
      assert.equal(t.Resources[group]?.Type, 'AWS::Logs::LogGroup', name);
      assert.equal(describeRef(t.Resources[group]!.Properties.RetentionInDays), 'Ref:LogRetentionDays');
      assert.ok(!used.has(group), `${group} is shared`);
      used.add(group);
    }
  });
});

describe('template.yaml: storage', () => {
  const table = t.Resources.Table!.Properties;
  const bucket = t.Resources.Bucket!.Properties;

  test('the table is exactly tableDefinition(): keys, attributes, indexes, billing', () => {
    const def = tableDefinition('unused');
    assert.deepEqual(table.AttributeDefinitions, def.AttributeDefinitions);
    assert.deepEqual(table.KeySchema, def.KeySchema);
    assert.deepEqual(table.GlobalSecondaryIndexes, def.GlobalSecondaryIndexes);
    assert.deepEqual(table.LocalSecondaryIndexes, def.LocalSecondaryIndexes);
    assert.equal(table.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(table.BillingMode, def.BillingMode);
  });

  test('no code queries an index the table does not declare', async () => {
    const declared = new Set(
      [...asList(table.GlobalSecondaryIndexes as Cfn[]), ...asList(table.LocalSecondaryIndexes as Cfn[])].map(
        (i) => i.IndexName,
      ),
    );
    for (const b of await bundles()) {
      for (const file of ownSourcesOf(b.metafile)) {
        const source = await readFile(join(ROOT_DIR, file), 'utf8');
        for (const m of source.matchAll(/IndexName:\s*'([^']+)'/g)) {
          assert.ok(declared.has(m[1]), `${file} queries index ${m[1]}`);
        }
      }
    }
  });

  test('TTL on the attribute the store writes; PITR and encryption on', () => {
    assert.deepEqual(table.TimeToLiveSpecification, { AttributeName: TTL_ATTRIBUTE, Enabled: true });
    assert.deepEqual(table.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.equal((table.SSESpecification as Cfn).SSEEnabled, true);
  });

  test('the bucket is private, encrypted and refuses plain HTTP', () => {
    assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const sse = (bucket.BucketEncryption as { ServerSideEncryptionConfiguration: Cfn[] })
      .ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault as Cfn;
    assert.equal(sse.SSEAlgorithm, 'AES256');
    const policy = t.Resources.BucketPolicy!.Properties;
    assert.equal(describeRef(policy.Bucket), 'Ref:Bucket');
    const statements = (policy.PolicyDocument as { Statement: Cfn[] }).Statement;
    const deny = statements.find((s) => s.Effect === 'Deny');
    assert.deepEqual(deny?.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's ${} (Fn::Sub), not JavaScript's
    assert.deepEqual(asList(deny?.Resource).map(describeRef), ['Bucket.Arn', '${Bucket.Arn}/*']);
  });

  test('lifecycle rules expire exports and checkpoints under the prefixes the code writes', () => {
    const rules = (bucket.LifecycleConfiguration as { Rules: Cfn[] }).Rules;
    const prefixOf = (key: string) => `${key.split('/')[0]}/`;
    const rule = (prefix: string) => rules.find((r) => r.Prefix === prefix);
    const exportsRule = rule(prefixOf(exportKey('c', 'id')));
    assert.equal(describeRef(exportsRule?.ExpirationInDays), 'Ref:ExportRetentionDays');
    const checkpointsRule = rule(prefixOf(checkpointBlobKey('c', 1, 'a'.repeat(64))));
    assert.equal(describeRef(checkpointsRule?.ExpirationInDays), 'Ref:RetentionDays');
    // Bodies expire with retention: every change re-puts its body, and checkpoints write live
    // objects' bodies back (bodies.ts refreshDue; tests/store/body-refresh.test.ts).
    assert.equal(
      describeRef(rule(prefixOf(bodyBlobKey('c', 'a'.repeat(64))))?.ExpirationInDays),
      'Ref:RetentionDays',
    );
    const abort = rules.find((r) => r.AbortIncompleteMultipartUpload !== undefined);
    assert.equal(abort?.Prefix, undefined, 'aborts incomplete uploads everywhere');
    for (const r of rules) assert.equal(r.Status, 'Enabled');
  });

  test('exports outlive the job records that point at them; URL lifetime within SigV4 limits', () => {
    const p = t.Parameters;
    // One parameter for the exports/ expiry (above) and the job records' lifetime; its default is
    // the code's default, so a run without the variable behaves as the template's default.
    const env = (fn('exports').Properties.Environment as Cfn).Variables as Cfn;
    assert.equal(describeRef(env.EXPORT_RETENTION_DAYS), 'Ref:ExportRetentionDays');
    assert.equal((p.ExportRetentionDays!.Default as number) * 86_400, DEFAULT_JOB_RETENTION_SEC);
    assert.equal(p.ExportUrlTtlSeconds!.Default, DEFAULT_URL_TTL_SEC);
    assert.ok((p.ExportUrlTtlSeconds!.MaxValue as number) <= MAX_PRESIGN_TTL_SEC);
  });
});

describe('template.yaml: HTTP API', () => {
  const body = t.Resources.HttpApi!.Properties.DefinitionBody as {
    paths: Record<string, Record<string, Cfn>>;
    components: { securitySchemes: Record<string, Cfn> };
  };
  const operations = Object.entries(body.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
  );
  const integratedFunction = (route: string) => {
    const op = operations.find((o) => o.route === route)!.op;
    const uri = describeRef((op['x-amazon-apigateway-integration'] as Cfn).uri);
    return /functions\/\$\{([A-Za-z]+)\.Arn\}\/invocations$/.exec(uri)?.[1];
  };

  test('serves exactly the routes the handlers implement, each on its function', () => {
    assert.deepEqual(
      operations.map((o) => o.route).sort(),
      [INGEST_ROUTE, EXPORT_ROUTES.create, EXPORT_ROUTES.status, CHANGES_ROUTE].sort(),
    );
    assert.equal(integratedFunction(CHANGES_ROUTE), FUNCTIONS.get('exports'));
    assert.equal(integratedFunction(INGEST_ROUTE), FUNCTIONS.get('ingest'));
    assert.equal(integratedFunction(EXPORT_ROUTES.create), FUNCTIONS.get('exports'));
    assert.equal(integratedFunction(EXPORT_ROUTES.status), FUNCTIONS.get('exports'));
    for (const { route, op } of operations) {
      const integration = op['x-amazon-apigateway-integration'] as Cfn;
      assert.equal(integration.type, 'aws_proxy', route);
      assert.equal(integration.payloadFormatVersion, '2.0', route);
    }
  });

  test('AuthMode=iam puts every route behind IAM authorization (SigV4)', () => {
    assert.deepEqual(t.Conditions.UseIamAuth, { 'Fn::Equals': [{ Ref: 'AuthMode' }, 'iam'] });
    assert.deepEqual(t.Parameters.AuthMode!.AllowedValues, ['bearer', 'iam']);
    for (const { route, op } of operations) {
      assert.deepEqual(
        op.security,
        { 'Fn::If': ['UseIamAuth', [{ AWS_IAM: [] }], { Ref: 'AWS::NoValue' }] },
        route,
      );
    }
    assert.equal(body.components.securitySchemes.AWS_IAM!['x-amazon-apigateway-authtype'], 'awsSigv4');
  });

  test('API Gateway may invoke each function for its routes only', () => {
    const permissions = resourcesOfType(t, 'AWS::Lambda::Permission').map(
      (id) => t.Resources[id]!.Properties,
    );
    for (const { route } of operations) {
      const [method, path] = route.split(' ') as [string, string];
      const arn = `\${HttpApi}/*/${method}${path.replace(/\{[^}]+\}/g, '*')}`;
      const match = permissions.find((p) => describeRef(p.SourceArn).endsWith(arn));
      assert.ok(match, `no permission for ${route} (${arn})`);
      assert.equal(describeRef(match.FunctionName), `Ref:${integratedFunction(route)}`);
      assert.equal(match.Principal, 'apigateway.amazonaws.com');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// IAM, derived from the bundles
// ---------------------------------------------------------------------------------------------

let built: Promise<BuiltBundle[]> | undefined;
let outDir: string | undefined;

/** Each function bundled once with deploy/build.ts's options (into a temp dir). */
function bundles(): Promise<BuiltBundle[]> {
  built ??= (async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sktrace-bundles-'));
    const dir = outDir;
    return Promise.all(functionBundles().map((spec) => buildBundle(spec, { outDir: dir })));
  })();
  return built;
}

/** A function's deps module, with functions/env.ts (the shared variables) when it imports it. */
function readDeps(name: string): string {
  const own = readFileSync(join(ROOT_DIR, 'functions', name, 'deps.ts'), 'utf8');
  const shared = own.includes("from '../env.ts'")
    ? readFileSync(join(ROOT_DIR, 'functions', 'env.ts'), 'utf8')
    : '';
  return `${own}\n${shared}`;
}

describe('template.yaml: least-privilege IAM from the code', () => {
  before(async () => {
    await bundles();
  });
  after(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  test('the scanner maps SDK commands to IAM actions', () => {
    const cases: [string, string[]][] = [
      [
        "import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';\nnew PutItemCommand({}); new QueryCommand({})",
        ['dynamodb:PutItem', 'dynamodb:Query'],
      ],
      [
        "import {\n  UploadPartCommand,\n  AbortMultipartUploadCommand,\n  GetObjectCommand,\n} from '@aws-sdk/client-s3';\nnew UploadPartCommand(x); new AbortMultipartUploadCommand(y); getSignedUrl(c, new GetObjectCommand(z))",
        ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      ],
      [
        "import { InvokeCommand } from '@aws-sdk/client-lambda';\nnew InvokeCommand({})",
        ['lambda:InvokeFunction'],
      ],
      // Not an SDK command: ignored.
      ['class FooCommand {}\nnew FooCommand()', []],
    ];
    for (const [source, actions] of cases) assert.deepEqual(actionsInSource(source), actions);
  });

  test('every function bundle builds, and a built bundle runs as an ES module', async () => {
    const all = await bundles();
    assert.equal(all.length, FUNCTIONS.size);
    for (const b of all) assert.ok(b.bytes > 10_000, `${b.spec.name}: ${b.bytes} bytes`);
    const checkpoint = all.find((b) => b.spec.name === 'checkpoint')!;
    const mod = (await import(
      pathToFileURL(checkpoint.file).href
    )) as typeof import('../../functions/checkpoint/handler.ts');
    const written: string[] = [];
    const handler = mod.makeHandler({
      checkpointer: {
        latestCheckpointAtOrBefore: async () => undefined,
        writeCheckpoint: async (cluster) => {
          written.push(cluster);
          return { cluster, validFromTs: 1, replayFromTs: 0, objects: 0, blobKey: 'k' };
        },
      },
      directory: { listClusters: async () => ['a', 'b'] },
      nowSec: () => 100,
      log: { info() {}, warn() {}, error() {} },
    });
    await handler({});
    assert.deepEqual(written, ['a', 'b']);
  });

  for (const name of ['ingest', 'exports', 'export-job', 'checkpoint']) {
    test(`${name}: the role grants the actions its code sends, minus reviewed exclusions, on named resources`, async () => {
      const b = (await bundles()).find((x) => x.spec.name === name)!;
      const derived = derivedCalls(ownSourcesOf(b.metafile));
      const derivedActions = new Set(derived.map((d) => d.action));
      const excluded = NOT_GRANTED[name] ?? {};
      for (const action of Object.keys(excluded)) {
        assert.ok(
          derivedActions.has(action),
          `${name}: stale exclusion ${action} (the code no longer sends it)`,
        );
      }
      const statements = roleStatements(t, FUNCTIONS.get(name)!);
      const granted = new Set<string>();
      for (const s of statements) {
        assert.equal(s.Effect, 'Allow');
        for (const action of asList(s.Action)) {
          assert.ok(!action.includes('*'), `${name}: wildcard action ${action}`);
          for (const r of asList(s.Resource)) assert.notEqual(r, '*', `${name}: ${action} on *`);
          if (!action.startsWith('logs:') && !action.startsWith('sqs:')) granted.add(action);
          checkResource(name, action, asList(s.Resource).map(describeRef));
        }
      }
      const expected = [...derivedActions].filter((a) => !(a in excluded)).sort();
      assert.deepEqual([...granted].sort(), expected, `${name}: derived from ${JSON.stringify(derived)}`);
    });
  }
});

const BLOB_PREFIXES = new Set(
  [exportKey('c', 'id'), checkpointBlobKey('c', 1, 'a'.repeat(64)), bodyBlobKey('c', 'a'.repeat(64))].map(
    (k) => k.split('/')[0],
  ),
);

/** Each action only on the resources of its service that the template creates for it. */
function checkResource(name: string, action: string, resources: string[]): void {
  const service = action.split(':')[0];
  for (const r of resources) {
    if (service === 'dynamodb') assert.equal(r, 'Table.Arn', `${name}: ${action} on ${r}`);
    else if (service === 's3') {
      const prefix = /^\$\{Bucket\.Arn\}\/([a-z]+)\/\*$/.exec(r)?.[1];
      assert.ok(prefix && BLOB_PREFIXES.has(prefix), `${name}: ${action} on ${r}`);
    } else if (service === 'lambda')
      assert.equal(r, `${FUNCTIONS.get('export-job')}.Arn`, `${name}: ${action}`);
    else if (service === 'logs') {
      const group = describeRef(
        (t.Resources[FUNCTIONS.get(name)!]!.Properties.LoggingConfig as Cfn).LogGroup,
      );
      assert.equal(r, `${group.replace(/^Ref:/, '')}.Arn`, `${name}: ${action} on ${r}`);
      assert.ok(['logs:CreateLogStream', 'logs:PutLogEvents'].includes(action), `${name}: ${action}`);
    } else if (service === 'sqs') {
      // Lambda sends a failed async invocation to the function's on-failure queue with its role.
      assert.equal(action, 'sqs:SendMessage', `${name}: ${action}`);
      const config = t.Resources[FUNCTIONS.get(name)!]!.Properties.EventInvokeConfig as Cfn | undefined;
      const destination = ((config?.DestinationConfig as Cfn | undefined)?.OnFailure as Cfn | undefined)
        ?.Destination;
      assert.equal(r, describeRef(destination), `${name}: ${action} on ${r}`);
    } else assert.fail(`${name}: unexpected service in ${action}`);
  }
}

describe('template.yaml: guard rails', () => {
  const props = (id: string) => t.Resources[id]!.Properties;
  const param = (name: string) => t.Parameters[name]!;
  const alarms = resourcesOfType(t, 'AWS::CloudWatch::Alarm');

  test('every route is throttled, POST exports far below the rest', () => {
    const api = props('HttpApi');
    const defaults = api.DefaultRouteSettings as Cfn;
    assert.equal(describeRef(defaults.ThrottlingRateLimit), 'Ref:ApiThrottlingRateLimit');
    assert.equal(describeRef(defaults.ThrottlingBurstLimit), 'Ref:ApiThrottlingBurstLimit');
    const routes = api.RouteSettings as Record<string, Cfn>;
    assert.deepEqual(Object.keys(routes), [EXPORT_ROUTES.create]);
    const create = routes[EXPORT_ROUTES.create]!;
    assert.equal(describeRef(create.ThrottlingRateLimit), 'Ref:ExportsCreateRateLimit');
    assert.equal(describeRef(create.ThrottlingBurstLimit), 'Ref:ExportsCreateBurstLimit');
    assert.ok(
      (param('ExportsCreateRateLimit').Default as number) * 100 <=
        (param('ApiThrottlingRateLimit').Default as number),
    );
    assert.ok(
      (param('ExportsCreateBurstLimit').Default as number) * 100 <=
        (param('ApiThrottlingBurstLimit').Default as number),
    );
  });

  test('reserved concurrency bounds the export job and the checkpoint (parameters)', () => {
    assert.equal(
      describeRef(fn('export-job').Properties.ReservedConcurrentExecutions),
      'Ref:ExportJobReservedConcurrency',
    );
    assert.equal(
      describeRef(fn('checkpoint').Properties.ReservedConcurrentExecutions),
      'Ref:CheckpointReservedConcurrency',
    );
    for (const p of ['ExportJobReservedConcurrency', 'CheckpointReservedConcurrency']) {
      assert.ok((param(p).MinValue as number) >= 1, `${p}: 0 would disable the function`);
    }
  });

  test('an export event is dropped before any job it names could be reported failed, never after', () => {
    const timeout = fn('export-job').Properties.Timeout as number;
    const age = (fn('export-job').Properties.EventInvokeConfig as Cfn).MaximumEventAgeInSeconds as number;
    assert.ok(age <= timeout, `MaximumEventAgeInSeconds ${age} > timeout ${timeout}`);
    assert.ok(age <= DEFAULT_START_DEADLINE_SEC, 'the runner would refuse such an event anyway');
    assert.ok(DEFAULT_MAX_RUN_SEC >= timeout, 'a running job is judged dead only after the timeout');
    assert.ok(
      DEFAULT_MAX_RUN_SEC >= DEFAULT_START_DEADLINE_SEC,
      'a pending job is reported failed only after its deadline',
    );
  });

  test('every asynchronous function has an SQS on-failure destination its role may send to, and an alarm on it', () => {
    for (const name of ['export-job', 'checkpoint']) {
      const config = fn(name).Properties.EventInvokeConfig as Cfn;
      const onFailure = (config.DestinationConfig as Cfn).OnFailure as Cfn;
      assert.equal(onFailure.Type, 'SQS', name);
      const queue = describeRef(onFailure.Destination).replace(/\.Arn$/, '');
      assert.equal(t.Resources[queue]?.Type, 'AWS::SQS::Queue', name);
      const sends = roleStatements(t, FUNCTIONS.get(name)!).filter((st) =>
        asList(st.Action).includes('sqs:SendMessage'),
      );
      assert.deepEqual(
        sends.flatMap((st) => asList(st.Resource).map(describeRef)),
        [`${queue}.Arn`],
        name,
      );
      const depth = alarms.filter((a) => {
        const p = props(a);
        return (
          p.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          (p.Dimensions as Cfn[]).some((d) => describeRef(d.Value) === `${queue}.QueueName`)
        );
      });
      assert.equal(depth.length, 1, `${name}: one alarm on ${queue}'s depth`);
      assert.equal(props(depth[0]!).Threshold, 1);
    }
    // The functions started asynchronously are exactly those: the exports function launches the
    // job, the schedule the checkpoint.
    const asyncFns = [...FUNCTIONS.keys()].filter((n) => fn(n).Properties.EventInvokeConfig !== undefined);
    assert.deepEqual(asyncFns.sort(), ['checkpoint', 'export-job']);
  });

  test('every function has an errors and a throttles alarm; ingest has a 5xx-rate alarm; failed exports alarm', () => {
    for (const [name, id] of FUNCTIONS) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = alarms.filter((a) => {
          const p = props(a);
          return (
            p.Namespace === 'AWS/Lambda' &&
            p.MetricName === metric &&
            (p.Dimensions as Cfn[]).some(
              (d) => d.Name === 'FunctionName' && describeRef(d.Value) === `Ref:${id}`,
            )
          );
        });
        assert.equal(found.length, 1, `${name}: ${metric} alarm`);
      }
    }
    const rate = props('Ingest5xxRateAlarm');
    const stats = (rate.Metrics as Cfn[]).filter((m) => m.MetricStat);
    assert.deepEqual(stats.map((m) => ((m.MetricStat as Cfn).Metric as Cfn).MetricName).sort(), [
      '5xx',
      'Count',
    ]);
    for (const m of stats) {
      const dims = Object.fromEntries(
        (((m.MetricStat as Cfn).Metric as Cfn).Dimensions as Cfn[]).map((d) => [
          d.Name,
          describeRef(d.Value),
        ]),
      );
      const [method, resource] = INGEST_ROUTE.split(' ');
      assert.deepEqual(dims, { ApiId: 'Ref:HttpApi', Stage: '$default', Method: method, Resource: resource });
    }
    assert.equal(describeRef(rate.Threshold), 'Ref:Ingest5xxAlarmPercent');
    assert.equal(
      (props('HttpApi').DefaultRouteSettings as Cfn).DetailedMetricsEnabled,
      true,
      'route metrics exist',
    );
    // The failed-export metric counts the line the job logs when an export fails.
    const filter = props('ExportFailuresMetricFilter');
    assert.equal(
      describeRef(filter.LogGroupName),
      `Ref:${describeRef((fn('export-job').Properties.LoggingConfig as Cfn).LogGroup).slice(4)}`,
    );
    const message = /\$\.message = "([^"]+)"/.exec(String(filter.FilterPattern))?.[1];
    const pipeline = readFileSync(new URL('../../lib/export/pipeline.ts', import.meta.url), 'utf8');
    assert.ok(
      message && pipeline.includes(`log.error('${message}'`),
      `the job logs "${message}" as an error`,
    );
    const metric = (filter.MetricTransformations as Cfn[])[0]!;
    const failures = props('ExportFailuresAlarm');
    assert.equal(failures.MetricName, metric.MetricName);
    assert.equal(describeRef(failures.Namespace), describeRef(metric.MetricNamespace));
  });

  test('every alarm notifies AlarmTopicArn when it is set (alarm and OK)', () => {
    assert.deepEqual(t.Conditions.HasAlarmTopic, {
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }],
    });
    assert.equal(param('AlarmTopicArn').Default, '');
    const expected = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] };
    assert.ok(alarms.length >= 12, `${alarms.length} alarms`);
    for (const a of alarms) {
      assert.deepEqual(props(a).AlarmActions, expected, a);
      assert.deepEqual(props(a).OKActions, expected, a);
    }
  });

  test('checkpoint memory is a parameter sized from the cost model', () => {
    assert.equal(describeRef(fn('checkpoint').Properties.MemorySize), 'Ref:CheckpointMemorySize');
    // docs/cost.md, docs/storage.md: ~1 GB per ~300k live objects (3.4 KB each) over ~200 MB of runtime.
    const mb = param('CheckpointMemorySize').Default as number;
    assert.ok((mb - 200) / 3.4 >= 300, `${mb} MB holds ${Math.floor((mb - 200) / 3.4)}k objects`);
  });

  test('the table refuses deletion; export limits reach the exports function with the code’s defaults', () => {
    assert.equal(props('Table').DeletionProtectionEnabled, true);
    const env = (fn('exports').Properties.Environment as Cfn).Variables as Cfn;
    assert.equal(describeRef(env.MAX_ACTIVE_EXPORTS_PER_CLUSTER), 'Ref:MaxActiveExportsPerCluster');
    assert.equal(describeRef(env.MAX_EXPORT_WINDOW_HOURS), 'Ref:MaxExportWindowHours');
    assert.equal(param('MaxActiveExportsPerCluster').Default, DEFAULT_MAX_ACTIVE_EXPORTS);
    assert.equal((param('MaxExportWindowHours').Default as number) * 3600, DEFAULT_MAX_WINDOW_SEC);
  });

  test('every table grant is scoped by dynamodb:LeadingKeys to partitions the code builds', () => {
    // One key of each kind, from the builders the code uses.
    const built: Record<string, string> = {
      event: eventPk('c', 0, 0),
      changeFeed: feedPk('c', 0),
      state: statePk('c', 'v1.Pod'),
      lifecycle: lifecyclePk('c', 0),
      lifecycleEnd: lifecycleEndPk('c', 0),
      runningLifecycle: runningLifecyclePk('c'),
      config: configPk('c'),
      meta: metaPk('c'),
      checkpoint: checkpointPk('c'),
      clusters: CLUSTER_REGISTRY_PK,
      exportJob: exportJobKey('c', 'id').pk!.S!,
      idempotency: idempotencyKeyOf('c', 'h').pk!.S!,
      tokenLookup: tokenLookupKey('h').pk!.S!,
      tokenListing: tokenListingKey('c', 'id').pk!.S!,
    };
    const like = (pattern: string, key: string) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ).test(key);
    const WRITES = new Set([
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
    ]);
    const writable = new Map<string, string[]>();
    for (const [name, id] of FUNCTIONS) {
      for (const st of roleStatements(t, id)) {
        const actions = asList(st.Action).filter((a) => a.startsWith('dynamodb:'));
        if (actions.length === 0) continue;
        const condition = (st as { Condition?: Cfn }).Condition;
        const patterns = ((condition?.['ForAllValues:StringLike'] as Cfn | undefined)?.[
          'dynamodb:LeadingKeys'
        ] ?? []) as string[];
        assert.ok(
          patterns.length > 0,
          `${name}: ${actions.join(', ')} without a dynamodb:LeadingKeys condition`,
        );
        assert.deepEqual(Object.keys(condition!), ['ForAllValues:StringLike'], name);
        for (const pattern of patterns) {
          assert.ok(
            Object.values(built).some((k) => like(pattern, k)),
            `${name}: ${pattern} matches no key the code builds`,
          );
        }
        if (actions.some((a) => WRITES.has(a))) {
          assert.ok(
            actions.every((a) => WRITES.has(a)),
            `${name}: reads and writes share a statement`,
          );
          writable.set(name, [...(writable.get(name) ?? []), ...patterns]);
        }
      }
    }
    const canWrite = (name: string, kind: string) =>
      (writable.get(name) ?? []).some((p) => like(p, built[kind]!));
    // Tokens are written by `sktrace token create` only: no function writes them.
    for (const name of FUNCTIONS.keys()) {
      assert.ok(
        !canWrite(name, 'tokenLookup') && !canWrite(name, 'tokenListing'),
        `${name} may write tokens`,
      );
    }
    // Exports writes only EXPORT# (jobs and Idempotency-Key records).
    assert.deepEqual(
      Object.keys(built).filter((k) => canWrite('exports', k)),
      ['exportJob', 'idempotency'],
    );
    assert.deepEqual(
      Object.keys(built).filter((k) => canWrite('checkpoint', k)),
      ['checkpoint'],
    );
    assert.deepEqual(
      Object.keys(built).filter((k) => canWrite('export-job', k)),
      ['checkpoint', 'exportJob', 'idempotency'],
    );
    assert.ok(!canWrite('ingest', 'exportJob') && !canWrite('ingest', 'checkpoint'));
  });
});

/**
 * docs/openapi.yaml against the code and the sample events, so neither drifts silently: each
 * sample event in events/ hits a documented route with documented headers, each valid sample
 * body matches the documented request schema, each answer of the handler has a documented status,
 * headers and body shape, and the documented fields, limits and error codes equal the code's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { parse } from 'yaml';
import { makeHandler } from '../../functions/ingest/handler.ts';
import { STATUS_BY_CODE } from '../../lib/http/errors.ts';
import { CLUSTER_ID_PATTERN } from '../../lib/ingest/names.ts';
import { CHANGE_FIELDS, DEFAULT_MAX_CHANGES, DEFAULT_MAX_RELIST_NAMES } from '../../lib/ingest/validate.ts';
import {
  asResponse,
  CapturingLogger,
  demoTokens,
  lambdaContext,
  NOW_MS,
  RecordingWriter,
  SAMPLE_EXPECTATIONS,
  validBatch,
} from './support.ts';

type Schema = Record<string, unknown>;
const root = new URL('../../', import.meta.url);
const doc = parse(readFileSync(new URL('docs/openapi.yaml', root), 'utf8')) as Schema;
const schemas = (doc.components as Schema).schemas as Record<string, Schema>;
const route = ((doc.paths as Schema)['/v1/clusters/{cluster}/events'] as Schema).post as Schema;

function resolve(schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = ref.replace('#/components/schemas/', '');
  const target = schemas[name];
  assert.ok(target, `unresolved $ref ${ref}`);
  return resolve(target);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * A structural JSON Schema check, enough for this document: $ref, type, const, enum, required,
 * properties, additionalProperties, items, oneOf with discriminator, pattern, lengths, minimum.
 */
function validate(schemaIn: Schema, value: unknown, at = '$'): string[] {
  const schema = resolve(schemaIn);
  const errors: string[] = [];
  if (Array.isArray(schema.oneOf)) {
    const discriminator = schema.discriminator as
      | { propertyName: string; mapping: Record<string, string> }
      | undefined;
    if (discriminator) {
      const tag = (value as Record<string, unknown> | null)?.[discriminator.propertyName];
      const ref = typeof tag === 'string' ? discriminator.mapping[tag] : undefined;
      if (!ref) return [`${at}: ${discriminator.propertyName} ${JSON.stringify(tag)} is not documented`];
      return validate({ $ref: ref }, value, at);
    }
    const matches = (schema.oneOf as Schema[]).filter((s) => validate(s, value, at).length === 0).length;
    return matches === 1 ? [] : [`${at}: matches ${matches} of oneOf`];
  }
  if ('const' in schema && schema.const !== value)
    errors.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      return [...errors, `${at}: expected ${types.join('|')}, got ${actual}`];
    }
  }
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errors.push(`${at}: too short`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
      errors.push(`${at}: too long`);
  }
  if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) {
    errors.push(`${at}: below ${schema.minimum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
      errors.push(`${at}: too many items`);
    const items = schema.items as Schema | undefined;
    if (items) for (const [i, v] of value.entries()) errors.push(...validate(items, v, `${at}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) {
      if (!(key in obj)) errors.push(`${at}.${key}: required`);
    }
    const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [key, v] of Object.entries(obj)) {
      const prop = properties[key];
      if (prop) errors.push(...validate(prop, v, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}.${key}: not documented`);
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...validate(schema.additionalProperties as Schema, v, `${at}.${key}`));
      }
    }
  }
  return errors;
}

function bodyOf(event: APIGatewayProxyEventV2): unknown {
  let bytes = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (event.headers['content-encoding'] === 'gzip') bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8'));
}

const EVENTS_DIR = new URL('events/', root);

describe('docs/openapi.yaml and the sample events', () => {
  test('is OpenAPI 3.1 with the ingest route', () => {
    assert.match(String(doc.openapi), /^3\.1\./);
    assert.ok(route, 'POST /v1/clusters/{cluster}/events is documented');
  });

  const files = readdirSync(EVENTS_DIR).filter((f) => /^ingest-.*\.json$/.test(f));
  assert.ok(files.length >= 8);
  for (const file of files) {
    test(`${file} matches the documented request and gets a documented answer`, async () => {
      const event = JSON.parse(readFileSync(new URL(file, EVENTS_DIR), 'utf8')) as APIGatewayProxyEventV2;
      // Route: the event's route key and path fit the documented path template.
      assert.equal(event.routeKey, 'POST /v1/clusters/{cluster}/events');
      assert.equal(event.requestContext.http.method, 'POST');
      const cluster = event.pathParameters?.cluster ?? '';
      assert.equal(event.rawPath, `/v1/clusters/${cluster}/events`);
      const params = route.parameters as Schema[];
      const clusterParam = params.find((p) => p.name === 'cluster')!;
      assert.deepEqual(validate(clusterParam.schema as Schema, cluster), []);
      const encoding = event.headers['content-encoding'];
      if (encoding !== undefined) {
        const encodingParam = params.find((p) => p.name === 'Content-Encoding')!;
        assert.deepEqual(validate(encodingParam.schema as Schema, encoding), []);
      }

      const expected = SAMPLE_EXPECTATIONS[file];
      assert.ok(expected, `${file} has an expectation in handler.test.ts`);
      const requestSchema = ((route.requestBody as Schema).content as Record<string, Schema>)[
        'application/json'
      ]!.schema as Schema;
      if (expected.status === 200) {
        assert.deepEqual(
          validate(requestSchema, bodyOf(event)),
          [],
          'a valid sample matches the request schema',
        );
      }

      const handler = makeHandler({
        writer: new RecordingWriter(),
        tokens: demoTokens(),
        logger: new CapturingLogger(),
        clock: () => NOW_MS,
      });
      const res = asResponse(await handler(event, lambdaContext()));
      assert.equal(res.statusCode, expected.status);
      const documented = (route.responses as Record<string, Schema>)[String(res.statusCode)];
      assert.ok(documented, `status ${res.statusCode} is documented`);
      const responseSchema = ((documented.content as Record<string, Schema>)['application/json'] as Schema)
        .schema;
      assert.deepEqual(validate(responseSchema as Schema, JSON.parse(res.body)), []);
      for (const name of Object.keys((documented.headers as Schema | undefined) ?? {})) {
        assert.ok(res.headers?.[name], `documented header ${name} is sent`);
      }
    });
  }

  test('the request schema accepts the full valid batch and refuses what the validator refuses', () => {
    const requestSchema = schemas.Batch!;
    assert.deepEqual(validate(requestSchema, validBatch()), []);
    const bad = validBatch();
    bad.changes[0]!.extra = 1;
    assert.notDeepEqual(validate(requestSchema, bad), []);
  });
});

describe('docs/openapi.yaml and the code agree on', () => {
  const changeSchemas: Record<string, string> = {
    applied: 'AppliedChange',
    deleted: 'DeletedChange',
    relist: 'RelistChange',
    lifecycle: 'LifecycleChange',
    config: 'ConfigChange',
  };

  test('the change types', () => {
    const mapping = (schemas.Change!.discriminator as { mapping: Record<string, string> }).mapping;
    assert.deepEqual(Object.keys(mapping).sort(), Object.keys(CHANGE_FIELDS).sort());
  });

  for (const [type, name] of Object.entries(changeSchemas)) {
    test(`the fields of ${type} changes`, () => {
      const schema = schemas[name]!;
      const fields = CHANGE_FIELDS[type as keyof typeof CHANGE_FIELDS];
      assert.deepEqual(Object.keys(schema.properties as Schema).sort(), [...fields].sort());
      assert.equal(schema.additionalProperties, false);
    });
  }

  test('the limits and the cluster id pattern', () => {
    assert.equal(
      (schemas.Batch!.properties as Record<string, Schema>).changes!.maxItems,
      DEFAULT_MAX_CHANGES,
    );
    assert.equal(
      (schemas.RelistChange!.properties as Record<string, Schema>).ns_names!.maxItems,
      DEFAULT_MAX_RELIST_NAMES,
    );
    const clusterParam = (route.parameters as Schema[]).find((p) => p.name === 'cluster')!;
    assert.equal((clusterParam.schema as Schema).pattern, CLUSTER_ID_PATTERN.source);
  });

  test('the error codes, and the status each maps to', () => {
    const errorProps = (
      (schemas.Error!.properties as Record<string, Schema>).error!.properties as Record<string, Schema>
    ).code!;
    const documented = new Set(errorProps.enum as string[]);
    assert.deepEqual([...documented].sort(), [...Object.keys(STATUS_BY_CODE), 'internal'].sort());
    const responses = route.responses as Record<string, Schema>;
    for (const status of new Set(Object.values(STATUS_BY_CODE))) {
      if (status === 404) continue; // not_found belongs to routes with ids (exports), not this one.
      assert.ok(responses[String(status)], `status ${status} is documented`);
    }
  });

  test('docs/ingest-api.md names every change type, error code and limit', () => {
    const md = readFileSync(new URL('docs/ingest-api.md', root), 'utf8');
    for (const type of Object.keys(CHANGE_FIELDS)) assert.ok(md.includes(`\`${type}\``), type);
    for (const code of Object.keys(STATUS_BY_CODE)) {
      if (code === 'not_found' || code === 'invalid_request') continue;
      assert.ok(md.includes(`\`${code}\``), `ingest-api.md documents ${code}`);
    }
    assert.ok(md.includes(DEFAULT_MAX_CHANGES.toLocaleString('en-US')));
    assert.ok(
      md.includes('4 MiB') && md.includes('32 MiB') && md.includes('1.5 MiB') && md.includes('300 s'),
    );
  });
});

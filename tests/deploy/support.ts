/**
 * Reading template.yaml as CloudFormation does, and deriving from the code which AWS calls each
 * function makes. Shared by the tests in this directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CollectionTag, parse, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';
import { ROOT_DIR } from '../../deploy/build.ts';

export type Cfn = Record<string, unknown>;

const FN_NAMES = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'Equals',
  'If',
  'Not',
  'Or',
];

/**
 * CloudFormation's short-form intrinsics as YAML tags, resolved to their long form
 * (`!Ref X` → `{Ref: X}`, `!GetAtt A.B` → `{'Fn::GetAtt': ['A', 'B']}`, `!If [...]` → `{'Fn::If': [...]}`).
 * Each tag exists for scalars, sequences and maps, as CloudFormation accepts.
 */
export const CFN_TAGS: (ScalarTag | CollectionTag)[] = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  {
    tag: '!GetAtt',
    collection: 'seq',
    resolve: (seq: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ 'Fn::GetAtt': seq.toJSON() }),
  },
  ...FN_NAMES.flatMap((name): (ScalarTag | CollectionTag)[] => [
    { tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: value }) },
    {
      tag: `!${name}`,
      collection: 'seq',
      resolve: (seq: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [`Fn::${name}`]: seq.toJSON() }),
    },
    {
      tag: `!${name}`,
      collection: 'map',
      resolve: (map: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [`Fn::${name}`]: map.toJSON() }),
    },
  ]),
];

export function parseCfn(text: string): Cfn {
  return parse(text, { customTags: CFN_TAGS, uniqueKeys: true }) as Cfn;
}

export interface Template {
  AWSTemplateFormatVersion: string;
  Transform: string;
  Parameters: Record<string, Cfn>;
  Conditions: Record<string, unknown>;
  Globals: { Function: Cfn };
  Resources: Record<string, { Type: string; Properties: Cfn; Metadata?: Cfn; [k: string]: unknown }>;
  Outputs: Record<string, Cfn>;
}

export function loadTemplate(): Template {
  return parseCfn(readFileSync(join(ROOT_DIR, 'template.yaml'), 'utf8')) as unknown as Template;
}

/** Logical ids of the template's resources of `type`. */
export function resourcesOfType(t: Template, type: string): string[] {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/** `{'Fn::GetAtt': ['Table', 'Arn']}` → 'Table.Arn'; `{Ref: X}` → 'Ref:X'; `!Sub` strings as written. */
export function describeRef(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v && typeof v === 'object') {
    if ('Ref' in v) return `Ref:${String(v.Ref)}`;
    if ('Fn::GetAtt' in v) return (v['Fn::GetAtt'] as string[]).join('.');
    if ('Fn::Sub' in v && typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'];
  }
  return JSON.stringify(value);
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
}

export function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The statements of the inline policies of the role a function runs as. */
export function roleStatements(t: Template, functionId: string): Statement[] {
  const fn = t.Resources[functionId]!;
  const roleRef = fn.Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined;
  if (!roleRef) throw new Error(`${functionId} has no explicit Role`);
  const role = t.Resources[roleRef['Fn::GetAtt'][0]]!;
  const policies = role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}

// ---------------------------------------------------------------------------------------------
// AWS calls derived from the code
// ---------------------------------------------------------------------------------------------

/** IAM service prefix of each AWS SDK client package the code imports. */
const SERVICE_OF_CLIENT: Record<string, string> = {
  'client-dynamodb': 'dynamodb',
  'client-s3': 's3',
  'client-lambda': 'lambda',
};

/**
 * Commands whose IAM action is not `service:<CommandName>` (S3 authorises every multipart call but
 * the abort as s3:PutObject; Lambda's Invoke API is the lambda:InvokeFunction action).
 */
const ACTION_OF_COMMAND: Record<string, string> = {
  's3:CreateMultipartUpload': 's3:PutObject',
  's3:UploadPart': 's3:PutObject',
  's3:CompleteMultipartUpload': 's3:PutObject',
  'lambda:Invoke': 'lambda:InvokeFunction',
};

export interface DerivedCall {
  action: string;
  /** Source files (relative to the repository root) that send it. */
  files: string[];
}

/**
 * The IAM actions a source file's code can send: every `new XxxCommand(` of a command imported from
 * an AWS SDK client package, mapped to its IAM action. A command passed to the presigner
 * (`getSignedUrl(client, new GetObjectCommand(…))`) is constructed the same way, so a presigned
 * GET counts as s3:GetObject, which is what S3 checks against the signer when the URL is used.
 */
export function actionsInSource(source: string): string[] {
  const serviceOf = new Map<string, string>();
  for (const m of source.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/([a-z0-9-]+)'/g)) {
    const service = SERVICE_OF_CLIENT[m[2]!];
    if (!service) continue;
    for (const raw of m[1]!.split(',')) {
      const name = raw.trim().replace(/^type\s+/, '');
      if (name.endsWith('Command')) serviceOf.set(name, service);
    }
  }
  const actions = new Set<string>();
  for (const m of source.matchAll(/new\s+([A-Z][A-Za-z0-9]*Command)\s*\(/g)) {
    const service = serviceOf.get(m[1]!);
    if (!service) continue;
    const call = `${service}:${m[1]!.slice(0, -'Command'.length)}`;
    actions.add(ACTION_OF_COMMAND[call] ?? call);
  }
  return [...actions].sort();
}

/** Every IAM action the sources that survive in a bundle can send, with the files sending each. */
export function derivedCalls(ownSources: string[], rootDir: string = ROOT_DIR): DerivedCall[] {
  const byAction = new Map<string, string[]>();
  for (const file of ownSources) {
    for (const action of actionsInSource(readFileSync(join(rootDir, file), 'utf8'))) {
      byAction.set(action, [...(byAction.get(action) ?? []), file]);
    }
  }
  return [...byAction.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([action, files]) => ({ action, files }));
}

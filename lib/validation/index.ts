/**
 * Trace validation, after SimKube's `skctl validate` (sk-cli/src/validation): the same rules with
 * the same codes, names, help and SKEL fixes, the same counting and the same summary table.
 *
 * Rules (codes are the registration order, as ValidationStore::register numbers them):
 * - W0000 status_field_populated: an applied object has a non-null `status`;
 * - E0001 service_account_missing: a pod template names a ServiceAccount (`serviceAccount` or
 *   `serviceAccountName`, each counted) that the trace has not applied (or has deleted) by then;
 * - E0002 envvar_secret_missing, E0003 envvar_configmap_missing: an env var's
 *   `valueFrom.secretKeyRef.key` / `configMapKeyRef.key` or an `envFrom[*].secretRef.name` /
 *   `configMapRef.name` names a Secret / ConfigMap missing from the trace. (SimKube looks up the
 *   key ref's `key`, not its `name`: we do the same, so the counts agree; docs/simkube.md.)
 * - E0004 volume_secret_missing, E0005 volume_configmap_missing: `volumes[*].secret.secretName` /
 *   `configMap.name` likewise.
 * Pod templates are found through the trace config's `podSpecTemplatePaths` for the object's GVK
 * (SimKube reads the config as it is in the file, with no defaults). A resource is "present" once
 * an applied object of that kind (kind only, any group) with that namespace/name went by, in the
 * same event or before, and until it is deleted. Each failing reference is one finding (an object
 * with both `serviceAccount` and `serviceAccountName` missing counts twice).
 *
 * `validateTrace` is pure, for the CLI, export jobs and the trace viewer.
 */

import { parsePointer, resolve } from '../skel/engine.ts';
import { gvkOf } from '../trace/gvk.ts';
import type { Gvk, KubeObject, Trace, TraceEvent } from '../trace/model.ts';

export type RuleCode = 'W0000' | 'E0001' | 'E0002' | 'E0003' | 'E0004' | 'E0005';

export interface ValidationRule {
  code: RuleCode;
  type: 'Warning' | 'Error';
  name: string;
  help: string;
  /** SKEL that removes what the rule finds (SimKube's `skel_suggestion`, verbatim). */
  skelSuggestion: string;
}

export interface Finding {
  code: RuleCode;
  name: string;
  /** Position of the event in the trace and its time. */
  eventIndex: number;
  ts: number;
  /** Position of the object in the event's applied_objs. */
  objectIndex: number;
  gvk: Gvk;
  nsName: string;
  /** The missing resource (`ns/name`) for E rules. */
  missing?: string;
}

export interface ValidationResult {
  findings: Finding[];
  /** Every rule with its count of findings, in code order (zero counts included). */
  counts: { code: RuleCode; name: string; type: 'Warning' | 'Error'; count: number }[];
}

const resourceHelp = (resource: string, what: string) =>
  `A Pod needs a ${resource} ${what} that is not present in the trace file.  The simulation will fail because pods cannot be created if the ${resource} does not exist.`;

const DEPLOYMENT_NOTE =
  '\n# these paths are only correct for Deployments, adjust as needed for other resources\n';

export const RULES: readonly ValidationRule[] = [
  {
    code: 'W0000',
    type: 'Warning',
    name: 'status_field_populated',
    help: 'Indicates that the status field of a Kubernetes object in the trace is non-empty; status fields are updated by their controlling objects and shouldn\'t be applied "by hand".  This is probably "fine" but it would be better to clean them up (and also they take up a lot of space.',
    skelSuggestion: 'remove(status);\n',
  },
  {
    code: 'E0001',
    type: 'Error',
    name: 'service_account_missing',
    help: resourceHelp('ServiceAccount', 'resource'),
    skelSuggestion: `${DEPLOYMENT_NOTE}remove(spec.template.spec.serviceAccount);
remove(spec.template.spec.serviceAccountName);
`,
  },
  {
    code: 'E0002',
    type: 'Error',
    name: 'envvar_secret_missing',
    help: resourceHelp('Secret', 'environment variable'),
    skelSuggestion: `${DEPLOYMENT_NOTE}remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.secretRef), $x);
`,
  },
  {
    code: 'E0003',
    type: 'Error',
    name: 'envvar_configmap_missing',
    help: resourceHelp('ConfigMap', 'environment variable'),
    skelSuggestion: `${DEPLOYMENT_NOTE}remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.configMapKeyRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.configMapRef), $x);
`,
  },
  {
    code: 'E0004',
    type: 'Error',
    name: 'volume_secret_missing',
    help: resourceHelp('Secret', 'volume'),
    skelSuggestion: `${DEPLOYMENT_NOTE}remove($x := spec.template.spec.volumes[*] | exists($x.secret)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);
`,
  },
  {
    code: 'E0005',
    type: 'Error',
    name: 'volume_configmap_missing',
    help: resourceHelp('ConfigMap', 'volume'),
    skelSuggestion: `${DEPLOYMENT_NOTE}remove($x := spec.template.spec.volumes[*] | exists($x.configMap)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.configMap), $x);
`,
  },
];

/** The references each missing-resource rule follows, relative to a pod spec (missing_resources.rs). */
const MISSING_RESOURCE_RULES: { code: RuleCode; kind: string; pointers: string[] }[] = [
  { code: 'E0001', kind: 'ServiceAccount', pointers: ['/spec/serviceAccount', '/spec/serviceAccountName'] },
  {
    code: 'E0002',
    kind: 'Secret',
    pointers: [
      '/spec/containers/*/env/*/valueFrom/secretKeyRef/key',
      '/spec/containers/*/envFrom/*/secretRef/name',
    ],
  },
  {
    code: 'E0003',
    kind: 'ConfigMap',
    pointers: [
      '/spec/containers/*/env/*/valueFrom/configMapKeyRef/key',
      '/spec/containers/*/envFrom/*/configMapRef/name',
    ],
  },
  { code: 'E0004', kind: 'Secret', pointers: ['/spec/volumes/*/secret/secretName'] },
  { code: 'E0005', kind: 'ConfigMap', pointers: ['/spec/volumes/*/configMap/name'] },
];

const nsNameOf = (obj: KubeObject) =>
  obj.metadata?.namespace
    ? `${obj.metadata.namespace}/${obj.metadata.name ?? ''}`
    : (obj.metadata?.name ?? '');

/** Validates a trace: every finding in event order, and the count per rule. */
export function validateTrace(trace: Pick<Trace, 'config' | 'events'>): ValidationResult {
  const validator = new TraceValidator(trace.config.trackedObjects);
  trace.events.forEach((event, i) => {
    validator.checkEvent(event, i);
  });
  return validator.result();
}

/**
 * The same checks fed one event at a time (an export job validates what it assembles without
 * holding the trace). Events must come in trace order.
 */
export class TraceValidator {
  /**
   * Per GVK with pod templates: its template paths and, per missing-resource rule, the rule's
   * pointers, compiled (compilePointer). A rule's pointer is followed from each value its template
   * path reaches: the same values as following their concatenation, the template walked once.
   */
  readonly #pointers: Map<Gvk, { templates: string[][][]; byRule: string[][][][] }>;
  /** Per missing-resource rule, the `ns/name` of the present resources of its kind. */
  readonly #seen = MISSING_RESOURCE_RULES.map(() => new Set<string>());
  readonly #findings: Finding[] = [];
  readonly #counts = new Map<RuleCode, number>(RULES.map((r) => [r.code, 0]));
  #nextEvent = 0;

  constructor(trackedObjects: Record<string, { podSpecTemplatePaths?: string[] | undefined }>) {
    this.#pointers = new Map(
      Object.entries(trackedObjects).flatMap(([gvk, t]) => {
        const paths = t.podSpecTemplatePaths;
        if (!paths) return [];
        const templates = paths.map(compilePointer);
        const byRule = MISSING_RESOURCE_RULES.map((rule) => rule.pointers.map(compilePointer));
        return [[gvk, { templates, byRule }] as const];
      }),
    );
  }

  checkEvent(event: TraceEvent, eventIndex = this.#nextEvent): void {
    this.#nextEvent = eventIndex + 1;
    // Plain loops and no closures per event or object: an export checks every change here.
    const applied = event.applied_objs;
    for (let i = 0; i < applied.length; i++) {
      const status = (applied[i] as { status?: unknown }).status;
      if (status !== undefined && status !== null) this.#add('W0000', eventIndex, event.ts, i, applied[i]!);
    }
    // Per applied object, its kind's compiled pointers and the pod templates each of its template
    // paths reaches, found once for the five rules.
    let templatesOf: ({ byRule: string[][][][]; reached: unknown[][] } | undefined)[] | undefined;
    for (let i = 0; i < applied.length; i++) {
      const compiled = this.#pointers.get(gvkOf(applied[i]!));
      if (!compiled) continue;
      templatesOf ??= new Array(applied.length).fill(undefined);
      const reached: unknown[][] = [];
      for (const template of compiled.templates) {
        const values: unknown[] = [];
        collectMatches(template, 0, applied[i], values);
        reached.push(values);
      }
      templatesOf[i] = { byRule: compiled.byRule, reached };
    }
    const matched: unknown[] = [];
    for (let r = 0; r < MISSING_RESOURCE_RULES.length; r++) {
      const rule = MISSING_RESOURCE_RULES[r]!;
      // Resources of this event count for its pods (SimKube records them first).
      const seen = this.#seen[r]!;
      for (const obj of applied) if (obj.kind === rule.kind) seen.add(nsNameOf(obj));
      for (const obj of event.deleted_objs) if (obj.kind === rule.kind) seen.delete(nsNameOf(obj));
      if (templatesOf === undefined) continue;
      for (let i = 0; i < applied.length; i++) {
        const templates = templatesOf[i];
        if (!templates) continue;
        const obj = applied[i]!;
        // Template path, then the rule's pointer, then each template reached: `matches` order.
        for (const reached of templates.reached) {
          for (const pointer of templates.byRule[r]!) {
            for (const template of reached) {
              matched.length = 0;
              collectMatches(pointer, 0, template, matched);
              for (const value of matched) {
                const ref = `${obj.metadata?.namespace ?? ''}/${typeof value === 'string' ? value : String(value)}`;
                if (!seen.has(ref)) this.#add(rule.code, eventIndex, event.ts, i, obj, ref);
              }
            }
          }
        }
      }
    }
  }

  #add(
    code: RuleCode,
    eventIndex: number,
    ts: number,
    objectIndex: number,
    obj: KubeObject,
    missing?: string,
  ) {
    this.#counts.set(code, this.#counts.get(code)! + 1);
    this.#findings.push({
      code,
      name: RULES.find((r) => r.code === code)!.name,
      eventIndex,
      ts,
      objectIndex,
      gvk: gvkOf(obj),
      nsName: nsNameOf(obj),
      ...(missing !== undefined ? { missing } : {}),
    });
  }

  result(): ValidationResult {
    return {
      findings: [...this.#findings],
      counts: RULES.map((r) => ({
        code: r.code,
        name: r.name,
        type: r.type,
        count: this.#counts.get(r.code)!,
      })),
    };
  }
}

/**
 * Every part of an applied object `checkEvent` reads, as token paths (`*`: every array element;
 * no compiled piece holds a token `*`, compilePointer cuts there): `apiVersion`, `kind` and
 * `metadata` (its GVK, namespace and name), whether `status` is null (W0000), and per kind with pod
 * templates each template path followed by each rule's pointer. An object holding only these
 * (lib/trace/encoded-object.ts) is validated as the whole object is: each pointer reaches the same
 * values, in the same order.
 */
export function validatedPaths(
  trackedObjects: Record<string, { podSpecTemplatePaths?: string[] | undefined }>,
): { tokens: string[]; presence?: boolean }[] {
  const paths: { tokens: string[]; presence?: boolean }[] = [
    { tokens: ['apiVersion'] },
    { tokens: ['kind'] },
    { tokens: ['metadata'] },
    { tokens: ['status'], presence: true },
  ];
  const joined = (pieces: string[][]) => pieces.flatMap((piece, i) => (i === 0 ? piece : ['*', ...piece]));
  for (const t of Object.values(trackedObjects)) {
    for (const template of (t.podSpecTemplatePaths ?? []).map(compilePointer)) {
      for (const rule of MISSING_RESOURCE_RULES) {
        for (const pointer of rule.pointers.map(compilePointer)) {
          paths.push({ tokens: [...joined(template), ...joined(pointer)] });
        }
      }
    }
  }
  return paths;
}

/**
 * A pointer with `*` (any array element) cut at its stars, each piece parsed: the values it reaches
 * are those SKEL's `matches` gives (lib/skel/engine.ts, which cuts and parses the same way on each
 * call). Compiled once per validator: an export checks every applied object against eight pointers
 * per pod template, which parsing anew each time made ~10 % of an export's CPU.
 */
function compilePointer(pointer: string): string[][] {
  const pieces: string[][] = [];
  for (let rest = pointer; ; ) {
    const star = rest.indexOf('/*');
    if (star < 0) {
      pieces.push(parsePointer(rest));
      return pieces;
    }
    pieces.push(parsePointer(rest.slice(0, star)));
    const afterStar = rest.indexOf('/', star + 1);
    rest = afterStar < 0 ? '' : rest.slice(afterStar);
  }
}

/** Each value a compiled pointer reaches from `value`, from piece `at` on (engine.ts `matches`), onto `out`. */
function collectMatches(pieces: string[][], at: number, value: unknown, out: unknown[]): void {
  const r = resolve(value, pieces[at]!);
  if (!r.ok) return;
  if (at === pieces.length - 1) {
    out.push(r.value);
    return;
  }
  if (!Array.isArray(r.value)) return;
  for (const el of r.value) collectMatches(pieces, at + 1, el, out);
}

const WIDTH = 70;

/**
 * SimKube's `write_summary`: a header, one dotted line per rule with findings, and with `skel`
 * the auto-generated SKEL fix (`tracePath` named in its comment).
 */
export function formatSummary(result: ValidationResult, options: { skelFor?: string } = {}): string {
  const lines = ['Validation errors found:', '-'.repeat(WIDTH)];
  for (const c of result.counts) {
    if (c.count === 0) continue;
    const left = `${c.name} (${c.code})`;
    const right = String(c.count);
    const mid = Math.max(0, WIDTH - left.length - right.length - 2);
    lines.push(`${left} ${'.'.repeat(mid)} ${right}`);
  }
  let out = `${lines.join('\n')}\n`;
  if (options.skelFor !== undefined) out += `${'-'.repeat(WIDTH)}\n${skelFix(result, options.skelFor)}\n`;
  return out;
}

/** The SKEL file that fixes what was found (`skctl validate --generate-skel`'s text). */
export function skelFix(result: ValidationResult, tracePath: string): string {
  const skel = result.counts
    .filter((c) => c.count > 0)
    .map((c) => RULES.find((r) => r.code === c.code)!.skelSuggestion)
    .join('');
  return `# Auto-generated SKEL file to fix this trace;\n# Run \`sktrace transform ${tracePath} <SKELFILE>\` to apply it\n\n${skel}`;
}

/** The count per rule code that found something (`{}` for a clean trace), as an export job's record keeps it. */
export function validationCounts(trace: Pick<Trace, 'config' | 'events'>): Partial<Record<RuleCode, number>> {
  return Object.fromEntries(
    validateTrace(trace)
      .counts.filter((c) => c.count > 0)
      .map((c) => [c.code, c.count]),
  );
}

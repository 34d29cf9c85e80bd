/**
 * The viewer's validator: SimKube's trace validation (lib/validation, `sktrace validate`: W0000 and
 * E0001–E0005), its findings in the viewer's shape. A finding names the object and the event it is
 * in; an E rule also the resource the trace lacks.
 */

import type { Trace } from '../trace/model.ts';
import { RULES, validateTrace } from '../validation/index.ts';
import type { ValidationFinding } from './model.ts';

export function simkubeFindings(trace: Trace): ValidationFinding[] {
  const rules = new Map(RULES.map((r) => [r.code, r]));
  return validateTrace(trace).findings.map((f) => {
    const rule = rules.get(f.code);
    return {
      code: f.code,
      severity: rule?.type === 'Error' ? 'error' : 'warning',
      message: `${f.name}${f.missing ? `: ${f.missing} is not in the trace` : ''}`,
      gvk: f.gvk,
      nsName: f.nsName,
      ts: f.ts,
    };
  });
}

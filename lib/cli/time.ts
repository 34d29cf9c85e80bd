/**
 * Times on the command line, as `skctl export --start-time/--end-time` takes them (SimKube's
 * `duration_to_ts`, GNU-date style through `parse_datetime`): `now`, unix seconds (`1710892138`
 * or `@1710892138`), ISO 8601 / RFC 3339 (`2024-03-19T23:48:58Z`, `2024-03-19 23:48:58+01:00`,
 * `2024-03-19`), or a time relative to now (`-30m`, `-2h`, `-1d`, `-1h30m`, `+5m`, `2 hours ago`).
 * Relative times count from now for both ends, as skctl's parser does (its help text says the
 * start counts from the end time, but its code parses both against the clock).
 * A date or date-time without an offset is local time, like skctl (and GNU date).
 *
 * Pure: the clock is passed in.
 */
import { SktraceError } from '../errors.ts';

const UNIT_SEC: Readonly<Record<string, number>> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
};

const RELATIVE_PART = /(\d+)\s*([a-z]+)/gy;
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

export class TimeArgError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('usage', message, context);
    this.name = 'TimeArgError';
  }
}

/**
 * Parses one time argument into unix seconds. `what` names the flag in errors (`--start`).
 * Fractions of a second are dropped (traces count whole seconds).
 */
export function parseTimeArg(text: string, nowSec: number, what = 'time'): number {
  const t = text.trim();
  const fail = (why: string): never => {
    throw new TimeArgError(
      `${what} ${JSON.stringify(text)} ${why}; use unix seconds, ISO 8601 (2024-03-19T23:48:58Z), now, or a relative time (-30m, -2h, -1d)`,
      { value: text },
    );
  };
  if (t === '') fail('is empty');
  const lower = t.toLowerCase();
  if (lower === 'now') return nowSec;
  if (/^@?\d+$/.test(t)) {
    const sec = Number(t.replace('@', ''));
    if (!Number.isSafeInteger(sec)) fail('is out of range');
    return sec;
  }
  const iso = ISO.exec(t);
  if (iso) return isoToSec(iso, fail);
  const relative = parseRelative(lower);
  if (relative === undefined) fail('is not a time');
  return nowSec + relative!;
}

/** `-1h30m`, `+5 minutes`, `2 hours ago` → signed seconds; undefined when it is not relative. */
function parseRelative(text: string): number | undefined {
  let body = text;
  let sign = 0;
  if (body.endsWith(' ago')) {
    sign = -1;
    body = body.slice(0, -4).trim();
  }
  if (body.startsWith('-') || body.startsWith('+')) {
    // "-2h ago" would mean two hours ahead in GNU date; refuse the double negation instead.
    if (sign !== 0) return undefined;
    sign = body.startsWith('-') ? -1 : 1;
    body = body.slice(1).trim();
  }
  // An unsigned duration ("30m") is refused: it reads as a time of day as often as an offset.
  if (sign === 0 || body === '') return undefined;
  let total = 0;
  RELATIVE_PART.lastIndex = 0;
  let at = 0;
  while (at < body.length) {
    RELATIVE_PART.lastIndex = at;
    const m = RELATIVE_PART.exec(body);
    if (!m) return undefined;
    const unit = UNIT_SEC[m[2]!];
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    at = RELATIVE_PART.lastIndex;
    while (body[at] === ' ' || body[at] === ',') at++;
  }
  return Number.isSafeInteger(total) ? sign * total : undefined;
}

function isoToSec(m: RegExpExecArray, fail: (why: string) => never): number {
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    fail('is not a valid date');
  }
  const zone = m[8];
  let ms: number;
  if (zone === undefined) {
    ms = new Date(year, month - 1, day, hour, minute, second).getTime();
  } else {
    let offsetMin = 0;
    if (zone !== 'Z' && zone !== 'z') {
      const digits = zone.replace(':', '');
      const h = Number(digits.slice(1, 3));
      const mm = digits.length > 3 ? Number(digits.slice(3, 5)) : 0;
      if (h > 23 || mm > 59) fail('has an invalid UTC offset');
      offsetMin = (zone.startsWith('-') ? -1 : 1) * (h * 60 + mm);
    }
    ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMin * 60_000;
  }
  // Date rolls 2024-02-31 over into March; refuse it instead.
  const check =
    zone === undefined ? new Date(year, month - 1, day) : new Date(Date.UTC(year, month - 1, day));
  const checkDay = zone === undefined ? check.getDate() : check.getUTCDate();
  if (Number.isNaN(ms) || checkDay !== day) fail('is not a valid date');
  return Math.floor(ms / 1000);
}

/** skctl export's default excluded namespaces (sk-cli/src/export.rs). */
export const SKCTL_EXCLUDED_NAMESPACES: readonly string[] = [
  'cert-manager',
  'default',
  'kube-public',
  'kube-node-lease',
  'kube-system',
  'local-path-storage',
  'monitoring',
  'simkube',
];

/** `a,b` → ['a', 'b']; `""` → [] (no namespace excluded). Blanks around names are dropped. */
export function parseNamespaceList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Kubernetes label selectors: the kubectl string syntax (`app=web,tier in (a,b),!canary`), the JSON
 * `LabelSelector` form carried by ExportRequest filters, and matching.
 *
 * The grammar and the validation rules follow k8s.io/apimachinery `pkg/labels/selector.go`
 * (`Parse`) and `metav1.ParseToLabelSelector`, which turns `=`/`==` into `matchLabels`, `!=` into
 * `NotIn` with one value, and refuses `>`/`<` (valid in a `labels.Selector`, not in a LabelSelector).
 */
import { describeValue, SktraceError } from '../errors.ts';
import type { LabelSelector, LabelSelectorRequirement } from './model.ts';

/** A selector that cannot be parsed or validated; maps to a 400 on the export API. */
export class SelectorError extends SktraceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('invalid_selector', message, context);
    this.name = 'SelectorError';
  }
}

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
type Operator = LabelSelectorRequirement['operator'];

// --- label keys and values (k8s.io/apimachinery/pkg/util/validation) -----------------------------

const MAX_LABEL_NAME_LENGTH = 63;
const MAX_DNS_SUBDOMAIN_LENGTH = 253;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) {
    return 'a label key has at most one "/" (an optional DNS subdomain prefix, then a name)';
  }
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return 'the prefix before "/" must not be empty';
    if (prefix.length > MAX_DNS_SUBDOMAIN_LENGTH) {
      return `the prefix is longer than ${MAX_DNS_SUBDOMAIN_LENGTH} characters`;
    }
    if (!DNS_SUBDOMAIN.test(prefix)) {
      return `the prefix "${prefix}" is not a DNS subdomain (lowercase letters, digits, "-" and ".", starting and ending with a letter or digit)`;
    }
  }
  if (name.length === 0) return 'the name part must not be empty';
  if (name.length > MAX_LABEL_NAME_LENGTH) {
    return `the name part is longer than ${MAX_LABEL_NAME_LENGTH} characters`;
  }
  if (!LABEL_NAME.test(name)) {
    return `the name part "${name}" may hold only letters, digits, "-", "_" and ".", and must start and end with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value (empty is valid), or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > MAX_LABEL_NAME_LENGTH) return `longer than ${MAX_LABEL_NAME_LENGTH} characters`;
  if (!LABEL_NAME.test(value)) {
    return 'may hold only letters, digits, "-", "_" and ".", and must start and end with a letter or digit';
  }
  return undefined;
}

// --- lexer ---------------------------------------------------------------------------------------

type TokenKind = 'ident' | 'in' | 'notin' | '!' | '=' | '==' | '!=' | '>' | '<' | '(' | ')' | ',' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  /** Offset of the token's first character in the selector text. */
  pos: number;
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const TWO_CHAR_OPERATORS = new Set(['==', '!=']);

function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (WHITESPACE.has(ch)) {
      i++;
      continue;
    }
    if (SPECIAL.has(ch)) {
      const two = text.slice(i, i + 2);
      const op = TWO_CHAR_OPERATORS.has(two) ? two : ch;
      tokens.push({ kind: op as TokenKind, text: op, pos: i });
      i += op.length;
      continue;
    }
    // An identifier runs to the next whitespace or special character, as in selector.go's lexer;
    // whether its characters are allowed is decided by key/value validation, with a clearer message.
    const start = i;
    while (i < text.length && !SPECIAL.has(text[i]!) && !WHITESPACE.has(text[i]!)) i++;
    const word = text.slice(start, i);
    const kind: TokenKind = word === 'in' ? 'in' : word === 'notin' ? 'notin' : 'ident';
    tokens.push({ kind, text: word, pos: start });
  }
  tokens.push({ kind: 'end', text: '', pos: text.length });
  return tokens;
}

// --- parser --------------------------------------------------------------------------------------

interface ParsedRequirement {
  key: string;
  op: 'Equals' | Operator;
  values: string[];
}

class SelectorParser {
  readonly #text: string;
  readonly #tokens: Token[];
  #at = 0;

  constructor(text: string) {
    this.#text = text;
    this.#tokens = lex(text);
  }

  parse(): ParsedRequirement[] {
    const requirements: ParsedRequirement[] = [];
    if (this.#peek().kind === 'end') return requirements;
    for (;;) {
      requirements.push(this.#requirement());
      const next = this.#next();
      if (next.kind === 'end') return requirements;
      if (next.kind !== ',')
        this.#fail(next, `found ${describe(next)}, expected "," or the end of the selector`);
    }
  }

  #requirement(): ParsedRequirement {
    let negated = false;
    if (this.#peek().kind === '!') {
      this.#next();
      negated = true;
    }
    const keyToken = this.#next();
    // In key and value position `in`/`notin` are plain words (selector.go's "Values" context).
    if (keyToken.kind !== 'ident' && keyToken.kind !== 'in' && keyToken.kind !== 'notin') {
      this.#fail(keyToken, `found ${describe(keyToken)}, expected a label key`);
    }
    const key = keyToken.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) this.#fail(keyToken, `invalid label key "${key}": ${keyProblem}`);

    const after = this.#peek();
    if (negated) return { key, op: 'DoesNotExist', values: [] };
    if (after.kind === 'end' || after.kind === ',') return { key, op: 'Exists', values: [] };

    const opToken = this.#next();
    switch (opToken.kind) {
      case 'in':
      case 'notin':
        return { key, op: opToken.kind === 'in' ? 'In' : 'NotIn', values: this.#valueSet() };
      case '=':
      case '==':
        return { key, op: 'Equals', values: [this.#exactValue()] };
      case '!=':
        return { key, op: 'NotIn', values: [this.#exactValue()] };
      case '>':
      case '<':
        return this.#fail(
          opToken,
          `operator "${opToken.text}" is not supported in a LabelSelector (use =, ==, !=, in, notin, key or !key)`,
        );
      default:
        return this.#fail(opToken, `found ${describe(opToken)}, expected one of =, ==, !=, in, notin`);
    }
  }

  /** `( v1, v2 )`; as in selector.go, empty items (`()`, `(a,,b)`, `(a,)`) are the empty value. */
  #valueSet(): string[] {
    const open = this.#next();
    if (open.kind !== '(')
      this.#fail(open, `found ${describe(open)}, expected "(" to open the list of values`);
    const values: string[] = [];
    let expectValue = true;
    for (;;) {
      const t = this.#next();
      if (t.kind === ')') {
        if (expectValue) values.push('');
        break;
      }
      if (t.kind === ',') {
        if (expectValue) values.push('');
        expectValue = true;
        continue;
      }
      if ((t.kind === 'ident' || t.kind === 'in' || t.kind === 'notin') && expectValue) {
        this.#checkValue(t);
        values.push(t.text);
        expectValue = false;
        continue;
      }
      if (t.kind === 'end') this.#fail(t, 'the list of values is not closed with ")"');
      this.#fail(t, `found ${describe(t)}, expected ${expectValue ? 'a value, "," or ")"' : '"," or ")"'}`);
    }
    return [...new Set(values)].sort();
  }

  /** The value after `=`, `==` or `!=`; nothing before `,` or the end is the empty value. */
  #exactValue(): string {
    const t = this.#peek();
    if (t.kind === 'end' || t.kind === ',') return '';
    this.#next();
    if (t.kind !== 'ident' && t.kind !== 'in' && t.kind !== 'notin') {
      this.#fail(t, `found ${describe(t)}, expected a label value`);
    }
    this.#checkValue(t);
    return t.text;
  }

  #checkValue(t: Token): void {
    const problem = labelValueProblem(t.text);
    if (problem) this.#fail(t, `invalid label value "${t.text}": ${problem}`);
  }

  #peek(): Token {
    return this.#tokens[this.#at]!;
  }

  #next(): Token {
    const t = this.#tokens[this.#at]!;
    if (t.kind !== 'end') this.#at++;
    return t;
  }

  #fail(t: Token, problem: string): never {
    throw new SelectorError(`invalid label selector "${this.#text}": ${problem} at column ${t.pos + 1}`, {
      selector: this.#text,
      position: t.pos,
      problem,
    });
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the selector' : `"${t.text}"`;
}

/**
 * Parses kubectl's selector syntax into a `LabelSelector`. Requirements are ANDed. An empty (or
 * blank) text gives `{}`, which — as in Kubernetes — matches every object: a caller that means
 * "no selector" must not pass an empty one. Throws SelectorError naming the column and the problem.
 */
export function parseSelector(text: string): LabelSelector {
  const requirements = new SelectorParser(text).parse();
  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const r of requirements) {
    if (r.op === 'Equals') {
      const value = r.values[0]!;
      // `a=1,a=2` must keep matching nothing; a second matchLabels entry would overwrite the first,
      // so a conflicting repeat becomes an equivalent one-value In.
      if (Object.hasOwn(matchLabels, r.key) && matchLabels[r.key] !== value) {
        matchExpressions.push({ key: r.key, operator: 'In', values: [value] });
      } else {
        matchLabels[r.key] = value;
      }
    } else if (r.op === 'Exists' || r.op === 'DoesNotExist') {
      matchExpressions.push({ key: r.key, operator: r.op });
    } else {
      matchExpressions.push({ key: r.key, operator: r.op, values: r.values });
    }
  }
  const selector: LabelSelector = {};
  if (Object.keys(matchLabels).length > 0) selector.matchLabels = matchLabels;
  if (matchExpressions.length > 0) selector.matchExpressions = matchExpressions;
  return selector;
}

/** kubectl syntax for a LabelSelector (the inverse of parseSelector, up to value order). */
export function formatSelector(selector: LabelSelector): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) parts.push(`${key}=${value}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = r.values ?? [];
    switch (r.operator) {
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
      case 'In':
        parts.push(`${r.key} in (${values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(`${r.key} notin (${values.join(',')})`);
        break;
    }
  }
  return parts.join(',');
}

// --- JSON form -----------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(path: string, problem: string, value?: unknown): never {
  throw new SelectorError(`${path}: ${problem}`, {
    path,
    problem,
    ...(value === undefined ? {} : { value }),
  });
}

/**
 * Validates a LabelSelector in its JSON form (as in an ExportRequest's `excluded_labels`) and returns
 * a clean copy. Rules of metav1 ValidateLabelSelector: keys and values valid, a known operator,
 * In/NotIn with at least one value, Exists/DoesNotExist with none. `null` fields count as absent
 * (serde writes `None` that way); unknown fields are refused. Errors name the offending `path`.
 */
export function validateLabelSelector(sel: unknown, path: string): LabelSelector {
  if (!isPlainObject(sel))
    invalid(path, 'expected a LabelSelector object ({matchLabels?, matchExpressions?})');
  const out: LabelSelector = {};
  for (const field of Object.keys(sel)) {
    if (field !== 'matchLabels' && field !== 'matchExpressions') {
      invalid(`${path}.${field}`, 'unknown field (a LabelSelector has matchLabels and matchExpressions)');
    }
  }
  const { matchLabels, matchExpressions } = sel;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isPlainObject(matchLabels))
      invalid(`${path}.matchLabels`, 'expected an object of label key to value');
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(matchLabels)) {
      const at = `${path}.matchLabels[${JSON.stringify(key)}]`;
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) invalid(at, `invalid label key: ${keyProblem}`);
      if (typeof value !== 'string') invalid(at, 'expected a string value', value);
      const valueProblem = labelValueProblem(value);
      if (valueProblem) invalid(at, `invalid label value "${value}": ${valueProblem}`);
      labels[key] = value;
    }
    out.matchLabels = labels;
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions))
      invalid(`${path}.matchExpressions`, 'expected an array of requirements');
    out.matchExpressions = matchExpressions.map((r, i) =>
      validateRequirement(r, `${path}.matchExpressions[${i}]`),
    );
  }
  return out;
}

function validateRequirement(r: unknown, path: string): LabelSelectorRequirement {
  if (!isPlainObject(r)) invalid(path, 'expected a requirement object ({key, operator, values?})');
  for (const field of Object.keys(r)) {
    if (field !== 'key' && field !== 'operator' && field !== 'values') {
      invalid(`${path}.${field}`, 'unknown field (a requirement has key, operator and values)');
    }
  }
  const { key, operator, values } = r;
  if (typeof key !== 'string') invalid(`${path}.key`, 'expected a string label key', key);
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) invalid(`${path}.key`, `invalid label key "${key}": ${keyProblem}`);
  if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) {
    invalid(
      `${path}.operator`,
      `unknown operator ${describeValue(operator)} (expected one of ${OPERATORS.join(', ')})`,
    );
  }
  const op = operator as Operator;
  let list: string[] = [];
  if (values !== undefined && values !== null) {
    if (!Array.isArray(values)) invalid(`${path}.values`, 'expected an array of strings');
    list = values.map((v, i) => {
      if (typeof v !== 'string') invalid(`${path}.values[${i}]`, 'expected a string', v);
      const problem = labelValueProblem(v);
      if (problem) invalid(`${path}.values[${i}]`, `invalid label value "${v}": ${problem}`);
      return v;
    });
  }
  if ((op === 'In' || op === 'NotIn') && list.length === 0) {
    invalid(`${path}.values`, `operator ${op} needs at least one value`);
  }
  if ((op === 'Exists' || op === 'DoesNotExist') && list.length > 0) {
    invalid(`${path}.values`, `operator ${op} takes no values`);
  }
  return op === 'In' || op === 'NotIn' ? { key, operator: op, values: list } : { key, operator: op };
}

// --- matching ------------------------------------------------------------------------------------

/**
 * Kubernetes semantics: every requirement must hold (AND); NotIn and DoesNotExist hold when the key
 * is absent. An empty selector matches everything — as metav1.LabelSelectorAsSelector does and as
 * SimKube's `matches` does for `excluded_labels` (no requirement fails, so it returns true): an empty
 * selector in `excluded_labels` therefore excludes every object, and we keep that meaning so the
 * same filters export the same trace here and in SimKube.
 * The selector is expected to be valid (validateLabelSelector / parseSelector).
 */
export function matchesSelector(labels: Record<string, string> | undefined, sel: LabelSelector): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    if (!Object.hasOwn(have, key) || have[key] !== value) return false;
  }
  for (const r of sel.matchExpressions ?? []) {
    const present = Object.hasOwn(have, r.key);
    switch (r.operator) {
      case 'In':
        if (!present || !(r.values ?? []).includes(have[r.key]!)) return false;
        break;
      case 'NotIn':
        if (present && (r.values ?? []).includes(have[r.key]!)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        throw new SelectorError(`unknown label selector operator ${JSON.stringify(r.operator)}`, {
          requirement: r,
        });
    }
  }
  return true;
}

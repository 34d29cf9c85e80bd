/**
 * Label keys, label values and cluster ids that are wrong BY CONSTRUCTION, from the rules as
 * Kubernetes and our docs state them — never filtered by the function under test (a too-lenient
 * check would then shrink the generator instead of failing the test):
 * - label key (apimachinery `IsQualifiedName`): an optional prefix, a DNS-1123 subdomain of at
 *   most 253 characters (lowercase letters, digits, `-`, `.`; alphanumeric at both ends), then
 *   `/`, then a name of 1–63 characters from letters, digits, `-`, `_`, `.`, alphanumeric at both
 *   ends;
 * - label value (`IsValidLabelValue`): empty, or a name as above;
 * - cluster id (docs/ingest-api.md): a DNS-1123 label, 1–63 lowercase letters, digits and `-`,
 *   alphanumeric at both ends.
 * Each arbitrary breaks exactly one of those rules of an otherwise valid value.
 */
import fc from 'fast-check';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = `${LOWER}ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`;
const alnum = fc.constantFrom(...ALNUM);
const lowerAlnum = fc.constantFrom(...`${LOWER}0123456789`);

/** A valid label name (1–`max` characters). */
function labelName(max = 63): fc.Arbitrary<string> {
  const inner = fc.string({ unit: fc.constantFrom(...`${ALNUM}-_.`), maxLength: Math.max(0, max - 2) });
  return fc.oneof(
    alnum,
    fc.tuple(alnum, inner, alnum).map(([a, m, b]) => a + m + b),
  );
}

/** A valid DNS-1123 label (1–63 lowercase alphanumerics and `-`). */
function dnsLabel(): fc.Arbitrary<string> {
  const inner = fc.string({ unit: fc.constantFrom(...`${LOWER}0123456789-`), maxLength: 20 });
  return fc.oneof(
    lowerAlnum,
    fc.tuple(lowerAlnum, inner, lowerAlnum).map(([a, m, b]) => a + m + b),
  );
}

const dnsSubdomain = fc.array(dnsLabel(), { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
export const validLabelKey = fc.oneof(
  labelName(),
  fc.tuple(dnsSubdomain, labelName()).map(([p, n]) => `${p}/${n}`),
);

/** One character that no label name, prefix or cluster id may hold (never `/`, which splits a key). */
const forbiddenChar = fc.oneof(
  fc.constantFrom(
    ' ',
    '=',
    '!',
    '(',
    ')',
    ',',
    ':',
    '@',
    '#',
    '%',
    '*',
    '\u0000',
    '\n',
    '\t',
    '"',
    '\\',
    '~',
  ),
  // Beyond ASCII: é, ключ, CJK, emoji halves — none is a letter in the rules above.
  fc.integer({ min: 0x80, max: 0xffff }).map((c) => String.fromCharCode(c)),
);
const edgeChar = fc.constantFrom('-', '_', '.');

/** `s` with `ch` inserted at a position drawn from `at` (0..1). */
const insertAt = (s: string, ch: string, at: number) => {
  const i = Math.floor(at * (s.length + 1));
  return s.slice(0, i) + ch + s.slice(i);
};
const position = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Label keys that are invalid by construction, each with the rule it breaks. */
export const badLabelKey: fc.Arbitrary<string> = fc.oneof(
  // A forbidden character anywhere in a valid key, and inside a name (between two valid characters,
  // so that only the character itself is wrong), with or without a prefix.
  fc.tuple(validLabelKey, forbiddenChar, position).map(([k, ch, at]) => insertAt(k, ch, at)),
  { weight: 3, arbitrary: fc.tuple(labelName(), forbiddenChar, labelName()).map(([a, ch, b]) => a + ch + b) },
  fc
    .tuple(dnsSubdomain, labelName(), forbiddenChar, labelName())
    .map(([p, a, ch, b]) => `${p}/${a}${ch}${b}`),
  // The name part too long (64–100 characters).
  fc.tuple(labelName(), fc.integer({ min: 0, max: 36 })).map(([n, k]) => n + 'x'.repeat(64 - n.length + k)),
  fc.tuple(dnsSubdomain, fc.integer({ min: 64, max: 80 })).map(([p, n]) => `${p}/${'a'.repeat(n)}`),
  // The name part starting or ending with -, _ or . (and so also a lone one).
  fc.tuple(edgeChar, labelName()).map(([e, n]) => e + n),
  fc.tuple(labelName(), edgeChar).map(([n, e]) => n + e),
  // Empty: the whole key, the prefix, the name.
  fc.constant(''),
  labelName().map((n) => `/${n}`),
  dnsSubdomain.map((p) => `${p}/`),
  // More than one '/'.
  fc.tuple(dnsSubdomain, labelName(), labelName()).map(([p, a, b]) => `${p}/${a}/${b}`),
  // A prefix that is no DNS subdomain: an uppercase letter, an '_' in it, or over 253 characters.
  fc
    .tuple(dnsSubdomain, fc.constantFrom(...'ABCXYZ_'), position, labelName())
    .map(([p, ch, at, n]) => `${insertAt(p, ch, at)}/${n}`),
  labelName().map((n) => `${'a'.repeat(254)}/${n}`),
  // kubectl selector syntax and prototype keys, the "selector injection" this started from.
  fc.constantFrom('app=web,tier in (a,b)', 'app=web', '!canary', 'a,b', 'app in (x)', 'x)', '(', '__proto__'),
);

/** Label values that are invalid by construction (empty is valid, so never produced). */
export const badLabelValue: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(labelName(), forbiddenChar, position).map(([v, ch, at]) => insertAt(v, ch, at)),
  { weight: 3, arbitrary: fc.tuple(labelName(), forbiddenChar, labelName()).map(([a, ch, b]) => a + ch + b) },
  fc.tuple(labelName(), fc.constantFrom('/')).map(([v, s]) => `${v}${s}x`),
  fc.integer({ min: 64, max: 100 }).map((n) => 'v'.repeat(n)),
  fc.tuple(edgeChar, labelName()).map(([e, v]) => e + v),
  fc.tuple(labelName(), edgeChar).map(([v, e]) => v + e),
  fc.constantFrom('web,tier=db', 'in (a,b)', '!x', 'a=b', '(x)'),
);

/** Cluster ids that are invalid by construction (docs/ingest-api.md: a DNS-1123 label). */
export const badClusterId: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .tuple(dnsLabel(), fc.oneof(forbiddenChar, fc.constantFrom('/', '.', '_', 'A', 'Z')), dnsLabel())
    .map(([a, ch, b]) => a + ch + b),
  fc
    .tuple(dnsLabel(), fc.oneof(forbiddenChar, fc.constantFrom('/', '.', '_', 'A', 'Z')), position)
    .map(([c, ch, at]) => insertAt(c, ch, at)),
  fc.integer({ min: 64, max: 300 }).map((n) => 'c'.repeat(n)),
  dnsLabel().map((c) => `-${c}`),
  dnsLabel().map((c) => `${c}-`),
);

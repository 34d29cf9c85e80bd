import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SktraceError } from '../../lib/errors.ts';
import { SpecHashError } from '../../lib/trace/errors.ts';
import {
  compareUtf8,
  createJsonHasher,
  hashInputBytes,
  hashJsonValue,
  specHash,
  specHashDocumentOrder,
} from '../../lib/trace/hash.ts';
import { sipHash13 } from '../../lib/trace/siphash.ts';
import { seededRand } from '../support/rand.ts';

// --- A slow, obviously-correct SipHash-1-3 over BigInt, to check the 32-bit-halves one against.
const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64;
function referenceSipHash13(bytes: Uint8Array, k0 = 0n, k1 = 0n): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = () => {
    v0 = (v0 + v1) & M64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const padded = [...bytes];
  while (padded.length % 8 !== 7) padded.push(0);
  padded.push(bytes.length & 0xff);
  for (let i = 0; i < padded.length; i += 8) {
    let m = 0n;
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(padded[i + j]!);
    v3 ^= m;
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

const u64le = (x: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, x), true);
  return [...b];
};
const f64le = (x: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, true);
  return [...b];
};
const str = (s: string) => [...new TextEncoder().encode(s), 0xff];

describe('SipHash-1-3', () => {
  // The reference implementation's vectors: key 00 01 .. 0f, message 00 01 .. (n-1).
  const K0 = 0x0706050403020100n;
  const K1 = 0x0f0e0d0c0b0a0908n;
  const vectors: [number, bigint][] = [
    [0, 0xabac0158050fc4dcn],
    [1, 0xc9f49bf37d57ca93n],
    [2, 0x82cb9b024dc7d44dn],
    [3, 0x8bf80ab8e7ddf7fbn],
    [7, 0xd3927d989bb11140n],
    [8, 0x369095118d299a8en],
    [9, 0x25a48eb36c063de4n],
    [15, 0xd320d86d2a519956n],
    [16, 0xcc4fdd1a7d908b66n],
    [17, 0x9cf2689063dbd80cn],
  ];
  for (const [n, expected] of vectors) {
    test(`reference vector, ${n} bytes`, () => {
      const msg = Uint8Array.from({ length: n }, (_, i) => i);
      assert.equal(sipHash13(msg, K0, K1), expected);
    });
  }

  test("Rust's DefaultHasher::new() (keys 0, 0) on empty input", () => {
    assert.equal(sipHash13(new Uint8Array(0)), 0xd1fba762150c532cn);
  });

  test('equals the BigInt reference on random inputs and keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.bigInt(0n, M64), fc.bigInt(0n, M64), (msg, k0, k1) => {
        assert.equal(sipHash13(msg, k0, k1), referenceSipHash13(msg, k0, k1));
      }),
      { numRuns: 300 },
    );
  });

  test('reads inputs at any byte offset of their buffer', () => {
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i * 7);
    for (let offset = 0; offset < 8; offset++) {
      const view = backing.subarray(offset, offset + 40);
      assert.equal(sipHash13(view), referenceSipHash13(Uint8Array.from(view)));
    }
  });
});

describe('spec hash byte stream (SimKube jsonutils::hash)', () => {
  const cases: { name: string; value: unknown; bytes: number[] }[] = [
    { name: 'null: 8 zero bytes', value: null, bytes: u64le(0n) },
    { name: 'absent (undefined) as null', value: undefined, bytes: u64le(0n) },
    { name: 'true', value: true, bytes: [1] },
    { name: 'false', value: false, bytes: [0] },
    { name: '0 as u64', value: 0, bytes: u64le(0n) },
    { name: '-0 as +0 (same bytes as 0)', value: -0, bytes: u64le(0n) },
    { name: 'small int as u64', value: 80, bytes: u64le(80n) },
    { name: '2^32 as u64', value: 2 ** 32, bytes: u64le(2n ** 32n) },
    { name: 'MAX_SAFE_INTEGER as u64', value: Number.MAX_SAFE_INTEGER, bytes: u64le(2n ** 53n - 1n) },
    { name: '-1 as i64', value: -1, bytes: u64le(-1n) },
    { name: '-2^40 as i64', value: -(2 ** 40), bytes: u64le(-(2n ** 40n)) },
    { name: 'float as f64 bits', value: 0.5, bytes: f64le(0.5) },
    { name: 'negative float', value: -2.75, bytes: f64le(-2.75) },
    { name: 'integer beyond 2^53 held as a number is a float', value: 2 ** 60, bytes: f64le(2 ** 60) },
    { name: 'bigint u64 max', value: 2n ** 64n - 1n, bytes: u64le(2n ** 64n - 1n) },
    { name: 'bigint beyond 2^53', value: 17156035354639895998n, bytes: u64le(17156035354639895998n) },
    { name: 'negative bigint as i64', value: -(2n ** 63n), bytes: u64le(-(2n ** 63n)) },
    { name: 'bigint beyond u64 as serde_json would: f64', value: 2n ** 64n, bytes: f64le(2 ** 64) },
    { name: 'empty string', value: '', bytes: [0xff] },
    { name: 'ascii string', value: 'nginx', bytes: str('nginx') },
    { name: 'non-ascii string', value: 'caf\u00e9 \u{1F600}', bytes: str('caf\u00e9 \u{1F600}') },
    { name: 'long string', value: 'x'.repeat(100) + '\u00e9', bytes: str('x'.repeat(100) + '\u00e9') },
    { name: 'short string, non-ascii late', value: 'abcdef\u00e9', bytes: str('abcdef\u00e9') },
    { name: 'empty array: nothing', value: [], bytes: [] },
    {
      name: 'nested arrays, no lengths',
      value: [1, [2, []], 'a'],
      bytes: [...u64le(1n), ...u64le(2n), ...str('a')],
    },
    { name: 'undefined in an array is null', value: [undefined], bytes: u64le(0n) },
    { name: 'empty object: nothing', value: {}, bytes: [] },
    {
      name: 'object keys sorted',
      value: { b: 1, a: -1 },
      bytes: [...str('a'), ...u64le(-1n), ...str('b'), ...u64le(1n)],
    },
    {
      name: 'undefined property is absent',
      value: { a: undefined, b: null },
      bytes: [...str('b'), ...u64le(0n)],
    },
    {
      name: 'keys by UTF-8 bytes: U+FB01 (EF AC 81) before U+1F600 (F0 9F 98 80), unlike UTF-16 order',
      value: { '\u{1F600}': 1, '\uFB01': 2 },
      bytes: [...str('\uFB01'), ...u64le(2n), ...str('\u{1F600}'), ...u64le(1n)],
    },
    {
      name: 'keys by bytes: "Z" < "a" < "é"',
      value: { '\u00e9': true, a: false, Z: null },
      bytes: [...str('Z'), ...u64le(0n), ...str('a'), 0, ...str('\u00e9'), 1],
    },
    {
      name: 'many keys (sorted by Array.prototype.sort)',
      value: Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`k${String(19 - i).padStart(2, '0')}`, i]).reverse(),
      ),
      bytes: Array.from({ length: 20 }, (_, i) => [
        ...str(`k${String(i).padStart(2, '0')}`),
        ...u64le(BigInt(19 - i)),
      ]).flat(),
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual([...hashInputBytes(c.value)], c.bytes);
      assert.equal(hashJsonValue(c.value), sipHash13(Uint8Array.from(c.bytes)));
    });
  }

  test('values without a JSON form are refused', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { a: [() => 1] },
      Symbol('x'),
      new Uint8Array(2),
    ]) {
      assert.throws(
        () => hashJsonValue(bad),
        (err) => err instanceof SpecHashError && err instanceof SktraceError && err.code === 'spec_hash',
      );
    }
  });

  test('specHash of an absent spec is the hash of null', () => {
    assert.equal(specHash(undefined), hashJsonValue(null));
    assert.equal(specHash(undefined), sipHash13(new Uint8Array(8)));
  });

  test('a scratch buffer that grew keeps giving the same hashes', () => {
    const hasher = createJsonHasher({ initialBytes: 64 });
    const small = { a: 'b' };
    const before = hasher.hash(small);
    hasher.hash({ big: 'y'.repeat(10_000) });
    hasher.hash({ huge: 'z'.repeat(2_000_000) }); // past the retained size: the scratch is dropped
    assert.equal(hasher.hash(small), before);
    assert.equal(before, hashJsonValue(small));
  });
});

describe('spec hash known answers (SimKube traces)', () => {
  const vectors = JSON.parse(
    readFileSync(new URL('../fixtures/trace/hash-vectors.json', import.meta.url), 'utf8'),
  ) as {
    source: string;
    keyOrder: 'sorted' | 'document';
    hash: string;
    spec: unknown;
  }[];

  test('the fixture holds the CronJob of cronjob.sktrace', () => {
    assert.ok(vectors.some((v) => v.hash === '17156035354639895998' && v.keyOrder === 'sorted'));
  });

  for (const v of vectors) {
    test(v.source, () => {
      const hash = v.keyOrder === 'sorted' ? specHash(v.spec) : specHashDocumentOrder(v.spec);
      assert.equal(hash, BigInt(v.hash));
    });
  }

  test('the two key orders differ on objects listed out of order, agree on sorted ones', () => {
    assert.notEqual(specHash({ b: 1, a: 2 }), specHashDocumentOrder({ b: 1, a: 2 }));
    assert.equal(
      specHash({ a: 2, b: { c: 1, d: [1] } }),
      specHashDocumentOrder({ a: 2, b: { c: 1, d: [1] } }),
    );
  });
});

describe('spec hash properties', () => {
  const json = fc.jsonValue({ maxDepth: 4 });

  test('equals SipHash of its byte stream, streamed or not', () => {
    const streamed = [8, 64, 4096].map((flushBytes) => createJsonHasher({ flushBytes, initialBytes: 64 }));
    fc.assert(
      fc.property(json, (value) => {
        const expected = sipHash13(hashInputBytes(value));
        assert.equal(hashJsonValue(value), expected);
        for (const h of streamed) assert.equal(h.hash(value), expected);
      }),
      { numRuns: 300 },
    );
  });

  test('does not depend on the order keys were inserted', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.integer(), { maxKeys: 12 }), (dict) => {
        const reversed = Object.fromEntries(Object.entries(dict).reverse());
        assert.equal(hashJsonValue(reversed), hashJsonValue(dict));
      }),
      { numRuns: 200 },
    );
  });

  test('object keys are fed in UTF-8 byte order, whatever characters they hold', () => {
    // Oracle: keys sorted by Buffer.compare of their UTF-8 bytes, each fed as bytes + 0xFF, then
    // the value (an integer: u64 LE). Keys mix ASCII, BMP above E000 and astral characters, whose
    // UTF-16 order differs (the hasher sorts by UTF-16 and re-sorts only where it must).
    const unit = fc.constantFrom(
      'a',
      'b',
      '\u00e9',
      '\uE000',
      '\uFB01',
      '\uFFFF',
      '\u{1F600}',
      '\u{10000}',
      '\u{10FFFF}',
    );
    const key = fc.array(unit, { maxLength: 4 }).map((u) => u.join(''));
    fc.assert(
      fc.property(fc.dictionary(key, fc.integer(), { maxKeys: 14 }), (dict) => {
        const keys = Object.keys(dict).sort((x, y) =>
          Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8')),
        );
        const expected = keys.flatMap((k) => [...str(k), ...u64le(BigInt(dict[k]!))]);
        assert.deepEqual([...hashInputBytes(dict)], expected);
      }),
      { numRuns: 1000 },
    );
  });

  test('one hasher over many objects: each key list in its own UTF-8 order, however often lists share keys', () => {
    // A hasher remembers the order of each key list it sorted (JSON.parse gives every object of
    // a kind the same lists). Lists here share first keys and lengths and differ after, in every
    // insertion order, and there are more distinct lists than it remembers (4096): a remembered
    // order reused for a list it does not fit, or a list matched on a prefix, feeds the keys in
    // the wrong order. Oracle: as above, Buffer.compare of the keys' UTF-8 bytes.
    const hasher = createJsonHasher();
    const names = ['a', 'b', 'c', 'd', 'e', 'f', '\u00e9', '\u{1F600}', '\uFB01'];
    const rand = seededRand(3);
    for (let i = 0; i < 12_000; i++) {
      const pool = [...names];
      const dict: Record<string, number> = {};
      const n = 1 + rand(7);
      for (let k = 0; k < n; k++) dict[pool.splice(rand(pool.length), 1)[0]!] = rand(1000);
      const keys = Object.keys(dict).sort((x, y) =>
        Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8')),
      );
      const expected = keys.flatMap((k) => [...str(k), ...u64le(BigInt(dict[k]!))]);
      assert.deepEqual(
        [...hasher.bytes(JSON.parse(JSON.stringify(dict)))],
        expected,
        JSON.stringify(Object.keys(dict)),
      );
    }
  });

  test('compareUtf8 orders well-formed strings as their UTF-8 bytes', () => {
    // No lone surrogates: they have no UTF-8 form (an encoder writes U+FFFD for them).
    const wellFormed = fc
      .string({ unit: 'binary', maxLength: 6 })
      .filter((s) => /^(?:[^\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/.test(s));
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => {
        const bytes = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        assert.equal(Math.sign(compareUtf8(a, b)), bytes);
      }),
      { numRuns: 500 },
    );
  });
});

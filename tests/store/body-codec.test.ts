/**
 * Stored bodies (lib/store/body-codec.ts) decode to what was encoded, through the reused inflater
 * and its fallback alike, and damaged bodies fail with a typed error without spoiling the bodies
 * after them. Oracles: the encoded value itself, and node:zlib's own `inflateRawSync` + JSON.parse
 * for damaged bytes (what decoding gave before the inflater was reused).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeBody, decodeLargeBody, encodeBody } from '../../lib/store/body-codec.ts';
import { BODY_DICTIONARY_V1 } from '../../lib/store/body-dictionary.ts';
import { StoreError } from '../../lib/store/errors.ts';
import { Float64 } from '../../lib/trace/float.ts';
import { deployment } from './support.ts';

const DICTIONARY = Buffer.from(BODY_DICTIONARY_V1, 'utf8');

/**
 * The stored-body contract for numbers (lib/trace/float.ts): a number written with a fraction or
 * an exponent whose value is an integer stays a float, as a Float64. Damage can make such a number
 * (`1.0` → `1.00`, `10` → `1e0`), so the oracle must know the rule too.
 */
function integralFloats(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  const written = context.source.includes('.') || /e/i.test(context.source);
  return written && (Number.isSafeInteger(value) || Object.is(value, -0)) ? new Float64(value) : value;
}

/** What node:zlib alone makes of the bytes: the parsed value, or that it fails. */
function oracle(bytes: Uint8Array): { value: unknown } | 'fails' {
  try {
    const text = inflateRawSync(bytes, { dictionary: DICTIONARY }).toString('utf8');
    return { value: JSON.parse(text, integralFloats as (key: string, value: unknown) => unknown) };
  } catch {
    return 'fails';
  }
}

describe('stored body codec', () => {
  it('round-trips JSON values of any size, bodies one after another (the inflater is reset between them)', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 4 }), { minLength: 1, maxLength: 8 }), (values) => {
        const bodies = values.map((v) => encodeBody(v));
        bodies.forEach((bytes, i) => {
          assert.deepEqual(decodeBody(bytes, 'd1'), JSON.parse(JSON.stringify(values[i])));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('decodes bodies larger than the reused output buffer (64 KiB of JSON and more)', () => {
    for (const size of [60_000, 65_536, 70_000, 300_000]) {
      const value = {
        o: deployment('big'),
        pad: 'x'.repeat(size),
        digits: Array.from({ length: 50 }, (_, i) => i),
      };
      assert.deepEqual(decodeBody(encodeBody(value), 'd1'), value);
    }
  });

  it('decodeLargeBody (checkpoints) decodes what decodeBody decodes, past its one output chunk too, and fails typed', () => {
    // Highly compressible (more than 8x: several output chunks) and incompressible-ish values.
    const objects = Array.from({ length: 300 }, (_, i) => ({ ts: i, o: deployment(`web-${i}`), w: [] }));
    for (const value of [{ objects }, { pad: 'x'.repeat(2_000_000) }, { f: 2.5, n: [1, 2, 3] }, []]) {
      const bytes = encodeBody(value);
      assert.deepEqual(decodeLargeBody(bytes, 'd1'), JSON.parse(JSON.stringify(value)));
      assert.deepEqual(decodeLargeBody(bytes, 'd1'), decodeBody(bytes, 'd1'));
    }
    const good = Uint8Array.from(encodeBody({ objects }));
    assert.throws(
      () => decodeLargeBody(good.slice(0, good.length >> 1), 'd1'),
      (err: unknown) => {
        return err instanceof StoreError && err.code === 'store_corrupt_item';
      },
    );
    assert.throws(() => decodeLargeBody(good, 'z9'), /unknown body encoding/);
  });

  it('damaged bodies fail as store_corrupt_item (or decode as zlib alone decodes them); later bodies are unharmed', () => {
    // A copy as a plain Uint8Array: encodeBody gives a Buffer, whose slice() is a view, not a copy.
    const good = Uint8Array.from(encodeBody({ o: deployment('web'), w: [] }));
    const expected = decodeBody(good, 'd1');
    fc.assert(
      fc.property(
        fc.oneof(
          // Truncated.
          fc.integer({ min: 0, max: good.length - 1 }).map((n) => good.slice(0, n)),
          // A byte changed.
          fc
            .tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }))
            .map(([at, x]) => {
              const b = good.slice();
              b[at]! ^= x;
              return b;
            }),
          // Garbage appended, or only garbage.
          fc.uint8Array({ minLength: 1, maxLength: 40 }).map((extra) => Uint8Array.from([...good, ...extra])),
          fc.uint8Array({ maxLength: 40 }),
        ),
        (bytes) => {
          const want = oracle(bytes);
          if (want === 'fails') {
            assert.throws(
              () => decodeBody(bytes, 'd1'),
              (err) => err instanceof StoreError && err.code === 'store_corrupt_item',
            );
          } else {
            // zlib accepted them (e.g. a change it cannot detect, or bytes after the end).
            let got: unknown;
            try {
              got = decodeBody(bytes, 'd1');
            } catch (err) {
              // Valid DEFLATE whose text is not JSON is corrupt for us, not for zlib.
              assert.ok(err instanceof StoreError && err.code === 'store_corrupt_item');
              return;
            }
            assert.deepEqual(got, want.value);
          }
          assert.deepEqual(decodeBody(good, 'd1'), expected);
        },
      ),
      { numRuns: 400 },
    );
  });
});

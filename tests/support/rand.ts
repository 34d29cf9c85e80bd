/**
 * A seeded xorshift32 generator for randomised tests: the same cases on every run, and every low
 * bit varies (so `% n` is fair enough for picking). Returns `rand(n)`, an integer in [0, n).
 */
export function seededRand(seed: number): (n: number) => number {
  let s = seed;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

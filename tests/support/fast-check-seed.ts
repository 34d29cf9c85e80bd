/**
 * Loaded before every test file (package.json `test:unit`, `--import`). Under CI every fast-check
 * property draws from one fixed seed, so whether a commit lands never depends on the draw; local
 * runs draw a fresh seed each time and print it on failure (`FC_SEED=<seed> npm run test:unit`
 * replays it). A rare input that breaks an oracle is found locally, not by a failed landing.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED ?? (process.env.CI ? '20261206' : undefined);
if (seed !== undefined) {
  const value = Number(seed);
  if (!Number.isSafeInteger(value)) throw new Error(`FC_SEED must be an integer, got "${seed}"`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: value });
}

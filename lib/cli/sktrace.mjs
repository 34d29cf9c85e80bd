#!/usr/bin/env node
// The `sktrace` command. It runs the TypeScript sources directly through tsx so that
// `npx sktrace` works right after `npm ci`, with no build step. `npx` puts
// node_modules/.bin first on PATH, so `node` here is the Node 22 from the `node` package.
//
// Started by another Node (the system's 20, say), a dependency would die on import with a stack
// trace (undici 8 needs Node ≥ 22.19: `zlib.createZstdDecompress` is undefined before it), so the
// version is checked first, in plain JavaScript that any Node parses.
const REQUIRED_MAJOR = 22;
const major = Number(process.versions.node.split('.')[0]);
if (major !== REQUIRED_MAJOR) {
  process.stderr.write(
    `sktrace: needs Node ${REQUIRED_MAJOR}, this is Node ${process.versions.node} (${process.execPath}); run \`npx sktrace\` after \`npm ci\`, which installs Node ${REQUIRED_MAJOR} in node_modules\n`,
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));

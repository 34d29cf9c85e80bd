#!/usr/bin/env node
// The `sktrace` command. It runs the TypeScript sources directly through tsx so that
// `npx sktrace` works right after `npm ci`, with no build step. `npx` puts
// node_modules/.bin first on PATH, so `node` here is the Node 22 from the `node` package.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));

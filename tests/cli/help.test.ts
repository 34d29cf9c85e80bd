import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('sktrace --help lists every command', async () => {
  const { stdout } = await run(process.execPath, ['lib/cli/sktrace.mjs', '--help']);
  for (const command of [
    'serve',
    'forward',
    'import',
    'export',
    'inspect',
    'token',
    'conformance',
    'view',
    'tail',
  ]) {
    assert.match(stdout, new RegExp(`\\b${command}\\b`));
  }
});

test('runs on Node 22, the Lambda runtime', () => {
  assert.equal(process.versions.node.split('.')[0], '22');
});

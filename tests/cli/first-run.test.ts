/**
 * First run on a machine whose own Node is not 22 (these machines have 20): the README's commands
 * print no npm warnings, and the CLI started by the wrong Node says which one it needs in one line.
 * The system Node and npm are found on PATH without node_modules/.bin (npm scripts put it first);
 * a machine without another Node skips those tests with one line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

const systemPath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !resolve(dir).startsWith(join(ROOT, 'node_modules')) && !dir.includes('node-gyp-bin'))
  .join(delimiter);

function onSystemPath(name: string): string | undefined {
  for (const dir of systemPath.split(delimiter)) {
    const path = join(dir, name);
    if (dir && existsSync(path)) return path;
  }
  return undefined;
}

const systemNode = onSystemPath('node');
const systemNpm = onSystemPath('npm');
const systemEnv: NodeJS.ProcessEnv = { ...process.env, PATH: systemPath };
for (const key of Object.keys(systemEnv)) {
  // npm run exports its config (loglevel, node path…) to the scripts it starts; a nested npm must
  // read only the project's .npmrc, as a user's shell would.
  if (key.startsWith('npm_')) delete systemEnv[key];
}

async function systemNodeMajor(): Promise<number | undefined> {
  if (!systemNode) return undefined;
  const { stdout } = await run(systemNode, ['--version']);
  return Number(stdout.trim().replace(/^v/, '').split('.')[0]);
}

test('the CLI under another Node prints one line naming Node 22 and exits non-zero', async (t) => {
  const major = await systemNodeMajor();
  if (major === undefined || major === 22) {
    t.skip(`no Node other than 22 on PATH (${systemNode ?? 'none'}): nothing to check`);
    return;
  }
  const result = await run(systemNode!, ['lib/cli/sktrace.mjs', 'inspect', 'x'], { cwd: ROOT }).then(
    () => assert.fail('sktrace succeeded under the wrong Node'),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^sktrace: needs Node 22, this is Node 2?\d/);
  assert.doesNotMatch(result.stderr, /\bat \S+:\d+:\d+/); // no stack trace
});

test('npx sktrace and npm ci (dry run) under the system npm print no warnings', async (t) => {
  if (!systemNpm) {
    t.skip('no npm on PATH outside node_modules: nothing to check');
    return;
  }
  const npx = await run(systemNpm, ['exec', '--offline', '--', 'sktrace', '--help'], {
    cwd: ROOT,
    env: systemEnv,
  });
  assert.match(npx.stdout, /Usage: sktrace/);
  assert.equal(npx.stderr, '', 'npx sktrace --help wrote to stderr');
  const ci = await run(systemNpm, ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund'], {
    cwd: ROOT,
    env: systemEnv,
  });
  assert.doesNotMatch(ci.stderr, /npm (warn|WARN)|EBADENGINE/, ci.stderr);
});

test('every installed package accepts the Node 22 that runs it (npm engine check under Node 22)', async (t) => {
  // .npmrc hides npm's engine warnings because npm checks them against the Node running npm; the
  // same check, run by npm itself under the installed Node 22, must find nothing.
  if (!systemNpm) {
    t.skip('no npm on PATH outside node_modules: nothing to check');
    return;
  }
  const npmCli = join(dirname(realpathSync(systemNpm)), 'npm-cli.js');
  if (!existsSync(npmCli)) {
    t.skip(`npm's entry point is not at ${npmCli}: nothing to check`);
    return;
  }
  const { stderr } = await run(
    process.execPath,
    [npmCli, 'ci', '--dry-run', '--offline', '--no-audit', '--no-fund', '--loglevel=warn'],
    { cwd: ROOT, env: systemEnv },
  );
  assert.doesNotMatch(stderr, /EBADENGINE/, stderr);
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromShell } from './remote.ts';

test('a file named on the command line is found where the user typed the command', () => {
  const cwd = process.cwd();
  // `npm run callgate` typed in /home/me/calls: npm runs the CLI in the package's folder.
  const npmRun = { INIT_CWD: '/home/me/calls', npm_package_json: join(cwd, 'package.json') };
  assert.equal(fromShell('caller.wav', npmRun), '/home/me/calls/caller.wav');
  assert.equal(fromShell('/tmp/a.wav', npmRun), '/tmp/a.wav');
  // A process under another npm script that runs elsewhere (`cd out && callgate …`) inherits INIT_CWD: its own
  // folder is where its files are named from.
  const underScript = { INIT_CWD: '/home/me/calls', npm_package_json: '/srv/other-project/package.json' };
  assert.equal(fromShell('caller.wav', underScript), join(cwd, 'caller.wav'));
  assert.equal(fromShell('caller.wav', {}), join(cwd, 'caller.wav'));
});

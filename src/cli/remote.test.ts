import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromShell, untilSignal } from './remote.ts';

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

test('a repeated Ctrl-C while a command stops is still caught, until the command is done', () => {
  // `npm run callgate -- calls listen …` and Ctrl-C: the terminal signals the whole group, then npm forwards its
  // own copy. A second SIGINT that finds no handler kills the command before it writes what it collected.
  const proc = new EventEmitter();
  const stop = untilSignal(proc as unknown as Parameters<typeof untilSignal>[0]);
  proc.emit('SIGINT');
  assert.equal(stop.signal.aborted, true);
  assert.equal(proc.listenerCount('SIGINT'), 1, 'the second SIGINT must find a handler');
  assert.equal(proc.listenerCount('SIGTERM'), 1);
  proc.emit('SIGINT');
  stop.dispose();
  assert.equal(proc.listenerCount('SIGINT'), 0, 'once done, signals act as usual');
  assert.equal(proc.listenerCount('SIGTERM'), 0);
});

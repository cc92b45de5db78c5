// Operators type the CLI commands the README and docs/ show: each must name a command, subcommand and flags the
// CLI has (the table completion and --help are built from), or the first thing a reader tries is a usage error.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandTable } from './completion.ts';

const ROOT = join(import.meta.dirname, '../..');

function documents(): { file: string; text: string }[] {
  const files = [
    'README.md',
    'packages/sdk/README.md',
    'examples/ivr/README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ];
  // A shell line continued with `\` is one command.
  return files.map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8').replace(/\\\n\s*/g, ' ') }));
}

/** Every invocation shown: `npm run --silent callgate -- …`, `` `callgate …` `` and `source <(callgate …)`. */
function documentedInvocations(text: string): string[][] {
  const found: string[][] = [];
  for (const m of text.matchAll(/(?:npm run --silent callgate --|`callgate|source <\(callgate) ([^`\n#)]*)/g)) {
    const words = (m[1] ?? '').trim().split(/\s+/);
    // `callgate ready: …` quotes a log line, not a command.
    if (words[0] !== undefined && /^[a-z][a-z-]*$/.test(words[0])) {
      found.push(words);
    }
  }
  return found;
}

function invocationProblems(words: string[], table = commandTable()): string[] {
  const [name = '', sub] = words;
  const group = table[name];
  if (group === undefined) {
    return [`no command "${name}"`];
  }
  const problems: string[] = [];
  // A placeholder (<id>, [--x]) or a flag where the subcommand goes is not a subcommand.
  if (group.commands.length > 0 && sub !== undefined && /^[a-z]/.test(sub)) {
    const subcommand = sub.replace(/[.,;:]$/, '');
    if (!group.commands.includes(subcommand)) {
      problems.push(`no subcommand "${name} ${subcommand}"`);
    }
  }
  for (const word of words) {
    const flag = /^\[?(--[a-z][a-z-]*)/.exec(word)?.[1];
    if (flag !== undefined && flag !== '--help' && !group.flags.includes(flag)) {
      problems.push(`no flag ${flag} on "${name}"`);
    }
  }
  return problems;
}

test('every callgate command the README and docs/ show exists, with its subcommand and flags', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const { file, text } of documents()) {
    for (const words of documentedInvocations(text)) {
      checked++;
      for (const problem of invocationProblems(words)) {
        problems.push(`${file}: callgate ${words.join(' ')}: ${problem}`);
      }
    }
  }
  assert.ok(checked > 30, `${checked} invocations found`);
  assert.deepEqual(problems, []);
});

test("the README says how to run the `callgate …` the CLI's hints name before it first names one that way", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // The CLI prints `callgate calls accept <id>` (simulate call) whether or not `callgate` is on PATH.
  const simulate = readFileSync(join(import.meta.dirname, 'simulate.ts'), 'utf8');
  assert.match(simulate, /callgate calls accept \$\{call\.id\}/);
  const firstRun = readme.indexOf('npm run --silent callgate --');
  const firstBare = readme.search(/`callgate [a-z]/);
  const explained = readme.search(/name its commands `callgate …`: that is\s+`npm run --silent callgate -- …`/);
  assert.ok(firstRun >= 0 && firstBare >= 0);
  assert.ok(explained >= 0, 'the README explains the `callgate …` form');
  assert.ok(explained < firstBare, 'before the first `callgate …` it shows');
  assert.ok(readme.slice(explained, explained + 300).includes('npm link'), 'with the way to put it on PATH');
});

test('a misspelt command, subcommand or flag in the docs is reported', () => {
  assert.deepEqual(invocationProblems(['tenant', 'create']), ['no command "tenant"']);
  assert.deepEqual(invocationProblems(['calls', 'lst']), ['no subcommand "calls lst"']);
  assert.deepEqual(invocationProblems(['calls', 'list', '--statu', 'RINGING']), ['no flag --statu on "calls"']);
  assert.deepEqual(invocationProblems(['worker', '[--metrics-port', '<port>]']), []);
  assert.deepEqual(invocationProblems(['calls', 'accept', '<callId>', '--record']), []);
  assert.deepEqual(documentedInvocations('run `callgate ready: API` then `callgate simulate call --no-wait`.'), [
    ['simulate', 'call', '--no-wait'],
  ]);
});

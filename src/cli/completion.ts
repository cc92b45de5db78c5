// `callgate completion bash|zsh`: a completion script for the commands, their subcommands and their flags, made
// from the same tables the commands parse with, so it cannot list a flag that does not exist. zsh uses the bash
// function through bashcompinit (shipped with zsh).
import { CALLS_COMMANDS, CALLS_OPTIONS } from './calls.ts';
import { KEYS_COMMANDS } from './keys.ts';
import { LISTEN_OPTIONS } from './listen.ts';
import { NUMBERS_COMMANDS, NUMBERS_OPTIONS } from './numbers.ts';
import { flagNames, HelpRequested, remoteOptions, UsageError, wantsHelp } from './remote.ts';
import { SIMULATE_COMMANDS, SIMULATE_OPTIONS } from './simulate.ts';
import { STORE_OPTIONS } from './store.ts';
import { unknownChoice } from './suggest.ts';
import { WEBHOOKS_COMMANDS, WEBHOOKS_OPTIONS } from './webhooks.ts';

export const COMPLETION_USAGE = `usage: callgate completion bash|zsh
  prints a shell completion script. Load it for this shell, or add the line to ~/.bashrc / ~/.zshrc:
    source <(callgate completion bash)      # bash
    source <(callgate completion zsh)       # zsh`;

const SHELLS = ['bash', 'zsh'] as const;

interface Group {
  commands: readonly string[];
  flags: readonly string[];
}

/** Every command: its subcommands (none for single commands) and flags. */
export function commandTable(): Record<string, Group> {
  const remote = (options: Parameters<typeof remoteOptions>[0]) => flagNames(remoteOptions(options));
  return {
    // tenants.ts loads the store: its subcommands and flags of its own are named here.
    tenants: { commands: ['create', 'rotate-key'], flags: [...flagNames(STORE_OPTIONS), '--name', '--tenant'] },
    migrate: { commands: [], flags: flagNames(STORE_OPTIONS) },
    // secret-key.ts loads the store too.
    'secret-key': { commands: ['rotate'], flags: [...flagNames(STORE_OPTIONS), '--force', '--dry-run'] },
    // backup.ts loads node:sqlite.
    backup: { commands: [], flags: [...flagNames(STORE_OPTIONS), '--force'] },
    // worker.ts loads the store and the services: its one flag of its own is named here.
    worker: { commands: [], flags: [...flagNames(STORE_OPTIONS), '--metrics-port'] },
    numbers: { commands: NUMBERS_COMMANDS, flags: remote(NUMBERS_OPTIONS) },
    keys: { commands: KEYS_COMMANDS, flags: remote({}) },
    webhooks: { commands: WEBHOOKS_COMMANDS, flags: remote(WEBHOOKS_OPTIONS) },
    calls: { commands: CALLS_COMMANDS, flags: remote(CALLS_OPTIONS) },
    simulate: { commands: SIMULATE_COMMANDS, flags: remote(SIMULATE_OPTIONS) },
    listen: { commands: [], flags: remote(LISTEN_OPTIONS) },
    completion: { commands: SHELLS, flags: ['--help'] },
  };
}

function bashScript(): string {
  const table = commandTable();
  const cases = Object.entries(table)
    .map(([name, g]) => {
      const flags = g.flags.join(' ');
      return g.commands.length > 0
        ? `    ${name}) if [ "$COMP_CWORD" -eq 2 ]; then words="${g.commands.join(' ')}"; else words="${flags}"; fi ;;`
        : `    ${name}) words="${flags}" ;;`;
    })
    .join('\n');
  return `# callgate completion (bash); load with: source <(callgate completion bash)
_callgate() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${Object.keys(table).join(' ')} --help"
  else
    case "\${COMP_WORDS[1]}" in
${cases}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _callgate callgate
`;
}

export function completionScript(shell: (typeof SHELLS)[number]): string {
  return shell === 'bash'
    ? bashScript()
    : `#compdef callgate\n# callgate completion (zsh); load with: source <(callgate completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bashScript()}`;
}

export function runCompletion(args: string[]): void {
  if (wantsHelp(args)) {
    throw new HelpRequested(COMPLETION_USAGE);
  }
  const [shell, ...extra] = args;
  if (shell === undefined) {
    throw new UsageError(COMPLETION_USAGE);
  }
  if (!(SHELLS as readonly string[]).includes(shell) || extra.length > 0) {
    throw new UsageError(`${unknownChoice('shell', shell, SHELLS)}\n${COMPLETION_USAGE}`);
  }
  process.stdout.write(completionScript(shell as (typeof SHELLS)[number]));
}

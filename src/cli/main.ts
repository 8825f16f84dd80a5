import { isSlideError } from '../slide/index.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';
import { analysisCommands } from './analysis-commands.ts';
import { daemonCommands } from './daemon-commands.ts';
import { otaCommands } from './ota-commands.ts';
import { slideCommands } from './slide-commands.ts';
import { syncCommands } from './sync-commands.ts';
import { userCommands } from './user-commands.ts';

const commands: Command[] = [...slideCommands, ...analysisCommands, ...daemonCommands, ...syncCommands, ...userCommands, ...otaCommands];

function help(): string {
  const width = Math.max(...commands.map((c) => c.usage.length));
  return ['usage: pathbox COMMAND [...]', '', ...commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)].join('\n');
}

/** Finds the longest command name that prefixes argv (`slide info` before `slide`). */
function find(argv: string[]): { command: Command; rest: string[] } | null {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = commands.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return null;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    process.stdout.write(`${help()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const found = find(argv);
  if (!found) {
    process.stderr.write(`pathbox: unknown command "${argv.slice(0, 2).join(' ')}"\n${help()}\n`);
    return 2;
  }
  try {
    await found.command.run(found.rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`pathbox ${found.command.name}: ${e.message}\nusage: ${found.command.usage}\n`);
      return 2;
    }
    const file = found.rest.find((a) => !a.startsWith('-'));
    if (isSlideError(e)) {
      process.stderr.write(`pathbox: ${file ?? ''}: ${e.message} [${e.code}]\n`);
      return 1;
    }
    process.stderr.write(`pathbox ${found.command.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

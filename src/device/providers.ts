/**
 * Which onnxruntime execution providers really work here: provider-check.ts tries each one in a child
 * process, killed if it outlives the deadline.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ExecutionProviderProfile } from './types.ts';

const CHECKER = fileURLToPath(new URL('./provider-check.ts', import.meta.url));

const checkerLine = z.union([
  z.object({ backends: z.array(z.string()) }),
  z.object({ name: z.string(), ok: z.boolean(), reason: z.string().optional() }),
]);

export type ProviderProbe = { ok: true; profile: ExecutionProviderProfile } | { ok: false; reason: string };

/** Never rejects: a checker that cannot start, crashes or hangs is described in the result. */
export async function probeExecutionProviders(timeoutMs: number, checker = CHECKER): Promise<ProviderProbe> {
  const run = await runChecker(checker, timeoutMs);
  let backends: string[] | undefined;
  const profile: ExecutionProviderProfile = { available: [], unavailable: [] };
  for (const text of run.stdout.split('\n').filter((l) => l.trim() !== '')) {
    const line = parseLine(text);
    if (line === null) return { ok: false, reason: `onnxruntime provider check printed ${JSON.stringify(text.slice(0, 200))}` };
    if ('backends' in line) backends = line.backends;
    else if (line.ok) profile.available.push(line.name);
    else profile.unavailable.push({ name: line.name, reason: readableReason(line.reason ?? 'unknown failure') });
  }
  if (backends === undefined) {
    return { ok: false, reason: `onnxruntime-node could not be loaded: ${run.failure ?? 'the provider check printed nothing'}` };
  }
  const answered = new Set([...profile.available, ...profile.unavailable.map((u) => u.name)]);
  // The checker goes in order, so the first provider without an answer is the one that stopped it.
  backends
    .filter((name) => !answered.has(name))
    .forEach((name, index) =>
      profile.unavailable.push({
        name,
        reason: index === 0 ? `its check did not finish: ${run.failure ?? 'the checker stopped'}` : 'not checked: an earlier provider check did not finish',
      }),
    );
  return { ok: true, profile };
}

function parseLine(text: string): z.infer<typeof checkerLine> | null {
  try {
    const parsed = checkerLine.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Resolves with whatever the checker printed, plus why it ended early if it did. */
function runChecker(checker: string, timeoutMs: number): Promise<{ stdout: string; failure?: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [checker],
      // SIGKILL: a provider stuck in native driver code may never reach a JavaScript signal handler.
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) resolve({ stdout });
        else if (error.killed) resolve({ stdout, failure: `no answer within ${timeoutMs} ms (killed)` });
        else resolve({ stdout, failure: `${error.message.split('\n')[0]}${stderr ? `: ${lastNonEmptyLine(stderr)}` : ''}` });
      },
    );
  });
}

/**
 * onnxruntime messages may start with "/onnxruntime_src/<file>:<line> <function> <failed check>. " before
 * the sentence that means something to a person; keep that sentence.
 */
function readableReason(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? text;
  const sentenceStart = line.lastIndexOf('. ');
  return line.startsWith('/') && sentenceStart > 0 ? line.slice(sentenceStart + 2) : line;
}

function lastNonEmptyLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

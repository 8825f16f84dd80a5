/**
 * Runs fuzz cases in a worker thread so the test's main thread can watch it: a synchronous hang blocks
 * only this thread, and the main thread still names the case when it gives up on it.
 * Protocol: receives FuzzCaseRequest messages, answers each with one FuzzCaseResult.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { caseRng, mutate, prepareSeed, type SeedFile } from './slide-mutator.ts';
import { ContractViolation, describe, exerciseSlide } from './slide-contract.ts';

export interface FuzzWorkerData {
  /** Seed files by name. */
  seeds: Record<string, string>;
  runSeed: number;
  tmpDir: string;
  caseTimeoutMs: number;
}

/** index -1 is the unmutated seed. */
export interface FuzzCaseRequest {
  seed: string;
  index: number;
}

export interface FuzzCaseResult extends FuzzCaseRequest {
  ms: number;
  outcomes: string[];
  rssGrowth: number;
  steps: string[];
  /** Set when the case broke the contract. */
  violation: string | null;
  /** The mutant, kept by the main thread only when the case failed. */
  bytes: Uint8Array | null;
}

const data = workerData as FuzzWorkerData;
const port = parentPort;
if (!port) throw new Error('slide-fuzz-worker must run in a worker thread');
const seeds = new Map<string, SeedFile>();
const casePath = path.join(data.tmpDir, `case-${threadId}.bin`);
/** Rejections nobody handled: whichever case is running when they surface is failed for them. */
const unhandled: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(describe(reason)));

function seedFile(name: string): SeedFile {
  let seed = seeds.get(name);
  if (!seed) {
    seed = prepareSeed(name, readFileSync(data.seeds[name]));
    seeds.set(name, seed);
  }
  return seed;
}

async function runCase(request: FuzzCaseRequest): Promise<FuzzCaseResult> {
  const seed = seedFile(request.seed);
  const mutant = request.index < 0 ? { bytes: seed.bytes, steps: ['unmutated'] } : mutate(seed, caseRng(data.runSeed, seed.name, request.index));
  writeFileSync(casePath, mutant.bytes);
  const started = performance.now();
  let outcomes: string[] = [];
  let rssGrowth = 0;
  let violation: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContractViolation(`no answer within ${data.caseTimeoutMs} ms (hang)`)), data.caseTimeoutMs);
  });
  try {
    ({ outcomes, rssGrowth } = await Promise.race([exerciseSlide(casePath), timeout]));
  } catch (e) {
    violation = e instanceof ContractViolation ? `${e.message}${e.cause ? `\n${describe(e.cause)}` : ''}` : `harness error: ${describe(e)}`;
  } finally {
    clearTimeout(timer);
  }
  // Let rejections from this case's stray promises surface before judging it.
  await new Promise((resolve) => setImmediate(resolve));
  if (unhandled.length > 0) violation = `${violation ?? ''}unhandled rejection: ${unhandled.splice(0).join('\n')}`;
  return {
    ...request,
    ms: performance.now() - started,
    outcomes,
    rssGrowth,
    steps: mutant.steps,
    violation,
    bytes: violation ? new Uint8Array(mutant.bytes) : null,
  };
}

port.on('message', (request: FuzzCaseRequest | 'stop') => {
  if (request === 'stop') {
    port.close();
    return;
  }
  runCase(request).then((result) => port.postMessage(result));
});
port.postMessage('ready');

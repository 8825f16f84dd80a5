/**
 * Fuzzes the slide reader with seeded mutations of every fixture slide: each case must end in valid
 * results or typed SlideErrors, within a time bound and without a jump in memory.
 *
 *   PATHBOX_FUZZ_CASES=50000 node --test test/slide/fuzz.test.ts    long local run (default 3000)
 *   PATHBOX_FUZZ_SEED=123                                           another run seed (or "random")
 *   PATHBOX_FUZZ_CASE='small.svs#17'                                replay one case (with the run's seed)
 * Failing mutants are written to test-output/slide-fuzz/ for a closer look.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { fixture, projectRoot, skipUnlessFixtures } from '../helpers/fixtures.ts';
import type { FuzzCaseRequest, FuzzCaseResult, FuzzWorkerData } from '../helpers/slide-fuzz-worker.ts';

const DEFAULT_RUN_SEED = 20251122;
const CASE_TIMEOUT_MS = 5_000;
/** A synchronous hang never lets the worker's own timer fire; the main thread waits this long more. */
const WATCHDOG_SLACK_MS = 10_000;
const RSS_GROWTH_LIMIT = 384 * 1024 * 1024;
/** Seeds smaller than this count as this large when sharing out the cases. */
const SIZE_FLOOR_BYTES = 256 * 1024;

const caseCount = Number(process.env.PATHBOX_FUZZ_CASES ?? 3000);
const runSeed = process.env.PATHBOX_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.PATHBOX_FUZZ_SEED ?? DEFAULT_RUN_SEED);
const replay = process.env.PATHBOX_FUZZ_CASE;
const workerCount = Math.max(1, Math.min(4, availableParallelism()));

interface Failure {
  result: Pick<FuzzCaseResult, 'seed' | 'index' | 'steps' | 'bytes'>;
  reason: string;
}

/**
 * Runs requests on worker threads, one case at a time each, restarting a worker that hangs or dies.
 * Results arrive in completion order.
 */
function runCases(requests: FuzzCaseRequest[], data: FuzzWorkerData, onResult: (r: FuzzCaseResult) => void, onFailure: (f: Failure) => void): Promise<void> {
  const queue = [...requests];
  const inFlight = new Map<number, FuzzCaseRequest>();
  const slots = Math.min(workerCount, queue.length);
  return new Promise((resolve) => {
    let running = slots;
    const startSlot = (slot: number) => {
      const worker = new Worker(new URL('../helpers/slide-fuzz-worker.ts', import.meta.url), { workerData: data });
      let watchdog: NodeJS.Timeout | undefined;
      let retired = false;
      const retire = (reason: string | null) => {
        if (retired) return;
        retired = true;
        clearTimeout(watchdog);
        const request = inFlight.get(slot);
        inFlight.delete(slot);
        if (reason !== null && request) {
          const others = [...inFlight.values()].map((r) => caseId(r)).join(', ');
          onFailure({ result: { ...request, steps: ['(see replay)'], bytes: null }, reason: `${reason}${others ? ` (also running: ${others})` : ''}` });
        }
        void worker.terminate();
        if (reason !== null && queue.length > 0) startSlot(slot);
        else if (--running === 0) resolve();
      };
      const dispatch = () => {
        const next = queue.shift();
        if (!next) {
          worker.postMessage('stop');
          retire(null);
          return;
        }
        inFlight.set(slot, next);
        worker.postMessage(next);
        watchdog = setTimeout(() => retire(`worker gave no answer within ${CASE_TIMEOUT_MS + WATCHDOG_SLACK_MS} ms (synchronous hang)`), CASE_TIMEOUT_MS + WATCHDOG_SLACK_MS);
      };
      worker.on('message', (message: FuzzCaseResult | 'ready') => {
        if (message !== 'ready') {
          clearTimeout(watchdog);
          inFlight.delete(slot);
          const others = [...inFlight.values()].map((r) => caseId(r));
          if (message.violation === null && message.rssGrowth > RSS_GROWTH_LIMIT) {
            message.violation = `RSS grew by ${mb(message.rssGrowth)} MB during the case${others.length ? ` (also running: ${others.join(', ')})` : ''}`;
          }
          onResult(message);
        }
        dispatch();
      });
      worker.on('error', (e: unknown) => retire(`worker crashed: ${e instanceof Error ? e.stack : String(e)}`));
      worker.on('exit', (code) => retire(`worker exited with code ${code}`));
    };
    for (let slot = 0; slot < slots; slot++) startSlot(slot);
  });
}

function caseId(r: FuzzCaseRequest): string {
  return `${r.seed}#${r.index}`;
}

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

function seedFiles(): Record<string, string> {
  const dir = fixture('slides');
  const seeds: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (!name.startsWith('.') && statSync(path.join(dir, name)).isFile()) seeds[name] = path.join(dir, name);
  }
  return seeds;
}

/**
 * Cases per seed, from file size (a stand-in for decode cost that keeps the plan reproducible): more
 * for small seeds, but never so skewed that the large, structurally rich slides get few.
 */
function shareCases(seeds: Record<string, string>, total: number): FuzzCaseRequest[] {
  const weights = Object.entries(seeds).map(([seed, file]) => [seed, 1 / Math.sqrt(Math.max(statSync(file).size, SIZE_FLOOR_BYTES))] as const);
  const sum = weights.reduce((s, [, w]) => s + w, 0);
  const perSeed = weights.map(([seed, w]) => [seed, Math.max(1, Math.round((total * w) / sum))] as const);
  const requests: FuzzCaseRequest[] = [];
  // Interleaved, so every worker sees every seed and slow seeds do not pile up at the end.
  for (let index = 0; requests.length < perSeed.reduce((s, [, n]) => s + n, 0); index++) {
    for (const [seed, n] of perSeed) if (index < n) requests.push({ seed, index });
  }
  return requests;
}

function report(failures: Failure[]): string {
  const outDir = path.join(projectRoot, 'test-output', 'slide-fuzz');
  mkdirSync(outDir, { recursive: true });
  return failures.map(({ result, reason }) => {
    const id = caseId(result);
    let saved = '';
    if (result.bytes) {
      saved = path.join(outDir, id.replace(/[^\w.#-]/g, '_'));
      writeFileSync(saved, result.bytes);
    }
    return [
      `case ${id} (run seed ${runSeed}): ${reason}`,
      `  mutation: ${result.steps.join('; ')}`,
      saved ? `  mutant saved: ${saved}` : '',
      `  replay: PATHBOX_FUZZ_SEED=${runSeed} PATHBOX_FUZZ_CASE='${id}' node --test test/slide/fuzz.test.ts`,
    ].filter(Boolean).join('\n');
  }).join('\n\n');
}

test('the slide reader turns every mutated fixture into results or typed errors', { skip: skipUnlessFixtures('slides'), timeout: 60 * 60 * 1000 }, async (t) => {
  // sharp is loaded by the main thread before any worker, so a worker's exit never unloads it.
  await import('sharp');
  const seeds = seedFiles();
  const tmpDir = mkdtempSync(path.join(tmpdir(), 'pathbox-fuzz-'));
  const data: FuzzWorkerData = { seeds, runSeed, tmpDir, caseTimeoutMs: CASE_TIMEOUT_MS };
  const failures: Failure[] = [];
  const onFailure = (f: Failure) => failures.push(f);
  const outcomeCounts = new Map<string, Map<string, number>>();
  let ran = 0;
  const onResult = (r: FuzzCaseResult) => {
    ran++;
    if (r.violation) failures.push({ result: r, reason: r.violation });
    const counts = outcomeCounts.get(r.seed) ?? new Map<string, number>();
    const verdict = r.outcomes.find((o) => !o.endsWith(':ok') && o.startsWith('openSlide')) ?? (r.outcomes.some((o) => !o.endsWith(':ok')) ? 'opened, some reads failed' : 'all reads ok');
    counts.set(verdict, (counts.get(verdict) ?? 0) + 1);
    outcomeCounts.set(r.seed, counts);
    if (replay) t.diagnostic(`${caseId(r)}: ${r.steps.join('; ')} -> ${r.outcomes.join(', ')} (${r.ms.toFixed(1)} ms, RSS +${mb(r.rssGrowth)} MB)`);
  };
  try {
    if (replay) {
      const [seed, index] = [replay.slice(0, replay.lastIndexOf('#')), Number(replay.slice(replay.lastIndexOf('#') + 1))];
      assert.ok(seeds[seed] && Number.isInteger(index), `PATHBOX_FUZZ_CASE must be "<fixture>#<index>", got ${replay}`);
      await runCases([{ seed, index }], data, onResult, onFailure);
    } else {
      await runCases(Object.keys(seeds).map((seed) => ({ seed, index: -1 })), data, onResult, onFailure);
      assert.equal(failures.length, 0, `unmutated fixtures already break the contract:\n${report(failures)}`);
      outcomeCounts.clear();
      const requests = shareCases(seeds, caseCount);
      const started = performance.now();
      await runCases(requests, data, onResult, onFailure);
      const seconds = (performance.now() - started) / 1000;
      t.diagnostic(`run seed ${runSeed}: ${requests.length} mutated cases in ${seconds.toFixed(1)} s on ${workerCount} workers = ${(requests.length / seconds).toFixed(0)} cases/s`);
      for (const [seed, counts] of [...outcomeCounts].sort()) {
        const line = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
        t.diagnostic(`  ${seed}: ${line}`);
      }
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  assert.equal(failures.length, 0, `${failures.length} case(s) broke the reader's contract:\n\n${report(failures.slice(0, 20))}`);
  assert.ok(ran > 0, 'no case ran');
});

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeSyntheticSlide } from '../src/slide/synthetic/index.ts';
import { Rng } from '../src/slide/synthetic/random.ts';
import { fileURLToPath } from 'node:url';

/** Shared plumbing of the benchmarks: output folder, reference tools, seeded randomness, printing. */

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const benchOutput = path.join(projectRoot, 'bench-output');
export const fixturesDir = process.env.PATHBOX_FIXTURES ?? path.resolve(projectRoot, '..', 'shared', 'fixtures');

export function outputDir(): string {
  mkdirSync(benchOutput, { recursive: true });
  return benchOutput;
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Debian's Python: python3-openslide is installed for it, not for a pyenv python3 earlier on PATH. */
export const debianPython = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Debian's python3-openslide, installed on first use (the machines are root, apt reachable). */
export function ensureOpenSlide(): boolean {
  const probe = () => spawnSync(debianPython, ['-c', 'import openslide'], { stdio: 'ignore' }).status === 0;
  if (probe()) return true;
  progress('installing python3-openslide (the reference reader) with apt ...');
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'python3-openslide'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (e) {
    progress(`could not install python3-openslide: ${(e as Error).message}`);
  }
  return probe();
}

/** Runs a Python reference script with a JSON job on stdin, returning its JSON answer. */
export function runPython<T>(script: string, job: unknown): T {
  const run = spawnSync(debianPython, [path.join(projectRoot, 'bench', script)], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`${script} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** Seeded uniform numbers in [0, 1) (the synthetic slides' mulberry32), so every run measures the same regions. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Runs `task` over `items` with `inFlight` workers; returns wall-clock seconds. */
export async function timed<T>(items: T[], inFlight: number, task: (item: T) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < items.length) await task(items[next++]);
  }));
  return (performance.now() - start) / 1000;
}

export function fileExists(file: string): boolean {
  return existsSync(file);
}

export function table(rows: (string | number)[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((cell, c) => String(cell).padStart(widths[c])).join('  ')).join('\n');
}

/** The benchmarks' synthetic reference slide (40000 x 30000 px at 0.25 MPP, ~40% tissue, seed 7), written once. */
export async function syntheticReferenceSlide(): Promise<string> {
  const file = path.join(outputDir(), 'synthetic-40x-40000x30000-seed7.svs');
  if (!existsSync(file)) {
    progress('writing the synthetic 40x reference slide (40000 x 30000 at 0.25 MPP, seed 7) ...');
    await writeSyntheticSlide(file, { width: 40000, height: 30000, seed: 7, mpp: 0.25 });
  }
  return file;
}

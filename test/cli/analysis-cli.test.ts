import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { jpegCodec } from '../../src/slide/index.ts';
import { projectRoot, requireExternal } from '../helpers/fixtures.ts';

function pathboxJson(...args: string[]): unknown {
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('pathbox hw --json prints the probe', () => {
  const hw = pathboxJson('hw') as { cpu: { logicalCores: number; flags: string[] }; memory: { totalMB: number }; executionProviders: { available: string[] }; jpegCodec: string };
  assert.ok(hw.cpu.logicalCores >= 1);
  assert.ok(hw.memory.totalMB > 0);
  assert.ok(hw.executionProviders.available.includes('cpu'));
  // Says which codec tiles decode with; in CI the native one must be there (see test/slide/jpeg-codec.test.ts).
  assert.equal(hw.jpegCodec, requireExternal() ? 'libjpeg-turbo' : jpegCodec);
});

test('pathbox models list --json lists the built-in bundle with its variants', () => {
  const { models } = pathboxJson('models', 'list') as { models: { id: string; origin: string; variants: { name: string; precision: string }[] }[] };
  const cellularity = models.find((m) => m.id === 'cellularity');
  assert.ok(cellularity, JSON.stringify(models));
  assert.equal(cellularity.origin, 'built-in');
  assert.deepEqual(cellularity.variants.map((v) => v.precision).sort(), ['fp32', 'int8']);
});

test('pathbox models select --explain --json gives the decision with its reasons', () => {
  const decision = pathboxJson('models', 'select', '--model', 'cellularity', '--explain') as { variant: string; executionProvider: string; batchSize: number; intraOpThreads: number; decodeThreads: number; reasons: string[] };
  assert.ok(['fp32', 'int8'].includes(decision.variant));
  assert.equal(decision.executionProvider, 'cpu');
  assert.ok(decision.batchSize >= 1 && decision.intraOpThreads >= 1 && decision.decodeThreads >= 1);
  assert.ok(decision.reasons.length >= 2 && decision.reasons.some((r) => /cpu|CPU/.test(r)), decision.reasons.join('; '));
});

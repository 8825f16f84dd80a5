/**
 * The onnxruntime provider check, with stand-in checker scripts for the failures we cannot cause with the
 * real onnxruntime: a provider that hangs in native code, a checker that crashes, one that prints garbage.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { probeExecutionProviders } from '../../src/device/providers.ts';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'pathbox-providers-'));
after(() => rm(tmp, { recursive: true, force: true }));

async function checker(name: string, body: string): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, body);
  return file;
}

test('a provider that hangs is killed at the deadline; answers before it are kept', async () => {
  const hanging = await checker(
    'hangs.mjs',
    `const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
     out({ backends: ['cpu', 'cuda', 'tensorrt'] });
     out({ name: 'cpu', ok: true });
     setInterval(() => {}, 1000); // cuda never returns`,
  );
  const result = await probeExecutionProviders(1_000, hanging);
  assert.ok(result.ok);
  assert.deepEqual(result.profile.available, ['cpu']);
  assert.deepEqual(
    result.profile.unavailable.map((u) => u.name),
    ['cuda', 'tensorrt'],
  );
  assert.match(result.profile.unavailable[0].reason, /did not finish: no answer within 1000 ms \(killed\)/);
  assert.match(result.profile.unavailable[1].reason, /not checked/);
});

test('a checker that cannot load onnxruntime reports why', async () => {
  const crashing = await checker('crashes.mjs', `console.error('Error: Cannot find module onnxruntime_binding.node'); process.exit(3);`);
  const result = await probeExecutionProviders(10_000, crashing);
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /onnxruntime-node could not be loaded: .*Cannot find module onnxruntime_binding\.node/);
});

test('output that is not the protocol is refused, not guessed at', async () => {
  const garbled = await checker('garbled.mjs', `console.log('hello');`);
  const result = await probeExecutionProviders(10_000, garbled);
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /printed "hello"/);
});

test('onnxruntime source-location prefixes are trimmed to the readable sentence', async () => {
  const webgpu = await checker(
    'webgpu.mjs',
    `const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
     out({ backends: ['cpu', 'webgpu'] });
     out({ name: 'cpu', ok: true });
     out({ name: 'webgpu', ok: false, reason: '/onnxruntime_src/core/providers/webgpu/webgpu_context.cc:136 Initialize() status == Success was false. Failed to get a WebGPU adapter: No supported adapters\\n' });`,
  );
  const result = await probeExecutionProviders(10_000, webgpu);
  assert.ok(result.ok);
  assert.deepEqual(result.profile.unavailable, [{ name: 'webgpu', reason: 'Failed to get a WebGPU adapter: No supported adapters' }]);
});

test('the real checker with the installed onnxruntime-node: cpu works', async () => {
  const result = await probeExecutionProviders(30_000);
  assert.ok(result.ok, result.ok ? '' : result.reason);
  assert.ok(result.profile.available.includes('cpu'));
  for (const u of result.profile.unavailable) assert.ok(u.reason.length > 0, `${u.name} has no reason`);
});

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { isModelBundleError, ModelRegistry, type ModelBundleErrorCode } from '../../src/models/index.ts';
import { at, cellularityCopy, editManifest, tempDir, cellularityRelease } from './bundle-fixtures.ts';

async function rejects(action: Promise<unknown>, code: ModelBundleErrorCode): Promise<string> {
  try {
    await action;
  } catch (e) {
    assert.ok(isModelBundleError(e), `expected a ModelBundleError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e.message;
  }
  assert.fail(`expected ${code}`);
}

/** A copy of the built-in bundle relabelled as another release. */
async function newRegistry(): Promise<ModelRegistry> {
  return new ModelRegistry(path.join(await tempDir(), 'models'));
}

test('an empty registry lists nothing and has no active version', async () => {
  const registry = await newRegistry();
  assert.deepEqual(await registry.listInstalled(), []);
  assert.equal(await registry.getActive('cellularity'), null);
});

test('install, activate, upgrade: the pointer follows setActive and installed versions stay listed', async () => {
  const registry = await newRegistry();
  const installed = await registry.install(await cellularityCopy());
  assert.equal(installed.dir, path.join(registry.root, 'cellularity', '1.0.0'));
  assert.ok(installed.selfTest.length > 0 && installed.selfTest.every((r) => r.maxAbsDiff <= r.atol));
  assert.equal(await registry.getActive('cellularity'), null, 'installing does not activate');

  await registry.setActive('cellularity', '1.0.0');
  assert.equal((await registry.getActive('cellularity'))?.version, '1.0.0');

  await registry.install(await cellularityRelease('1.1.0', 2));
  assert.equal((await registry.getActive('cellularity'))?.version, '1.0.0', 'a new install does not switch by itself');
  await registry.setActive('cellularity', '1.1.0');
  const active = await registry.getActive('cellularity');
  assert.equal(active?.version, '1.1.0');
  assert.equal(active?.manifest.releaseCounter, 2);

  const pointer = JSON.parse(await readFile(path.join(registry.root, 'cellularity', 'active.json'), 'utf8'));
  assert.equal(pointer.version, '1.1.0');
  assert.equal(pointer.releaseCounter, 2);
  const list = await registry.listInstalled();
  assert.deepEqual(list.map((e) => [e.version, e.ok, e.active]), [['1.0.0', true, false], ['1.1.0', true, true]]);
  assert.deepEqual((await readdir(path.join(registry.root, 'cellularity'))).sort(), ['1.0.0', '1.1.0', 'active.json'], 'no temp or staging files left');
});

test('the same version cannot be installed twice', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityCopy());
  assert.match(await rejects(registry.install(await cellularityCopy()), 'INSTALL_CONFLICT'), /cellularity 1\.0\.0 is already installed/);
});

test('a releaseCounter that does not grow with the version is refused', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityRelease('2.0.0', 5));
  assert.match(await rejects(registry.install(await cellularityRelease('2.1.0', 5)), 'INSTALL_CONFLICT'), /releaseCounter 5, but installed 2\.0\.0 has 5/);
  await rejects(registry.install(await cellularityRelease('1.9.0', 7)), 'INSTALL_CONFLICT');
  assert.deepEqual((await registry.listInstalled()).map((e) => e.version), ['2.0.0']);
});

test('a bundle that fails verification is not installed and leaves nothing behind; the active version keeps serving', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityCopy());
  await registry.setActive('cellularity', '1.0.0');
  const bad = await cellularityRelease('1.0.1', 2);
  await editManifest(bad, (m) => (at(m, 'selfTest.vectors.1.expected.0').values = [0.5]));
  await rejects(registry.install(bad), 'SELF_TEST_FAILED');
  assert.deepEqual((await readdir(path.join(registry.root, 'cellularity'))).sort(), ['1.0.0', 'active.json']);
  assert.equal((await registry.getActive('cellularity'))?.version, '1.0.0');
});

test('only the files the manifest lists are installed', async () => {
  const registry = await newRegistry();
  const source = await cellularityCopy();
  await writeFile(path.join(source, 'notes.txt'), 'not part of the bundle');
  const { dir } = await registry.install(source);
  assert.deepEqual((await readdir(dir)).sort(), ['cellularity-fp32.onnx', 'cellularity-int8.onnx', 'manifest.json', 'selftest']);
});

test('activating a version damaged on disk is refused and the pointer is unchanged', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityCopy());
  await registry.install(await cellularityRelease('1.1.0', 2));
  await registry.setActive('cellularity', '1.0.0');
  const damaged = path.join(registry.bundleDir('cellularity', '1.1.0'), 'cellularity-fp32.onnx');
  const bytes = await readFile(damaged);
  bytes[20] ^= 0xff;
  await writeFile(damaged, bytes);
  await rejects(registry.setActive('cellularity', '1.1.0'), 'DIGEST_MISMATCH');
  assert.equal((await registry.getActive('cellularity'))?.version, '1.0.0');
});

test('activating a version that is not installed, or a bad id, is NOT_INSTALLED', async () => {
  const registry = await newRegistry();
  await rejects(registry.setActive('cellularity', '9.9.9'), 'NOT_INSTALLED');
  await rejects(registry.setActive('../etc', '1.0.0'), 'NOT_INSTALLED');
  await rejects(registry.setActive('cellularity', '../../x'), 'NOT_INSTALLED');
});

test('a corrupt active pointer is a typed error, and the listing still shows the installed versions', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityCopy());
  await writeFile(path.join(registry.root, 'cellularity', 'active.json'), '{"version": ');
  await rejects(registry.getActive('cellularity'), 'ACTIVE_POINTER_INVALID');
  assert.deepEqual((await registry.listInstalled()).map((e) => [e.version, e.ok, e.active]), [['1.0.0', true, false]]);
});

test('an installed directory whose manifest does not match its place is listed with its error', async () => {
  const registry = await newRegistry();
  await registry.install(await cellularityCopy());
  const misplaced = path.join(registry.root, 'cellularity', '3.0.0');
  await mkdir(misplaced);
  await writeFile(path.join(misplaced, 'manifest.json'), await readFile(path.join(registry.bundleDir('cellularity', '1.0.0'), 'manifest.json')));
  const broken = (await registry.listInstalled()).find((e) => e.version === '3.0.0');
  assert.ok(broken && !broken.ok);
  assert.equal(broken.error.code, 'MANIFEST_INVALID');
  assert.match(broken.error.message, /installed as cellularity\/3\.0\.0 but its manifest says cellularity 1\.0\.0/);
});

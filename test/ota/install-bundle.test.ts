/**
 * What a box installs (../shared/OTA-THREATS.md 4.1 #16-18, 4.4 #36-38): real model bundles from the
 * analysis engine, published by a real vendor repository, served over HTTP on loopback. Whatever is refused
 * leaves the model that served before (the built-in cellularity 1.0.0) serving.
 */
import assert from 'node:assert/strict';
import { createHash, verify } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { SignedStatus, StatusBody } from '../../src/ota/index.ts';
import { activeVersion, expectOutcome, makeBox, type Box } from './helpers/box.ts';
import { RepoServer } from './helpers/repo-server.ts';
import { addRelease, editModelRole, factsOf, failingSelfTest, makeVendor, stageTargetFile, type Vendor } from './helpers/vendor.ts';

async function served(vendor: Vendor, options: Parameters<typeof makeBox>[1] = {}): Promise<{ box: Box; server: RepoServer }> {
  const server = await RepoServer.start(vendor.published);
  return { box: await makeBox(vendor, { location: server.url, ...options }), server };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/** The signed status reports in the outbox, verified with the key they carry. */
function reports(box: Box): StatusBody[] {
  return box.store.peekOutbox(1000).filter((m) => m.topic.endsWith('/ota/status')).map((m) => {
    const envelope = JSON.parse(m.payload.toString('utf8')) as SignedStatus;
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(envelope.publicKey, 'hex')]);
    assert.ok(verify(null, Buffer.from(envelope.body), { key: spki, format: 'der', type: 'spki' }, Buffer.from(envelope.sig, 'hex')), 'report signature');
    return JSON.parse(envelope.body) as StatusBody;
  });
}

test('a new release is installed over HTTP, switched atomically and reported with signed status messages', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'SUCCEEDED');
  assert.equal(await activeVersion(box), '1.1.0');
  const states = reports(box).map((r) => r.state);
  assert.deepEqual(states, ['QUEUED', 'REFRESHING', 'DOWNLOADING', 'VERIFYING', 'STAGED', 'ACTIVATING', 'HEALTH_CHECK', 'SUCCEEDED']);
  const files = await readdir(path.join(box.registry.root, 'cellularity', '1.1.0'), { recursive: true });
  assert.ok(files.includes('cellularity-fp32.onnx'));
  assert.equal((await stat(path.join(box.registry.root, 'cellularity', '1.1.0', 'cellularity-fp32.onnx'))).mode & 0o222, 0, 'installed files are read-only');
  assert.deepEqual(await readdir(path.join(box.otaDir, 'objects')), [], 'downloads are collected after the job');
});

test('threat 51: status reports are signed by the device key, numbered, fresh, and a changed body fails verification', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor);
  await box.install();
  const bodies = reports(box);
  const seqs = bodies.map((b) => b.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(bodies.map((b) => b.nonce)).size, bodies.length);
  assert.equal(bodies.at(-1)!.metadata!.timestamp, vendor.repo.timestamp.signed.version);
  const envelope = JSON.parse(box.store.peekOutbox(1)[0].payload.toString('utf8')) as SignedStatus;
  const forged = envelope.body.replace('"QUEUED"', '"SUCCEEDED"');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(envelope.publicKey, 'hex')]);
  assert.equal(verify(null, Buffer.from(forged), { key: spki, format: 'der', type: 'spki' }, Buffer.from(envelope.sig, 'hex')), false);
});

test('threat 16: target bytes substituted by the repository are refused (TARGET_MISMATCH) and nothing is installed', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor);
  const genuine = await readFile(path.join(vendor.repo.targetsDir, 'models/cellularity/1.1.0/cellularity-fp32.onnx'));
  server.misbehave('cellularity-fp32.onnx', { kind: 'replace', body: Buffer.alloc(genuine.length, 0x42) });
  expectOutcome(await box.install(), 'REJECTED', 'TARGET_MISMATCH');
  assert.equal(await activeVersion(box), null, 'the built-in model still serves');
  assert.equal(await exists(path.join(box.registry.root, 'cellularity', '1.1.0')), false);
  assert.equal(reports(box).at(-1)!.attackSuspected, true);
});

test('threat 16: garbled bytes are downloaded again, and a server that always garbles is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor);
  server.misbehave('cellularity-int8.onnx', { kind: 'garble' }, 1);
  expectOutcome(await box.install(), 'SUCCEEDED');
  assert.equal(server.requestsFor('cellularity-int8.onnx').length, 2);

  await addRelease(vendor, '1.2.0', 3);
  server.misbehave('cellularity-int8.onnx', { kind: 'garble' });
  expectOutcome(await box.install(), 'REJECTED', 'TARGET_MISMATCH');
  assert.equal(server.requestsFor('cellularity-int8.onnx').length, 2 + 4, 'bounded by the attempt budget');
  assert.equal(await activeVersion(box), '1.1.0');
});

test('threat 36: a release that lists a file the bundle does not have (extra file) is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const extraPath = 'models/cellularity/1.1.0/extra.bin';
  const extra = await stageTargetFile(vendor, extraPath, Buffer.from('smuggled'));
  await editModelRole(vendor, (targets) => {
    targets[extraPath] = extra;
    factsOf(targets, '1.1.0').files['extra.bin'] = { length: extra.length, sha256: extra.hashes.sha256 };
  });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'BUNDLE_INVALID');
  assert.match(outcome.detail!, /not part of the bundle extra\.bin/);
  assert.equal(await activeVersion(box), null);
});

test('threat 36: a release that does not list every bundle file (missing file) is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await editModelRole(vendor, (targets) => {
    delete factsOf(targets, '1.1.0').files['selftest/white.png'];
    delete targets['models/cellularity/1.1.0/selftest/white.png'];
  });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'BUNDLE_INVALID');
  assert.match(outcome.detail!, /missing selftest\/white\.png/);
});

test('threat 36: a file swapped with another signed file of the bundle is refused before activation', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await editModelRole(vendor, (targets) => {
    const facts = factsOf(targets, '1.1.0');
    facts.files['cellularity-int8.onnx'] = facts.files['cellularity-fp32.onnx'];
    targets['models/cellularity/1.1.0/cellularity-int8.onnx'] = targets['models/cellularity/1.1.0/cellularity-fp32.onnx'];
  });
  await stageTargetFile(vendor, 'models/cellularity/1.1.0/cellularity-int8.onnx', await readFile(path.join(vendor.repo.targetsDir, 'models/cellularity/1.1.0/cellularity-fp32.onnx')));
  await vendor.publish();
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'BUNDLE_INVALID');
  assert.match(outcome.detail!, /sha256/);
  assert.equal(await activeVersion(box), null);
});

test('threat 37: a file path with ".." is refused and nothing is written outside the box', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await editModelRole(vendor, (targets) => {
    const facts = factsOf(targets, '1.1.0');
    facts.files['../../../escaped.onnx'] = facts.files['cellularity-fp32.onnx'];
  });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'BUNDLE_INVALID');
  assert.match(outcome.detail!, /escaped\.onnx/);
  for (const dir of [box.dataDir, path.dirname(box.dataDir), path.dirname(path.dirname(box.dataDir))]) {
    assert.equal(await exists(path.join(dir, 'escaped.onnx')), false);
  }
});

test('threat 37: two paths that differ only in case are refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await editModelRole(vendor, (targets) => {
    const facts = factsOf(targets, '1.1.0');
    facts.files['Cellularity-FP32.onnx'] = facts.files['cellularity-fp32.onnx'];
  });
  const { box } = await served(vendor);
  expectOutcome(await box.install(), 'REJECTED', 'BUNDLE_INVALID');
});

test('threat 17: a release built for other hardware is refused as INCOMPATIBLE', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2, { arch: ['riscv64'] });
  const { box, server } = await served(vendor);
  expectOutcome(await box.install(), 'REJECTED', 'INCOMPATIBLE');
  assert.equal(server.requestsFor('.onnx').length, 0, 'nothing was downloaded');
});

test('threat 17: a release that needs a newer daemon is refused as INCOMPATIBLE; a compatible older one is chosen', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await addRelease(vendor, '2.0.0', 3, { minDaemonVersion: '99.0.0' });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'SUCCEEDED');
  assert.equal(outcome.model?.version, '1.1.0');
  expectOutcome(await box.install(), 'REJECTED', 'INCOMPATIBLE');
  assert.equal(await activeVersion(box), '1.1.0');
});

test('threat 18: a still-listed release older than the installed one is refused as DOWNGRADE', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await addRelease(vendor, '1.2.0', 3);
  const { box } = await served(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  expectOutcome(await box.install({ requested: { id: 'cellularity', version: '1.1.0' } }), 'REJECTED', 'DOWNGRADE');
  await editModelRole(vendor, (targets) => {
    for (const p of Object.keys(targets)) if (p.includes('/1.2.0/')) delete targets[p];
  });
  expectOutcome(await box.install(), 'REJECTED', 'DOWNGRADE');
  assert.equal(await activeVersion(box), '1.2.0');
});

test('threat 18: a deliberate rollback is a new release with a higher counter, and it installs', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.2.0', 3);
  const { box } = await served(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  await addRelease(vendor, '1.2.1', 4);
  const outcome = await box.install();
  expectOutcome(outcome, 'SUCCEEDED');
  assert.equal(outcome.model?.releaseCounter, 4);
});

test('threat 38: a model that fails its self-test is refused before activation and blocked', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2, { edit: failingSelfTest });
  const { box, server } = await served(vendor);
  expectOutcome(await box.install(), 'REJECTED', 'SELF_TEST_FAILED');
  assert.equal(await activeVersion(box), null);
  assert.equal(await exists(path.join(box.registry.root, 'cellularity', '1.1.0')), false, 'the failing bundle never became installed');
  const before = server.requestsFor('.onnx').length;
  expectOutcome(await box.install(), 'REJECTED', 'RELEASE_BLOCKED');
  assert.equal(server.requestsFor('.onnx').length, before, 'not downloaded again');
});

test('threat 38: a model whose input differs from its manifest is refused (MODEL_INVALID)', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2, { edit: (m) => Object.assign(m.input as object, { name: 'pixels' }) });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'MODEL_INVALID');
  assert.match(outcome.detail!, /pixels/);
});

test('threat 36: a manifest that disagrees with the signed release facts is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const manifestPath = 'models/cellularity/1.1.0/manifest.json';
  const manifest = JSON.parse(await readFile(path.join(vendor.repo.targetsDir, manifestPath), 'utf8'));
  manifest.releaseCounter = 7;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const entry = await stageTargetFile(vendor, manifestPath, bytes);
  await editModelRole(vendor, (targets) => {
    targets[manifestPath] = { ...targets[manifestPath], ...entry };
    factsOf(targets, '1.1.0').files['manifest.json'] = { length: entry.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  const { box } = await served(vendor);
  const outcome = await box.install();
  expectOutcome(outcome, 'REJECTED', 'BUNDLE_INVALID');
  assert.match(outcome.detail!, /release 7/);
});

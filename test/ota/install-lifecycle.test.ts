/**
 * The install state machine around activation (../shared/OTA-THREATS.md 4.3, 4.4, 4.6): trial window,
 * rollback, no rollback loop, GC of old versions, deferral until the running slide is done, space, clock,
 * freeze, concurrent updaters, bit rot and the legal transitions.
 */
import assert from 'node:assert/strict';
import { chmod, open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { ActivationHooks } from '../../src/ota/index.ts';
import { OtaStateError, OtaStore } from '../../src/store/index.ts';
import { activeVersion, expectOutcome, makeBox, type Box } from './helpers/box.ts';
import { RepoServer } from './helpers/repo-server.ts';
import { addRelease, editModelRole, makeVendor, type Vendor } from './helpers/vendor.ts';

async function served(vendor: Vendor, options: Parameters<typeof makeBox>[1] = {}): Promise<{ box: Box; server: RepoServer }> {
  const server = await RepoServer.start(vendor.published);
  return { box: await makeBox(vendor, { location: server.url, ...options }), server };
}

async function analyses(box: Box, version: string, outcomes: boolean[]) {
  let last = null;
  for (const ok of outcomes) last = await box.installer.recordAnalysis({ modelId: 'cellularity', version, ok, detail: ok ? undefined : 'inference returned NaN' });
  return last;
}

test('threat 40: a release is committed only after its trial window of healthy analyses', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor, { settings: { trialAnalyses: 3 } });
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  assert.equal(await activeVersion(box), '1.1.0', 'the new model serves during the trial');
  assert.equal((await analyses(box, '1.1.0', [true, true]))?.state, 'HEALTH_CHECK');
  assert.equal((await box.installer.trusted.marks.read())?.models.cellularity, undefined, 'not committed yet');
  assert.equal((await box.installer.recordAnalysis({ modelId: 'cellularity', version: '1.0.0', ok: true })), null, 'analyses by another version do not count');
  expectOutcome((await analyses(box, '1.1.0', [true]))!, 'SUCCEEDED');
  assert.equal((await box.installer.trusted.marks.read())?.models.cellularity, 2);
});

test('threat 40: a model that breaks during the trial window is rolled back to the previous one', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.2.0', 3);
  const { box } = await served(vendor, { settings: { trialAnalyses: 3 } });
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  assert.equal(await activeVersion(box), '1.2.0');
  const outcome = await analyses(box, '1.2.0', [true, false]);
  expectOutcome(outcome!, 'ROLLED_BACK', 'HEALTH_FAILED');
  assert.match(outcome!.detail!, /NaN/);
  assert.equal(await activeVersion(box), null, 'no previous installed version: the built-in model serves again');
  assert.equal(await stat(path.join(box.registry.root, 'cellularity', '1.2.0')).then(() => true, () => false), false, 'the failed version is collected');
});

test('threat 40: rollback restores the previous installed version, kept by GC', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  await addRelease(vendor, '1.2.0', 3);
  const trial = await makeBox(vendor, { location: server.url, dataDir: box.dataDir, store: box.store, registry: box.registry, settings: { trialAnalyses: 2 } });
  expectOutcome(await trial.install(), 'HEALTH_CHECK');
  assert.deepEqual((await readdir(path.join(box.registry.root, 'cellularity'))).filter((n) => /^\d/.test(n)).sort(), ['1.1.0', '1.2.0']);
  expectOutcome((await analyses(trial, '1.2.0', [false]))!, 'ROLLED_BACK', 'HEALTH_FAILED');
  assert.equal(await activeVersion(trial), '1.1.0');
});

test('threat 40: a daemon that keeps restarting during the trial window is a crash loop and rolls back', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor, { settings: { trialAnalyses: 3, maxTrialBoots: 2 } });
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  assert.equal((await box.installer.onStart())?.state, 'HEALTH_CHECK');
  assert.equal((await box.installer.onStart())?.state, 'HEALTH_CHECK');
  expectOutcome((await box.installer.onStart())!, 'ROLLED_BACK', 'HEALTH_FAILED');
  assert.equal(await activeVersion(box), null);
});

test('threat 41: a rolled-back release is not retried until its role publishes new metadata', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor, { settings: { trialAnalyses: 1 } });
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  expectOutcome((await analyses(box, '1.1.0', [false]))!, 'ROLLED_BACK', 'HEALTH_FAILED');
  const downloads = server.requestsFor('.onnx').length;
  for (let i = 0; i < 3; i++) expectOutcome(await box.install(), 'REJECTED', 'RELEASE_BLOCKED');
  vendor.repo.commit(vendor.keys);
  await vendor.publish();
  expectOutcome(await box.install(), 'REJECTED', 'RELEASE_BLOCKED');
  assert.equal(server.requestsFor('.onnx').length, downloads, 'a new timestamp alone does not unblock it');
  await editModelRole(vendor, () => {});
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  assert.ok(server.requestsFor('.onnx').length > downloads, 'new metadata for the role: tried again');
});

test('threat 33: GC keeps the active and the previous version and removes older ones', async () => {
  const vendor = await makeVendor();
  const { box } = await served(vendor);
  for (const [version, counter] of [['1.1.0', 2], ['1.2.0', 3], ['1.3.0', 4]] as const) {
    await addRelease(vendor, version, counter);
    expectOutcome(await box.install(), 'SUCCEEDED');
  }
  const installed = (await readdir(path.join(box.registry.root, 'cellularity'))).filter((n) => /^\d/.test(n)).sort();
  assert.deepEqual(installed, ['1.2.0', '1.3.0']);
  const pointer = await box.registry.activePointer('cellularity');
  assert.deepEqual([pointer?.version, pointer?.previousVersion], ['1.3.0', '1.2.0']);
});

test('threat 44: the switch waits for the running slide (DEFERRED), then happens between two slides', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  let slideDone!: () => void;
  const slide = new Promise<void>((resolve) => (slideDone = resolve));
  const served: string[] = [];
  const hooks: ActivationHooks = {
    betweenSlides: async (fn) => {
      await slide;
      return fn();
    },
    serve: async (id) => {
      served.push(`${id}@${(await box.registry.activePointer(id))?.version}`);
    },
  };
  const server = await RepoServer.start(vendor.published);
  const box: Box = await makeBox(vendor, { location: server.url, activation: hooks });
  const running = box.install();
  for (let i = 0; i < 200 && box.jobs.openJob()?.state !== 'DEFERRED'; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(box.jobs.openJob()?.state, 'DEFERRED');
  assert.equal(await activeVersion(box), null, 'nothing switched while the slide runs');
  slideDone();
  expectOutcome(await running, 'SUCCEEDED');
  assert.deepEqual(served, ['cellularity@1.1.0']);
});

test('threat 44: a model that cannot be opened to serve is rolled back at once', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const hooks: ActivationHooks = {
    betweenSlides: (fn) => fn(),
    serve: async (id) => {
      if ((await box.registry.activePointer(id))?.version === '1.1.0') throw new Error('CUDA out of memory');
    },
  };
  const server = await RepoServer.start(vendor.published);
  const box: Box = await makeBox(vendor, { location: server.url, activation: hooks });
  const outcome = await box.install();
  expectOutcome(outcome, 'ROLLED_BACK', 'HEALTH_FAILED');
  assert.match(outcome.detail!, /CUDA out of memory/);
  assert.equal(await activeVersion(box), null);
});

test('threat 31/33: not enough free space refuses to start the download and changes nothing', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor, { freeBytes: async () => 100_000, settings: { minFreeBytes: 50_000 } });
  const outcome = await box.install();
  expectOutcome(outcome, 'FAILED', 'NO_SPACE');
  assert.match(outcome.detail!, /100000 bytes free/);
  assert.equal(server.requestsFor('/targets/').length, 0);
  assert.equal(await activeVersion(box), null);
});

test('threat 31: ENOSPC while writing a download aborts cleanly and frees the partial files', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  let writes = 0;
  const { box } = await served(vendor, {
    writeFault: () => {
      if (++writes === 3) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    },
  });
  expectOutcome(await box.install(), 'FAILED', 'NO_SPACE');
  assert.deepEqual(await readdir(path.join(box.otaDir, 'partial')), []);
  assert.deepEqual(await readdir(path.join(box.otaDir, 'objects')), []);
  assert.equal(await activeVersion(box), null);
  expectOutcome(await box.install(), 'SUCCEEDED', null);
});

test('threat 34: with the clock in 1970 the job fails CLOCK_UNTRUSTED and the box keeps serving', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor, { now: () => new Date(0) });
  expectOutcome(await box.install(), 'FAILED', 'CLOCK_UNTRUSTED');
  assert.equal(await activeVersion(box), null);
  assert.equal(await box.installer.trusted.liveDir(), null);
});

test('threat 11/54: expired metadata is reported as a possible freeze, the box keeps serving, and recovers when re-signed', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  await addRelease(vendor, '1.2.0', 3);
  vendor.repo.resign(['timestamp'], vendor.keys, { expires: new Date(Date.now() - 60_000) });
  await vendor.publish();
  expectOutcome(await box.install(), 'REJECTED', 'EXPIRED_METADATA');
  assert.equal(box.store.recentEvents({ kinds: ['ota.possible-freeze'] }).length, 1);
  assert.equal(await activeVersion(box), '1.1.0');
  vendor.repo.resign(['timestamp'], vendor.keys);
  await vendor.publish();
  expectOutcome(await box.install(), 'SUCCEEDED');
  assert.equal(await activeVersion(box), '1.2.0');
});

test('threat 35: a second updater while another process holds the lock reports BUSY', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor);
  const other = new OtaStore(box.store);
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
  assert.ok(other.acquireLock({ name: 'usb-installer', pid: process.pid, bootId }, () => false));
  expectOutcome(await box.install(), 'REJECTED', 'BUSY');
  assert.equal(box.jobs.recentJobs().length, 0);
  other.releaseLock('usb-installer');
  expectOutcome(await box.install(), 'SUCCEEDED');
});

test('threat 35: a lock left by a dead process is taken over', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor);
  new OtaStore(box.store).acquireLock({ name: 'killed-installer', pid: 2 ** 22 - 7, bootId: 'a-previous-boot' }, () => false);
  expectOutcome(await box.install(), 'SUCCEEDED');
});

test('threat 35: a new request while a job is unfinished reports BUSY', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor, { settings: { trialAnalyses: 2 } });
  expectOutcome(await box.install(), 'HEALTH_CHECK');
  expectOutcome(await box.install(), 'REJECTED', 'BUSY');
});

test('threat 32: a byte flipped in the installed active model is found at start-up and the previous version serves', async () => {
  const vendor = await makeVendor();
  const { box } = await served(vendor);
  for (const [version, counter] of [['1.1.0', 2], ['1.2.0', 3]] as const) {
    await addRelease(vendor, version, counter);
    expectOutcome(await box.install(), 'SUCCEEDED');
  }
  const onnx = path.join(box.registry.root, 'cellularity', '1.2.0', 'cellularity-fp32.onnx');
  await chmod(onnx, 0o644);
  const handle = await open(onnx, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, 100);
  await handle.write(Buffer.from([byte[0] ^ 0x01]), 0, 1, 100);
  await handle.close();
  assert.deepEqual(await box.installer.scrub(), ['cellularity']);
  assert.equal(await activeVersion(box), '1.1.0');
  assert.equal(box.store.recentEvents({ kinds: ['ota.scrub.quarantined'] }).length, 1);
  assert.deepEqual(await box.installer.scrub(), [], 'a healthy active model is left alone');
});

test('threat 24: a partial download of a release that was replaced meanwhile is discarded', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box, server } = await served(vendor);
  server.misbehave('.manifest.json', { kind: 'disconnect-at', fraction: 0.4 }, 1);
  server.misbehave('.manifest.json', { kind: 'down' });
  expectOutcome(await box.install(), 'FAILED', 'DOWNLOAD_FAILED');
  const partials = await readdir(path.join(box.otaDir, 'partial'));
  assert.ok(partials.some((n) => n.endsWith('.part')), 'the partial download is kept for a retry');
  server.behave();
  // The vendor replaces 1.1.0 by 1.2.0: the partial manifest belongs to a target no longer signed.
  await addRelease(vendor, '1.2.0', 3);
  await editModelRole(vendor, (targets) => {
    for (const p of Object.keys(targets)) if (p.includes('/1.1.0/')) delete targets[p];
  });
  expectOutcome(await box.install(), 'SUCCEEDED');
  assert.deepEqual(await readdir(path.join(box.otaDir, 'partial')), []);
  assert.equal(await activeVersion(box), '1.2.0');
});

test('threat 50: the state machine refuses an illegal transition', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { box } = await served(vendor, { settings: { trialAnalyses: 2 } });
  const outcome = await box.install();
  assert.throws(() => box.jobs.transition(outcome.jobId!, 'DOWNLOADING', { report: () => null }), (e: unknown) => e instanceof OtaStateError && e.code === 'ILLEGAL_TRANSITION');
  assert.throws(() => box.jobs.transition(outcome.jobId!, 'ALREADY_INSTALLED', { report: () => null }), OtaStateError);
  const history = box.jobs.history(outcome.jobId!);
  assert.equal(history.at(-1)!.toState, 'HEALTH_CHECK');
  assert.ok(history.every((h, i) => i === 0 || h.fromState === history[i - 1].toState), 'each transition starts where the last ended');
  assert.equal((await stat(path.join(box.dataDir, 'pathbox.db'))).isFile(), true);
});

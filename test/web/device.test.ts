/**
 * GET /api/device on a box that updated its model once (1.0.0 → 1.1.0) and refused a second update:
 * the installed versions with active and previous marked, and each update job with its state history.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ModelRegistry } from '../../src/models/index.ts';
import { OtaStore, type OtaState } from '../../src/store/index.ts';
import { cellularityCopy, editManifest, cellularityRelease } from '../models/bundle-fixtures.ts';
import { login, testBox, type TestBox } from './helpers.ts';

interface DeviceModels {
  models: { id: string; version: string; releaseCounter: number | null; origin: string; active: boolean; previous: boolean }[];
  updates: {
    id: number; state: string; reason: string | null; modelId: string | null; version: string | null; previousVersion: string | null;
    createdAt: string; finishedAt: string | null; history: { fromState: string | null; toState: string; reason: string | null; at: string }[];
  }[];
}

let box: TestBox;
let succeededJob = 0;
let rejectedJob = 0;
const noReport = () => null;

before(async () => {
  box = await testBox();
  const registry = new ModelRegistry(path.join(box.dir, 'models'));
  await registry.install(await cellularityCopy());
  await registry.setActive('cellularity', '1.0.0');
  await registry.install(await cellularityRelease('1.1.0', 2));
  await registry.setActive('cellularity', '1.1.0');

  const ota = new OtaStore(box.store);
  const succeeded = ota.createJob({ trigger: 'usb', source: { kind: 'usb' } }, noReport);
  const steps: OtaState[] = ['REFRESHING', 'DOWNLOADING', 'VERIFYING', 'STAGED', 'ACTIVATING', 'HEALTH_CHECK', 'SUCCEEDED'];
  for (const state of steps) {
    ota.transition(succeeded.id, state, { report: noReport, fields: state === 'DOWNLOADING' ? { modelId: 'cellularity', version: '1.1.0', releaseCounter: 2, previousVersion: '1.0.0' } : {} });
  }
  succeededJob = succeeded.id;
  const rejected = ota.createJob({ trigger: 'mqtt', source: { kind: 'https' } }, noReport);
  ota.transition(rejected.id, 'REJECTED', { report: noReport, reason: 'DOWNGRADE', detail: 'release counter 1 is below the installed 2' });
  rejectedJob = rejected.id;
});

after(() => box.close());

test('the device page lists installed versions with active and previous marked, and the built-in bundle', async () => {
  const { cookie } = await login(box.app, 'technician');
  const response = await box.app.inject({ method: 'GET', url: '/api/device', headers: { cookie } });
  assert.equal(response.statusCode, 200, response.body);
  const { models } = response.json<DeviceModels>();
  const cellularity = models.filter((m) => m.id === 'cellularity').map(({ version, releaseCounter, origin, active, previous }) => ({ version, releaseCounter, origin, active, previous }));
  assert.deepEqual(cellularity, [
    { version: '1.0.0', releaseCounter: 1, origin: 'installed', active: false, previous: true },
    { version: '1.1.0', releaseCounter: 2, origin: 'installed', active: true, previous: false },
    { version: '1.0.0', releaseCounter: 1, origin: 'built-in', active: false, previous: false },
  ]);
  assert.ok(models.every((m) => !('dir' in m)), 'no data-directory paths in the answer');
});

test('the device page lists update jobs newest first, with reason codes and every state change', async () => {
  const { cookie } = await login(box.app, 'admin');
  const { updates } = (await box.app.inject({ method: 'GET', url: '/api/device', headers: { cookie } })).json<DeviceModels>();
  assert.deepEqual(updates.map((u) => u.id), [rejectedJob, succeededJob]);

  const [rejected, succeeded] = updates;
  assert.equal(rejected.state, 'REJECTED');
  assert.equal(rejected.reason, 'DOWNGRADE');
  assert.deepEqual(rejected.history.map((s) => [s.fromState, s.toState, s.reason]), [[null, 'QUEUED', null], ['QUEUED', 'REJECTED', 'DOWNGRADE']]);
  assert.ok(rejected.finishedAt);

  assert.equal(succeeded.state, 'SUCCEEDED');
  assert.deepEqual([succeeded.modelId, succeeded.version, succeeded.previousVersion], ['cellularity', '1.1.0', '1.0.0']);
  assert.deepEqual(succeeded.history.map((s) => s.toState), ['QUEUED', 'REFRESHING', 'DOWNLOADING', 'VERIFYING', 'STAGED', 'ACTIVATING', 'HEALTH_CHECK', 'SUCCEEDED']);
  assert.ok(succeeded.history.every((s) => !Number.isNaN(Date.parse(s.at))));
});

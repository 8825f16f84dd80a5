/** The probe and the USB watch on the machine running the tests, whatever it has. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeHardware, watchUsb } from '../../src/device/index.ts';
import { DEFAULT_DEADLINES } from '../../src/device/probe.ts';

test('probeHardware on this machine answers within its deadlines with sane facts', async () => {
  // Generous: the probe's own longest deadline plus slack, so only a probe that ignores its deadlines fails.
  const bound = DEFAULT_DEADLINES.providersMs + 15_000;
  let timer: NodeJS.Timeout | undefined;
  const profile = await Promise.race([
    probeHardware(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`probeHardware took more than ${bound} ms`)), bound);
    }),
  ]).finally(() => clearTimeout(timer));

  assert.ok(profile.cpu.physicalCores >= 1);
  assert.ok(profile.cpu.logicalCores >= profile.cpu.physicalCores);
  assert.ok(profile.memory.totalMB > 0);
  assert.ok(profile.memory.availableMB > 0 && profile.memory.availableMB <= profile.memory.totalMB);
  assert.ok(profile.executionProviders.available.includes('cpu'), JSON.stringify(profile.executionProviders));
  if (!profile.usb.available) assert.ok(profile.usb.reason.length > 0);
  assert.equal(profile.platform.arch, process.arch);
  // Cached: a second call returns the same stable facts.
  assert.deepEqual((await probeHardware()).cpu, profile.cpu);
});

test('watchUsb never throws or crashes the process, with or without a USB subsystem', async () => {
  const watch = await watchUsb(() => undefined);
  if (!watch.active) assert.ok((watch.reason ?? '').length > 0);
  // Give a failing native hotplug registration the chance to surface as an uncaught error.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await watch.stop();
});

/**
 * Acceptance: every byte the box publishes during a full run (status, results, events, telemetry, a
 * second-opinion package) is captured at the cloud; none carries the fake patient name on the slide's
 * label, the accession number in its file name, the file's path, or the label / macro pixels.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { openSlide, type RgbImage } from '../../src/slide/index.ts';
import { SyncStore } from '../../src/store/index.ts';
import { inspectTiff, Tag, tagValues } from '../helpers/tiff-inspect.ts';
import { Box, dropIntoInbox, pathbox, provisionBox, skipUnlessMosquitto, startCloud, syntheticSlides, tempDir, type Cloud } from './harness.ts';

const PATIENT = 'ZZTESTPATIENT^QUINCY';
const ACCESSION = 'ACC7734-2291';
const SUBFILE = { label: 1, macro: 9 };
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

/** The label's and macro's bytes as stored in the file (their compressed strips). */
function storedAssociatedBytes(file: string): Buffer[] {
  const tiff = inspectTiff(file);
  return tiff.ifds
    .filter((ifd) => [SUBFILE.label, SUBFILE.macro].includes(tagValues(ifd, Tag.NewSubfileType)[0] ?? 0))
    .flatMap((ifd) => {
      const offsets = tagValues(ifd, Tag.StripOffsets);
      const counts = tagValues(ifd, Tag.StripByteCounts);
      return offsets.map((offset, i) => tiff.file.subarray(offset, offset + counts[i]));
    });
}

/** Grey levels of an image at a fixed size, for comparing pictures whatever their encoding. */
async function grey(image: Buffer | RgbImage, width: number, height: number): Promise<Float64Array> {
  const input = Buffer.isBuffer(image) ? sharp(image) : sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  const pixels = await input.resize(width, height, { fit: 'fill' }).greyscale().raw().toBuffer();
  return Float64Array.from(pixels);
}

/** Normalised cross-correlation: about 1 for the same picture, near 0 for unrelated ones. */
function correlation(a: Float64Array, b: Float64Array): number {
  const mean = (v: Float64Array) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

test('nothing identifying leaves the box: no name, accession, path, label or macro pixels in any byte sent', { skip: skipUnlessMosquitto(), timeout: 150_000 }, async (t) => {
  const dir = tempDir('sync-deid');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const cloud: Cloud = await startCloud(dir);
  cleanup.push(() => cloud.broker.stop(), () => cloud.responder.stop());
  const box = new Box({ dir, deviceId: 'box-deid', tls: await provisionBox(cloud, dir, 'box-deid'), brokerUrl: cloud.broker.url, mqtt: { secondOpinion: { chunkKiB: 16 } } });
  const [staged] = await syntheticSlides(path.join(dir, 'scanner'), 1, { seed: 42, patientName: PATIENT, accession: ACCESSION, name: () => `${ACCESSION}.svs` });
  const slideFile = path.join(box.inbox, `${ACCESSION}.svs`);
  await box.start();
  cleanup.push(() => box.stop());
  await dropIntoInbox([staged], box.inbox);
  await box.waitFor('the slide analysed', () => box.doneCount() === 1, 90_000);
  await cloud.responder.waitFor('its result', () => cloud.responder.results.length === 1, 30_000);

  await assert.rejects(pathbox(['second-opinion', 'request', '1', '--config', box.configFile, '--data-dir', box.dataDir, '--note', `second look at ${ACCESSION} please`]), /file name/,
    'a note repeating the accession number is refused');
  await pathbox(['second-opinion', 'request', '1', '--config', box.configFile, '--data-dir', box.dataDir, '--note', 'Dense nuclei in region 1: tumour or inflammation?']);
  await cloud.responder.waitFor('the package answered', () => [...cloud.responder.packages.values()].some((p) => p.answered), 60_000);
  await box.waitFor('the answer stored', () => box.query((store) => new SyncStore(store).listSecondOpinions()[0]?.state) === 'answered', 20_000);
  await cloud.responder.waitFor('telemetry', () => cloud.responder.telemetry.length > 0, 20_000);
  assert.equal(await box.stop(), 0);
  await cloud.responder.waitFor('the offline status', () => cloud.responder.status.get('box-deid')?.state === 'offline', 10_000);

  const sent = cloud.responder.captured;
  const kinds = new Set(sent.map((m) => m.topic.split('/').slice(3).join('/')));
  for (const kind of ['status', 'results', 'events', 'telemetry', 'second-opinion/request']) assert.ok(kinds.has(kind), `captured ${kind} messages`);
  const everything = Buffer.concat(sent.flatMap((m) => [Buffer.from(m.topic), m.payload]));
  const perKind = [...kinds].map((k) => `${k} ${sent.filter((m) => m.topic.endsWith(`/${k}`)).length}`).join(', ');
  t.diagnostic(`${sent.length} messages (${perKind}), ${everything.length} bytes captured`);

  const texts = [PATIENT, ...PATIENT.split('^'), ACCESSION, ACCESSION.replace('-', ''), `${ACCESSION}.svs`, box.inbox, dir, slideFile];
  for (const text of texts) {
    for (const form of new Set([text, text.toLowerCase(), text.toUpperCase()])) {
      assert.equal(everything.indexOf(Buffer.from(form)), -1, `"${form}" appears in what was sent`);
    }
  }

  const stored = storedAssociatedBytes(slideFile);
  assert.ok(stored.length >= 2 && stored.every((s) => s.length > 256), 'found the label and macro strips in the file');
  for (const strip of stored) {
    for (let offset = 0; offset + 32 <= strip.length; offset += 256) {
      assert.equal(everything.indexOf(strip.subarray(offset, offset + 32)), -1, 'stored label/macro bytes appear in what was sent');
    }
  }

  const opened = await openSlide(slideFile);
  const references = { label: await opened.readAssociated('label'), macro: await opened.readAssociated('macro') };
  await opened.close();
  const images = [...cloud.responder.packages.values()].flatMap((p) => p.files ?? []).filter((f) => f.mediaType.startsWith('image/'));
  assert.ok(images.length >= 3, 'the package carried images (regions, thumbnail, heatmap)');
  for (const [name, reference] of Object.entries(references)) {
    const target = await grey(reference, 128, 128);
    // The check can see a leak: the same picture, re-encoded smaller, correlates strongly.
    const leaked = await sharp(reference.data, { raw: { width: reference.width, height: reference.height, channels: 3 } }).resize(200).jpeg({ quality: 60 }).toBuffer();
    assert.ok(correlation(await grey(leaked, 128, 128), target) > 0.9, `a re-encoded ${name} is recognised`);
    for (const image of images) {
      const r = correlation(await grey(image.data, 128, 128), target);
      t.diagnostic(`${image.name} vs ${name}: correlation ${r.toFixed(3)}`);
      assert.ok(r < 0.5, `${image.name} looks like the slide's ${name} (correlation ${r.toFixed(2)})`);
    }
  }
});

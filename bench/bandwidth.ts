/**
 * npm run bench:bandwidth — bytes the box sends to the cloud about one slide (MQTT PUBLISH packets the
 * broker acknowledged: result, audit events, and with a second opinion the whole package), beside the
 * reference measured in the same run: the slide file's size, i.e. what sending the slide would cost.
 * Real path: the daemon's analysis, store, outbox and sync client, through Mosquitto with TLS to the
 * cloud responder. Slides: CMU-1-Small-Region.svs (../shared/fixtures) and the synthetic 40x reference
 * slide (40000 x 30000, 0.25 um/px, shared with bench:read).
 */
import { statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyzeSlide, type AnalysisResult } from '../src/analysis/index.ts';
import { createLogger } from '../src/daemon/logger.ts';
import { probeHardware } from '../src/device/index.ts';
import { sha256File } from '../src/ingest/index.ts';
import { openModel, type ModelRuntime } from '../src/models/index.ts';
import { writeSyntheticSlide } from '../src/slide/synthetic/index.ts';
import { Store, SyncStore } from '../src/store/index.ts';
import { mqttConfigSchema, requestSecondOpinion, resultMessage, SyncClient } from '../src/sync/index.ts';
import { CLOUD_IDENTITY, Mosquitto, mosquittoBinary } from '../tools/cloud-responder/mosquitto.ts';
import { CloudResponder } from '../tools/cloud-responder/responder.ts';
import { fileExists, fixturesDir, outputDir, progress, table, syntheticReferenceSlide } from './support.ts';

const DEVICE = 'bench-box';

interface Measured {
  slide: string;
  fileBytes: number;
  resultBytes: number;
  withSecondOpinionBytes: number;
  packageFiles: { name: string; bytes: number }[];
}

async function until(what: string, condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function measure(name: string, file: string, broker: Mosquitto, responder: CloudResponder, runtime: ModelRuntime): Promise<Measured> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pathbox-bench-bandwidth-'));
  const store = Store.open(path.join(dir, 'pathbox.db'));
  const sync = new SyncStore(store);
  const config = mqttConfigSchema.parse({ url: broker.url, ...(await broker.pki.client(DEVICE)), telemetrySeconds: 3600 });
  const client = new SyncClient({
    config: { ...config, url: broker.url }, deviceId: DEVICE, store, logger: createLogger('warn'),
    facts: { dataDir: dir, startedAt: Date.now(), models: () => [] },
  });
  client.start();
  try {
    const fileBytes = statSync(file).size;
    const sha256 = await sha256File(file);
    const { slide } = store.addSlide({ sha256, path: file, sizeBytes: fileBytes });
    const job = store.claimNextJob('bench', 3_600_000)!;
    progress(`${name}: analysing ...`);
    const outDir = path.join(dir, 'results');
    const result: AnalysisResult = await analyzeSlide(file, { session: runtime.session, batchSize: runtime.selection.batchSize, decodeThreads: runtime.selection.decodeThreads, outDir, sha256 });
    store.completeJob(job.id, 'bench', {
      modelId: result.model.id, modelVersion: result.model.version, modelDigest: result.model.digest, modelRelease: result.model.releaseCounter,
      findingLabel: result.finding.label, findingScore: result.finding.score, result, outputDir: outDir,
      outbox: [resultMessage(DEVICE, job.id, slide.id, result, new Date().toISOString())],
    });
    await until('the result at the cloud', () => responder.results.some((r) => r.idempotencyKey.startsWith(`result:${sha256}`)) && store.outboxDepth() === 0);
    const resultBytes = sync.slideBytes().find((r) => r.slideId === slide.id)!.resultBytes;

    progress(`${name}: second-opinion package ...`);
    const request = await requestSecondOpinion({
      store, deviceId: DEVICE, slide: String(slide.id), note: null, requestedBy: 'bench', modelsDir: path.join(dir, 'models'), options: config.secondOpinion,
    });
    await until('the answer', () => sync.getSecondOpinion(request.id)?.state === 'answered');
    await until('the last events', () => store.outboxDepth() === 0);
    const bytes = sync.slideBytes().find((r) => r.slideId === slide.id)!;
    const files = responder.packages.get(request.requestId)!.files!;
    return { slide: name, fileBytes, resultBytes, withSecondOpinionBytes: bytes.resultBytes + bytes.secondOpinionBytes, packageFiles: files.map((f) => ({ name: f.name, bytes: f.data.length })) };
  } finally {
    await client.stop();
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const percent = (part: number, whole: number) => `${((part / whole) * 100).toFixed(3)}%`;

async function main(): Promise<void> {
  if (!mosquittoBinary()) throw new Error('bench:bandwidth publishes through a real broker: apt-get install -y mosquitto');
  const slides: [string, string][] = [];
  const cmu = path.join(fixturesDir, 'slides', 'CMU-1-Small-Region.svs');
  if (fileExists(cmu)) slides.push(['CMU-1-Small-Region.svs', cmu]);
  else progress(`skipping CMU-1-Small-Region.svs: not found in ${fixturesDir}`);
  slides.push(['synthetic 40000x30000 0.25um', await syntheticReferenceSlide()]);

  const brokerDir = await mkdtemp(path.join(tmpdir(), 'pathbox-bench-broker-'));
  const broker = await Mosquitto.start(brokerDir);
  const responder = new CloudResponder({ url: broker.url, tls: await broker.pki.client(CLOUD_IDENTITY) });
  await responder.start();
  const runtime = await openModel('cellularity', await probeHardware());
  const measured: Measured[] = [];
  try {
    for (const [name, file] of slides) measured.push(await measure(name, file, broker, responder, runtime));
  } finally {
    await runtime.session.release();
    await responder.stop();
    await broker.stop();
    await rm(brokerDir, { recursive: true, force: true });
  }

  const rows: (string | number)[][] = [['slide', 'file bytes (reference)', 'results only', 'of file', 'reduction', 'with 2nd opinion', 'of file', 'reduction']];
  for (const m of measured) {
    rows.push([m.slide, m.fileBytes, m.resultBytes, percent(m.resultBytes, m.fileBytes), percent(m.fileBytes - m.resultBytes, m.fileBytes),
      m.withSecondOpinionBytes, percent(m.withSecondOpinionBytes, m.fileBytes), percent(m.fileBytes - m.withSecondOpinionBytes, m.fileBytes)]);
  }
  process.stdout.write(`\nbytes sent per slide (MQTT PUBLISH packets acknowledged by the broker; TLS framing not counted)\n${table(rows)}\n`);
  for (const m of measured) {
    const images = m.packageFiles.filter((f) => f.name.startsWith('region-'));
    const others = m.packageFiles.filter((f) => !f.name.startsWith('region-')).map((f) => `${f.name} ${f.bytes}`).join(', ');
    process.stdout.write(`package of ${m.slide}: ${images.length} regions ${images.reduce((s, f) => s + f.bytes, 0)} bytes, ${others}\n`);
  }
  const report = path.join(outputDir(), 'bandwidth.json');
  writeFileSync(report, JSON.stringify(measured, null, 2));
  process.stdout.write(`(written to ${report})\n`);
}

await main();

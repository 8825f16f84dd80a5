import path from 'node:path';
import { analyzeSlide } from '../analysis/index.ts';
import { probeHardware } from '../device/index.ts';
import { ModelRegistry, openModel } from '../models/index.ts';
import { jpegCodec } from '../slide/index.ts';
import { output, parse, UsageError } from './args.ts';
import type { Command } from './command.ts';
import { listModels } from './model-listing.ts';
import { progressReporter } from './progress.ts';

/** The models folder of a data directory (installed bundles and their active pointers). */
export function modelsRoot(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'models');
}

function registryFor(dataDir: unknown): ModelRegistry | undefined {
  return typeof dataDir === 'string' ? new ModelRegistry(modelsRoot(dataDir)) : undefined;
}

const analyze: Command = {
  name: 'analyze',
  usage: 'pathbox analyze FILE [--model ID|DIR] [--out DIR] [--mpp UM] [--data-dir DIR] [--json]',
  summary: 'analyse one slide without the daemon (progress on stderr)',
  async run(argv) {
    const args = parse(argv, { model: { type: 'string' }, out: { type: 'string' }, mpp: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    const file = args.positionals[0];
    if (!file) throw new UsageError('FILE is required');
    const defaultMpp = args.values.mpp === undefined ? null : Number(args.values.mpp);
    if (defaultMpp !== null && !(defaultMpp > 0)) throw new UsageError('--mpp must be a positive number of microns per pixel');
    const hardware = await probeHardware();
    const runtime = await openModel((args.values.model as string | undefined) ?? 'cellularity', hardware, { registry: registryFor(args.values['data-dir']) });
    try {
      const outDir = (args.values.out as string | undefined) ?? null;
      const result = await analyzeSlide(file, {
        session: runtime.session,
        batchSize: runtime.selection.batchSize,
        decodeThreads: runtime.selection.decodeThreads,
        outDir,
        defaultMpp,
        onProgress: progressReporter(path.basename(file)),
      });
      output(args.values.json === true, result, () => [
        `${path.basename(file)}: ${result.finding.label} (score ${result.finding.score})`,
        `  model ${result.model.id} ${result.model.version} (${result.model.variant} on ${result.model.executionProvider})${result.model.researchOnly ? ', research use only' : ''}`,
        `  tissue ${(result.tissue.fraction * 100).toFixed(1)}% (${result.tissue.areaMm2} mm2), ${result.tiles.analyzed} of ${result.tiles.total} tiles analysed in ${(result.timings.totalMs / 1000).toFixed(1)} s`,
        ...result.rois.slice(0, 5).map((r, i) => `  ROI ${i + 1}: x ${r.x} y ${r.y} ${r.width}x${r.height} score ${r.score}`),
        ...result.notes.map((n) => `  note: ${n}`),
        outDir ? `  outputs in ${outDir}` : '',
      ].filter(Boolean).join('\n'));
    } finally {
      await runtime.session.release();
    }
  },
};

const hw: Command = {
  name: 'hw',
  usage: 'pathbox hw [--json]',
  summary: 'probe the hardware: CPU and its instruction sets, memory, GPUs, USB accelerators, onnxruntime providers, JPEG codec',
  async run(argv) {
    const args = parse(argv, { json: { type: 'boolean' } });
    const profile = await probeHardware();
    // The tile codec matters as much as the CPU: without the native one every slide reads ~3x slower.
    output(args.values.json === true, { ...profile, jpegCodec }, () => [
      `CPU: ${profile.cpu.vendor} ${profile.cpu.model}, ${profile.cpu.physicalCores} cores / ${profile.cpu.logicalCores} threads, ${profile.cpu.flags.join(' ') || 'no extra instruction sets'}`,
      `memory: ${profile.memory.availableMB} of ${profile.memory.totalMB} MB available`,
      `GPUs: ${profile.gpus.map((g) => `${g.vendor} ${g.model}`).join(', ') || 'none'}`,
      `accelerators: ${profile.accelerators.map((a) => a.name).join(', ') || 'none'}`,
      `USB: ${profile.usb.available ? 'available' : `unavailable (${profile.usb.reason})`}`,
      `onnxruntime providers: ${profile.executionProviders.available.join(', ')}`,
      `JPEG codec: ${jpegCodec === 'libjpeg-turbo' ? 'libjpeg-turbo (native/jpeg)' : `sharp (${process.env.PATHBOX_JPEG_CODEC === 'sharp' ? 'chosen by PATHBOX_JPEG_CODEC' : 'native/jpeg is not built: install libjpeg62-turbo-dev and run npm install'})`}`,
    ].join('\n'));
  },
};

const modelsList: Command = {
  name: 'models list',
  usage: 'pathbox models list [--data-dir DIR] [--json]',
  summary: 'list installed and built-in model bundles with their variants',
  async run(argv) {
    const args = parse(argv, { 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
    const models = await listModels(registryFor(args.values['data-dir']));
    output(args.values.json === true, { models }, () => models.map((m) =>
      `${m.id} ${m.version}${m.active ? ' (active)' : ''} [${m.origin}] ${m.task}: variants ${m.variants.map((v) => `${v.name}/${v.precision}`).join(', ')}${m.error ? ` ERROR: ${m.error}` : ''}`).join('\n') || 'no models');
  },
};

const modelsSelect: Command = {
  name: 'models select',
  usage: 'pathbox models select [--model ID|DIR] [--data-dir DIR] [--explain] [--json]',
  summary: 'show which variant, provider, threads and batch size this hardware gets, and why',
  async run(argv) {
    const args = parse(argv, { model: { type: 'string' }, 'data-dir': { type: 'string' }, explain: { type: 'boolean' }, json: { type: 'boolean' } });
    const hardware = await probeHardware();
    const runtime = await openModel((args.values.model as string | undefined) ?? 'cellularity', hardware, { registry: registryFor(args.values['data-dir']) });
    await runtime.session.release();
    const s = runtime.selection;
    const decision = {
      model: { id: runtime.bundle.manifest.id, version: runtime.bundle.manifest.version, origin: runtime.origin },
      variant: s.variant.name, precision: s.variant.precision, executionProvider: s.executionProvider,
      intraOpThreads: s.intraOpThreads, interOpThreads: s.interOpThreads, decodeThreads: s.decodeThreads, batchSize: s.batchSize,
      ...(args.values.explain ? { reasons: s.reasons, rejected: s.rejected, rejectedProviders: s.rejectedProviders } : {}),
    };
    output(args.values.json === true, decision, () => [
      `${decision.model.id} ${decision.model.version}: variant ${s.variant.name} (${s.variant.precision}) on ${s.executionProvider}, ${s.intraOpThreads} thread(s), batch ${s.batchSize}`,
      ...(args.values.explain ? [...s.reasons.map((r) => `  because ${r}`), ...s.rejected.map((r) => `  not ${r.variant}: ${r.reason}`), ...s.rejectedProviders.map((r) => `  not ${r.provider}: ${r.reason}`)] : []),
    ].join('\n'));
  },
};

export const analysisCommands: Command[] = [analyze, hw, modelsList, modelsSelect];

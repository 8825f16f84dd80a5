/**
 * A box process for the crash tests: starts like the daemon (trial-boot accounting), resumes or starts an
 * update, plays healthy analyses through a trial window, and prints the outcome as JSON. With KILL_AT set it
 * SIGKILLs itself at that checkpoint (the Nth time it is reached), like a power cut at that step.
 */
import path from 'node:path';
import { loadBundle, ModelRegistry } from '../../../src/models/index.ts';
import { DEFAULT_OTA_SETTINGS, OtaInstaller, repositorySource, type JobOutcome } from '../../../src/ota/index.ts';
import { isTerminalOtaState, Store } from '../../../src/store/index.ts';

interface ChildOptions {
  dataDir: string;
  location: string;
  factoryRoot: string;
  trialAnalyses: number;
  killAt: string | null;
  occurrence: number;
  /** Play failing analyses instead of healthy ones (the new model breaks in its trial window). */
  failAnalyses?: boolean;
}

const options = JSON.parse(process.argv[2]) as ChildOptions;
let reached = 0;
const maybeDie = (step: string) => {
  if (step === options.killAt && ++reached === options.occurrence) process.kill(process.pid, 'SIGKILL');
};

const store = Store.open(path.join(options.dataDir, 'pathbox.db'));
const registry = new ModelRegistry(path.join(options.dataDir, 'models'));
const installer = new OtaInstaller({
  dataDir: options.dataDir, store, registry, deviceId: 'crash-test-box',
  settings: {
    ...DEFAULT_OTA_SETTINGS, trialAnalyses: options.trialAnalyses, minFreeBytes: 0, factoryRoot: options.factoryRoot,
    limits: { minBytesPerSecond: 1, throughputWindowMs: 5000, headersTimeoutMs: 5000, maxAttempts: 3, backoffMs: () => 5 },
  },
  activation: {
    betweenSlides: (fn) => fn(),
    serve: async (id) => {
      const active = await registry.getActive(id);
      if (active) await loadBundle(active.dir);
    },
  },
  checkpoint: maybeDie,
  // Small writes, so a kill lands in the middle of a file.
  writeFault: (file) => {
    if (file.endsWith('.part')) maybeDie('download:write');
  },
});

await installer.onStart();
let outcome: JobOutcome | null = await installer.run();
if (!outcome || isTerminalOtaState(outcome.state)) outcome = await installer.run({ source: await repositorySource(options.location), trigger: 'cli' });
while (outcome && outcome.state === 'HEALTH_CHECK') {
  const ok = !options.failAnalyses;
  const next: JobOutcome | null = await installer.recordAnalysis({ modelId: outcome.model!.id, version: outcome.model!.version!, ok, detail: ok ? undefined : 'inference returned NaN' });
  if (!next) break;
  outcome = next;
}
store.close();
process.stdout.write(`${JSON.stringify(outcome)}\n`);

import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deviceId as machineDeviceId, probeHardware, watchUsb, type UsbWatch } from '../device/index.ts';
import { InboxWatcher } from '../ingest/index.ts';
import { ModelRegistry, openModel, type ModelRuntime } from '../models/index.ts';
import { daemonOtaAgent, handleOtaNudge, type OtaAgent } from '../ota/index.ts';
import { Store } from '../store/index.ts';
import { startWebServer, type WebServer } from '../web/index.ts';
import { SyncClient } from '../sync/index.ts';
import type { Config } from './config.ts';
import { DiskGuard } from './disk-guard.ts';
import { pruneDerivedFiles } from './retention.ts';
import type { Logger } from './logger.ts';
import { SystemdNotifier } from './systemd.ts';
import { AnalysisWorker } from './worker.ts';

/** Files of a data folder. */
export function dataPaths(dataDir: string) {
  return {
    database: path.join(dataDir, 'pathbox.db'),
    results: path.join(dataDir, 'results'),
    models: path.join(dataDir, 'models'),
    heartbeat: path.join(dataDir, 'daemon.json'),
  };
}

/** What the running daemon publishes for `pathbox status` (which may run as another process). */
export interface Heartbeat {
  pid: number;
  startedAt: string;
  at: string;
  model: { id: string; version: string; variant: string; executionProvider: string; digest: string; origin: string; reasons: string[] } | null;
  disk: DiskGuard['state'];
  inboxes: { path: string; error: string | null }[];
  usb: { name: string; kind: string; attachedAt: string }[];
}

const HEARTBEAT_MS = 2000;
const PRUNE_DAILY_MS = 86_400_000;
const PRUNE_WHEN_FULL_MS = 600_000;

/**
 * The appliance process: ingest finds slides, the worker analyses them, the disk guard pauses ingest
 * when space runs out, and systemd hears that we are ready and alive.
 */
export class Daemon {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  private readonly paths: ReturnType<typeof dataPaths>;
  private readonly notifier = new SystemdNotifier();
  private readonly disk: DiskGuard;
  private runtime: ModelRuntime | null = null;
  private ingest: InboxWatcher | null = null;
  private worker: AnalysisWorker | null = null;
  private web: WebServer | null = null;
  private sync: SyncClient | null = null;
  private usb: UsbWatch | null = null;
  private ota: OtaAgent | null = null;
  private hardware: Awaited<ReturnType<typeof probeHardware>> | null = null;
  private readonly usbDevices = new Map<string, Heartbeat['usb'][number]>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date().toISOString();
  private stopped: Promise<void> | null = null;
  private lastPrune = 0;

  private constructor(config: Config, logger: Logger, store: Store) {
    this.config = config;
    this.logger = logger;
    this.store = store;
    this.paths = dataPaths(config.dataDir);
    this.disk = new DiskGuard(config.dataDir, config.disk.pauseBelowMB, config.disk.resumeAboveMB);
  }

  /** Opens the store (refusing a damaged one), recovers interrupted jobs, loads the model, starts work. */
  static async start(config: Config, logger: Logger): Promise<Daemon> {
    const paths = dataPaths(config.dataDir);
    await mkdir(config.dataDir, { recursive: true });
    await mkdir(paths.results, { recursive: true });
    for (const inbox of config.inboxes) await mkdir(inbox, { recursive: true }).catch(() => {});
    const store = Store.open(paths.database);
    const daemon = new Daemon(config, logger, store);
    try {
      await daemon.boot();
    } catch (e) {
      await daemon.stop(0);
      throw e;
    }
    return daemon;
  }

  private async boot(): Promise<void> {
    const { config, logger, store } = this;
    for (const job of store.recoverInterruptedJobs()) logger.warn({ jobId: job.id, state: job.state }, 'job interrupted by the last stop recovered');
    const hardware = (this.hardware = await probeHardware());
    const registry = new ModelRegistry(this.paths.models);
    this.ota = daemonOtaAgent(config.ota, {
      dataDir: config.dataDir, store, registry, logger, deviceId: config.mqtt.deviceId ?? (await machineDeviceId().catch(() => 'unidentified')),
      activation: { betweenSlides: (fn) => (this.worker ? this.worker.betweenSlides(fn) : fn()), serve: (id) => this.serveModel(id, registry) },
    });
    await this.ota.installer.scrub();
    this.runtime = await openModel(config.analysis.model, hardware, { registry });
    const m = this.runtime.bundle.manifest;
    logger.info({ model: `${m.id}@${m.version}`, variant: this.runtime.selection.variant.name, reasons: this.runtime.selection.reasons }, 'model ready');
    store.logEvent('system', 'daemon.start', null, { pid: process.pid, model: `${m.id}@${m.version}` });

    await this.disk.check();
    const syncDeviceId = config.mqtt.url ? (config.mqtt.deviceId ?? (await machineDeviceId())) : null;
    this.worker = new AnalysisWorker({
      store, logger, resultsDir: this.paths.results, model: () => this.runtime!, defaultMpp: config.analysis.defaultMpp, syncDeviceId,
      onAnalysed: (outcome) => void this.ota?.recordAnalysis(outcome),
    });
    this.ingest = new InboxWatcher(store, {
      inboxes: config.inboxes,
      settleMs: config.ingest.settleSeconds * 1000,
      pollMs: config.ingest.pollSeconds * 1000,
      pausedBecause: () => this.disk.state.reason,
      logger,
      onQueued: () => this.worker?.wake(),
    });
    this.worker.start();
    await this.ota.start();
    this.web = await startWebServer({
      store, logger, dataDir: config.dataDir, host: config.http.host, port: config.http.port, hospital: config.hospital,
      tls: config.http.tlsCert && config.http.tlsKey ? { cert: config.http.tlsCert, key: config.http.tlsKey } : undefined,
      heartbeatFile: this.paths.heartbeat, modelsDir: this.paths.models, mqtt: { url: config.mqtt.url, deviceId: syncDeviceId ?? undefined },
    });
    logger.info({ url: this.web.url }, 'dashboard listening');
    if (config.mqtt.url && syncDeviceId) {
      const models = () => (this.runtime ? [{ id: this.runtime.bundle.manifest.id, version: this.runtime.bundle.manifest.version, variant: this.runtime.selection.variant.name }] : []);
      this.sync = new SyncClient({
        config: { ...config.mqtt, url: config.mqtt.url }, deviceId: syncDeviceId, store, logger,
        facts: { dataDir: config.dataDir, startedAt: Date.parse(this.startedAt), models },
        onOtaNudge: (payload) => void handleOtaNudge(payload).then((verdict) => logger.info({ verdict }, 'update nudge')),
      });
      this.sync.start();
    }
    this.ingest.start();
    this.usb = await watchUsb((change) => {
      const key = `${change.device.vendorId}:${change.device.productId}@${change.device.location}`;
      if (change.type === 'attach') this.usbDevices.set(key, { name: change.device.name, kind: change.device.kind, attachedAt: new Date().toISOString() });
      else this.usbDevices.delete(key);
      store.logEvent('device', `usb.${change.type}`, key, { name: change.device.name, kind: change.device.kind });
    });
    await this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.notifier.ready(`ready; model ${m.id} ${m.version}`);
    this.notifier.startWatchdog(() => Date.now() - (this.worker?.lastBeat ?? 0) < 10 * 60_000);
  }

  get model(): ModelRuntime | null {
    return this.runtime;
  }

  /** The updater switched `id`: open its active bundle and serve it from the next slide on (called between slides). */
  private async serveModel(id: string, registry: ModelRegistry): Promise<void> {
    if (id !== this.runtime?.bundle.manifest.id) return;
    const started = performance.now();
    const next = await openModel(this.config.analysis.model, this.hardware!, { registry });
    const previous = this.runtime;
    this.runtime = next;
    await previous.session.release();
    const ms = Math.round(performance.now() - started);
    this.logger.info({ model: `${id}@${next.bundle.manifest.version}`, ms }, 'model swapped between slides');
    this.store.logEvent('ota', 'ota.model.swapped', `model:${id}`, { from: previous.bundle.manifest.version, to: next.bundle.manifest.version, ms });
  }

  /** Where the dashboard listens, once started. */
  get dashboardUrl(): string | null {
    return this.web?.url ?? null;
  }

  /** Re-reads what may change without a restart (disk thresholds, log level) after SIGHUP. */
  reload(config: Config): void {
    this.disk.configure(config.disk.pauseBelowMB, config.disk.resumeAboveMB);
    this.logger.level = config.log.level;
    this.logger.info('configuration reloaded');
    void this.beat();
  }

  private async beat(): Promise<void> {
    try {
      if (await this.disk.check()) {
        const state = this.disk.state;
        this.logger.warn({ freeBytes: state.freeBytes }, state.paused ? state.reason! : 'disk space recovered; ingest resumed');
        this.store.logEvent('system', state.paused ? 'disk.paused' : 'disk.resumed', null, { freeBytes: state.freeBytes });
        if (!state.paused) void this.ingest?.scan();
      }
      await this.pruneWhenDue();
      const r = this.runtime;
      const heartbeat: Heartbeat = {
        pid: process.pid,
        startedAt: this.startedAt,
        at: new Date().toISOString(),
        model: r && {
          id: r.bundle.manifest.id, version: r.bundle.manifest.version, variant: r.selection.variant.name,
          executionProvider: r.selection.executionProvider, digest: `sha256:${r.session.variant.sha256}`, origin: r.origin, reasons: r.selection.reasons,
        },
        disk: this.disk.state,
        inboxes: this.config.inboxes.map((inbox) => ({ path: inbox, error: this.ingest?.problems.find((p) => p.inbox === inbox)?.error ?? null })),
        usb: [...this.usbDevices.values()],
      };
      const temporary = `${this.paths.heartbeat}.tmp`;
      await writeFile(temporary, JSON.stringify(heartbeat));
      await rename(temporary, this.paths.heartbeat);
    } catch (e) {
      this.logger.error({ err: e }, 'heartbeat failed');
    }
  }

  /** Retention: daily, and at once (then every 10 minutes) while the disk guard holds ingest. */
  private async pruneWhenDue(): Promise<void> {
    const due = this.disk.state.paused ? PRUNE_WHEN_FULL_MS : PRUNE_DAILY_MS;
    if (Date.now() - this.lastPrune < due) return;
    this.lastPrune = Date.now();
    const freed = await pruneDerivedFiles(this.paths.results, this.config.disk.retentionDays);
    if (freed.files > 0) {
      this.logger.info(freed, 'retention removed regenerable files');
      this.store.logEvent('system', 'retention.pruned', null, freed);
    }
  }

  /** Graceful stop: no new work, the running slide drains or is checkpointed, then everything closes. */
  stop(drainMs = this.config.analysis.drainSeconds * 1000): Promise<void> {
    this.stopped ??= (async () => {
      const step = async (name: string, action: () => Promise<void> | void) => {
        this.logger.debug({ step: name }, 'stopping');
        await action();
      };
      this.notifier.stopping();
      this.notifier.stopWatchdog();
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      await step('web', () => this.web?.close());
      await step('ingest', () => this.ingest?.stop());
      await step('ota', () => this.ota?.stop());
      await step('worker', () => this.worker?.stop(drainMs));
      await step('sync', () => this.sync?.stop());
      await step('usb', () => this.usb?.stop());
      await step('model', () => this.runtime?.session.release());
      this.store.logEvent('system', 'daemon.stop', null, { pid: process.pid });
      this.store.close();
      this.logger.info('stopped');
    })();
    return this.stopped;
  }
}

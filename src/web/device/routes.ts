import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import si from 'systeminformation';
import type { Heartbeat } from '../../daemon/daemon.ts';
import { diskSpace } from '../../daemon/disk-guard.ts';
import { probeHardware, type HardwareProfile } from '../../device/index.ts';
import { ModelRegistry } from '../../models/index.ts';
import { SyncStore } from '../../store/index.ts';
import { ALL_ROLES, type WebContext } from '../context.ts';
import { modelVersions, recentUpdates } from './model-versions.ts';

/** The hardware barely changes while the box runs; probing takes seconds (it tries onnxruntime's providers). */
const HARDWARE_REFRESH_MS = 10 * 60_000;
/** A heartbeat older than this means the daemon's worker side is not alive. */
const HEARTBEAT_STALE_MS = 15_000;

/** What the Device page shows: health, models and their updates, sync, the hardware decision and USB devices. */
export async function deviceRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  let hardware: { at: number; profile: Promise<HardwareProfile> } | null = null;
  const currentHardware = () => {
    if (!hardware || Date.now() - hardware.at > HARDWARE_REFRESH_MS) {
      const profile = probeHardware();
      hardware = { at: Date.now(), profile };
      profile.catch(() => (hardware = null));
    }
    return hardware.profile;
  };

  app.get('/device', { config: { access: ALL_ROLES } }, async () => {
    const [heartbeat, load, memory, temperature, disk, models, profile] = await Promise.all([
      readHeartbeat(ctx.heartbeatFile),
      si.currentLoad().catch(() => null),
      si.mem().catch(() => null),
      si.cpuTemperature().catch(() => null),
      diskSpace(ctx.dataDir),
      modelVersions(new ModelRegistry(ctx.modelsDir)).catch((e: Error) => ({ error: e.message })),
      currentHardware().catch((e: Error) => ({ error: e.message })),
    ]);
    const sync = new SyncStore(ctx.store);
    const perSlide = sync.slideBytes(Number.MAX_SAFE_INTEGER);
    const slideBytes = perSlide.reduce((sum, s) => sum + s.sizeBytes, 0);
    const bytesSent = perSlide.reduce((sum, s) => sum + s.resultBytes + s.secondOpinionBytes, 0);
    const hw = 'error' in profile ? null : profile;
    return {
      daemon: heartbeat && { pid: heartbeat.pid, startedAt: heartbeat.startedAt, lastHeartbeat: heartbeat.at, alive: Date.now() - Date.parse(heartbeat.at) < HEARTBEAT_STALE_MS },
      health: {
        cpuLoadPercent: load ? round(load.currentLoad) : null,
        memory: memory ? { totalBytes: memory.total, availableBytes: memory.available } : null,
        temperatureC: temperature?.main ?? null,
        disk: { path: ctx.dataDir, freeBytes: disk.freeBytes, totalBytes: disk.totalBytes, ingestPaused: heartbeat?.disk.paused ?? false, reason: heartbeat?.disk.reason ?? null },
        inboxes: heartbeat?.inboxes ?? [],
      },
      slides: ctx.store.countSlidesByState(),
      queueDepth: ctx.store.queueDepth(),
      models: 'error' in models ? { error: models.error } : models,
      updates: recentUpdates(ctx.store),
      activeModel: heartbeat?.model ?? null,
      hardwareDecision: {
        selection: heartbeat?.model ? { variant: heartbeat.model.variant, executionProvider: heartbeat.model.executionProvider, reasons: heartbeat.model.reasons } : null,
        cpu: hw && { model: hw.cpu.model, arch: hw.cpu.arch, cores: hw.cpu.physicalCores, threads: hw.cpu.logicalCores, flags: hw.cpu.flags },
        memoryMB: hw?.memory.totalMB ?? null,
        gpus: hw?.gpus ?? [],
        accelerators: hw?.accelerators ?? [],
        executionProviders: hw?.executionProviders ?? null,
        warnings: 'error' in profile ? [`hardware probe failed: ${profile.error}`] : profile.warnings,
      },
      sync: {
        configured: !!ctx.mqtt.url,
        broker: ctx.mqtt.url ? brokerHost(ctx.mqtt.url) : null,
        deviceId: ctx.mqtt.deviceId ?? null,
        outbox: { ...sync.laneDepths(), waitingSince: sync.oldestWaitingSince() },
        cloudReceipts: sync.cloudReceiptCount(),
        // What synced slides cost on the wire against uploading the slide files themselves.
        slidesSynced: perSlide.length,
        slideBytes,
        bytesSent,
        bytesSaved: slideBytes - bytesSent,
      },
      usb: {
        attached: heartbeat?.usb ?? [],
        bus: hw ? (hw.usb.available ? { available: true, devices: hw.usb.devices } : { available: false, reason: hw.usb.reason }) : null,
      },
    };
  });
}

async function readHeartbeat(file: string | null): Promise<Heartbeat | null> {
  if (!file) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Heartbeat;
  } catch {
    return null;
  }
}

/** Only the host and port: a broker URL may carry credentials. */
function brokerHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'invalid URL';
  }
}

const round = (v: number) => Math.round(v * 10) / 10;

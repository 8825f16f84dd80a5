import { readFileSync } from 'node:fs';
import type { Logger } from '../daemon/logger.ts';
import { SyncStore, type Store } from '../store/index.ts';
import { BandwidthBudget } from './budget.ts';
import type { MqttConfig } from './config.ts';
import { MqttConnection } from './connection.ts';
import { eventMessages, resultAckSchema, secondOpinionResponseSchema, topics } from './messages.ts';
import { OutboxPublisher } from './publisher.ts';
import { collectTelemetry, type TelemetryFacts } from './telemetry.ts';

export interface SyncClientOptions {
  config: MqttConfig & { url: string };
  deviceId: string;
  store: Store;
  logger: Logger;
  facts: Omit<TelemetryFacts, 'syncError'>;
  /** Update nudges go to the OTA agent unparsed: it checks size, form, freshness and replay itself. */
  onOtaNudge?: (payload: Buffer) => void;
}

const RELAY_EVERY_MS = 1000;
const SOFTWARE = `pathbox ${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;

/**
 * The box's side of cloud sync, run by the daemon when `mqtt.url` is set: keeps the broker connection,
 * publishes the outbox, relays audit events, sends telemetry, and stores what the cloud sends back
 * (second-opinion answers, result receipts). Without a broker everything keeps working and waits.
 */
export class SyncClient {
  readonly sync: SyncStore;
  private readonly options: SyncClientOptions;
  private readonly topics: ReturnType<typeof topics>;
  private readonly budget: BandwidthBudget;
  private readonly connection: MqttConnection;
  private readonly publisher: OutboxPublisher;
  private timers: NodeJS.Timeout[] = [];

  constructor(options: SyncClientOptions) {
    this.options = options;
    const { config, deviceId, store, logger } = options;
    this.sync = new SyncStore(store);
    this.topics = topics(deviceId);
    this.budget = new BandwidthBudget(config.bandwidth, this.sync);
    const log = logger.child({ stage: 'sync' });
    this.connection = new MqttConnection({
      url: config.url, deviceId, ca: config.ca, cert: config.cert, key: config.key,
      sessionExpirySeconds: config.sessionExpirySeconds, reconnectMaxSeconds: config.reconnectMaxSeconds, software: SOFTWARE, logger: log,
      onMessage: (topic, payload) => this.received(topic, payload),
      onSent: (bytes) => this.sync.countBytes(bytes),
      onConnected: () => this.publisher.connected(),
    });
    this.publisher = new OutboxPublisher({ sync: this.sync, connection: this.connection, budget: this.budget, logger: log });
  }

  start(): void {
    this.sync.rememberDeviceId(this.options.deviceId);
    this.relayEvents();
    this.publisher.start();
    this.connection.start();
    this.timers = [
      setInterval(() => this.relayEvents(), RELAY_EVERY_MS),
      setInterval(() => void this.sendTelemetry(), this.options.config.telemetrySeconds * 1000),
    ];
  }

  get state(): { connected: boolean; lastError: string | null } {
    return { connected: this.connection.connected, lastError: this.publisher.lastError ?? this.connection.lastError };
  }

  /** Stops publishing (unacknowledged rows stay for next time), says "offline", disconnects. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.relayEvents();
    await this.publisher.stop();
    await this.connection.stop();
  }

  private relayEvents(): void {
    try {
      const { deviceId, store } = this.options;
      if (this.sync.relayEvents((events) => eventMessages(deviceId, events, (id) => store.getSlide(id)?.sha256)) > 0) this.publisher.wake();
    } catch (e) {
      this.options.logger.error({ err: e }, 'audit events not relayed');
    }
  }

  /** Health now or never: telemetry is not queued while offline (a stale reading is worth nothing). */
  private async sendTelemetry(): Promise<void> {
    if (!this.connection.connected) return;
    try {
      const telemetry = await collectTelemetry(this.options.deviceId, this.options.store, this.sync, { ...this.options.facts, syncError: () => this.state.lastError });
      const payload = Buffer.from(JSON.stringify(telemetry));
      if (this.budget.waitMs(payload.length, 'normal') > 0) return;
      this.budget.spent(payload.length);
      this.sync.countBytes(await this.connection.publish(this.topics.telemetry, payload, null, { qos: 0 }));
    } catch (e) {
      this.options.logger.debug({ err: e }, 'telemetry not sent');
    }
  }

  /** Runs before the broker gets our PUBACK, so an answer is stored before the cloud may forget it. */
  private received(topic: string, payload: Buffer): void {
    const { logger } = this.options;
    if (topic === this.topics.otaFleet || topic === this.topics.otaCommand) {
      this.options.onOtaNudge?.(payload);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      logger.warn({ topic }, 'message from the cloud is not JSON; ignored');
      return;
    }
    if (topic === this.topics.secondOpinionResponse) {
      const parsed = secondOpinionResponseSchema.safeParse(json);
      if (!parsed.success) {
        logger.warn({ topic, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'second-opinion response rejected');
        return;
      }
      const stored = this.sync.recordResponse(parsed.data.requestId, parsed.data);
      if (!stored) logger.warn({ requestId: parsed.data.requestId }, 'second-opinion response for a request this box never made; ignored');
      else if (!stored.duplicate) logger.info({ requestId: parsed.data.requestId, slideId: stored.request.slideId }, 'second opinion received');
    } else if (topic === this.topics.resultsAck) {
      const parsed = resultAckSchema.safeParse(json);
      if (parsed.success) this.sync.recordCloudReceipt(parsed.data.idempotencyKey);
      else logger.warn({ topic }, 'result receipt rejected');
    }
  }
}

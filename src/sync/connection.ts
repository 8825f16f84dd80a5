import { readFile } from 'node:fs/promises';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../daemon/logger.ts';
import { reconnectDelayMs } from './budget.ts';
import { statusPayload, topics } from './messages.ts';
import { JSON_CONTENT_TYPE, publishPacketBytes, publishProperties, type PublishProperties } from './wire.ts';

export interface ConnectionOptions {
  url: string;
  deviceId: string;
  /** PEM file paths; read at every attempt, so a certificate installed later needs no restart. */
  ca?: string;
  cert?: string;
  key?: string;
  sessionExpirySeconds: number;
  reconnectMaxSeconds: number;
  software: string;
  logger: Logger;
  /** Called synchronously for each message from the cloud, before the broker gets our PUBACK. */
  onMessage(topic: string, payload: Buffer): void;
  /** Bytes of what the connection publishes by itself (the status), for the budget. */
  onSent(bytes: number): void;
  onConnected(): void;
}

/** The connection dropped before the broker acknowledged: the message stays in the outbox. */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

/** The broker answered with an error reason code (not authorised, too large, quota...). */
export class PublishRefusedError extends Error {
  override name = 'PublishRefusedError';
  readonly reasonCode: number;
  constructor(message: string, reasonCode: number) {
    super(message);
    this.reasonCode = reasonCode;
  }
}

interface InFlight {
  reject(error: Error): void;
}

const KEEPALIVE_SECONDS = 30;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * One MQTT 5 session with the broker, kept up for as long as the daemon runs: persistent session
 * (clean: false, session expiry), a retained "online" status with a retained "offline" last will, and
 * reconnection with exponential back-off and jitter. mqtt.js's own reconnect (fixed period, no jitter)
 * is off: each attempt is a fresh client on the same client id, so the broker resumes the session.
 */
export class MqttConnection {
  private readonly options: ConnectionOptions;
  private readonly topics: ReturnType<typeof topics>;
  private client: MqttClient | null = null;
  private readonly inFlight = new Set<InFlight>();
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  connected = false;
  lastError: string | null = null;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.topics = topics(options.deviceId);
  }

  start(): void {
    void this.attempt();
  }

  private async attempt(): Promise<void> {
    this.retryTimer = null;
    if (this.stopping) return;
    const { options } = this;
    let tls: Pick<IClientOptions, 'ca' | 'cert' | 'key'>;
    try {
      tls = {
        ...(options.ca && { ca: await readFile(options.ca) }),
        ...(options.cert && { cert: await readFile(options.cert) }),
        ...(options.key && { key: await readFile(options.key) }),
      };
    } catch (e) {
      this.failed(`cannot read the TLS files in the mqtt configuration: ${(e as Error).message}`);
      return;
    }
    const client = connect(options.url, {
      ...tls,
      protocolVersion: 5,
      clientId: `pathbox-${options.deviceId}`,
      clean: false,
      properties: { sessionExpiryInterval: options.sessionExpirySeconds },
      keepalive: KEEPALIVE_SECONDS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectPeriod: 0,
      rejectUnauthorized: true,
      will: { topic: this.topics.status, payload: Buffer.from(statusPayload(options.deviceId, 'offline', 'connection lost', options.software)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.connected = true;
      this.failures = 0;
      this.lastError = null;
      options.logger.info({ url: options.url, sessionPresent: connack.sessionPresent }, 'connected to the MQTT broker');
      client.subscribe([this.topics.secondOpinionResponse, this.topics.resultsAck, this.topics.otaFleet, this.topics.otaCommand], { qos: 1 }, (err) => {
        if (err) options.logger.error({ err }, 'MQTT subscribe failed');
      });
      void this.publish(this.topics.status, Buffer.from(statusPayload(options.deviceId, 'online', 'connected', options.software)), null, { retain: true })
        .then(options.onSent, () => {});
      options.onConnected();
    });
    client.on('message', (topic, payload) => {
      try {
        options.onMessage(topic, payload);
      } catch (e) {
        options.logger.error({ err: e, topic }, 'message from the cloud not handled');
      }
    });
    client.on('error', (err) => {
      this.lastError = err.message;
    });
    client.on('close', () => {
      if (this.client !== client) return;
      const wasConnected = this.connected;
      this.connected = false;
      this.client = null;
      client.end(true);
      for (const pending of this.inFlight) pending.reject(new ConnectionLostError('connection to the broker lost before its acknowledgement'));
      this.inFlight.clear();
      if (wasConnected) options.logger.warn({ reason: this.lastError }, 'MQTT connection lost; results wait in the outbox');
      this.failed(this.lastError ?? 'connection closed');
    });
  }

  private failed(reason: string): void {
    this.lastError = reason;
    if (this.stopping) return;
    const delay = reconnectDelayMs(this.failures++, this.options.reconnectMaxSeconds * 1000);
    // The first failures are worth a warning; a broker that stays away is logged quietly.
    this.options.logger[this.failures <= 3 ? 'warn' : 'debug']({ reason, retryInMs: delay, attempt: this.failures }, 'MQTT broker unreachable');
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
  }

  /**
   * Publishes at QoS 1 and resolves with the packet's size once the broker acknowledged it. Rejects
   * with ConnectionLostError or PublishRefusedError; never resolves for a message the broker lacks.
   */
  publish(topic: string, payload: Buffer, idempotencyKey: string | null, options: { retain?: boolean; qos?: 0 | 1 } = {}): Promise<number> {
    const client = this.client;
    if (!client || !this.connected) return Promise.reject(new ConnectionLostError('not connected to the broker'));
    const qos = options.qos ?? 1;
    const properties: PublishProperties = idempotencyKey === null
      ? { contentType: JSON_CONTENT_TYPE }
      : publishProperties(idempotencyKey, payload);
    const bytes = publishPacketBytes(topic, payload, properties, qos);
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const pending: InFlight = {
        reject: (error) => {
          if (!settled) reject(error);
          settled = true;
        },
      };
      this.inFlight.add(pending);
      client.publish(topic, payload, { qos, retain: options.retain ?? false, properties }, (err) => {
        this.inFlight.delete(pending);
        if (settled) return;
        settled = true;
        if (!err) resolve(bytes);
        else if ('code' in err && typeof err.code === 'number') reject(new PublishRefusedError(err.message, err.code));
        else reject(new ConnectionLostError(err.message));
      });
    });
  }

  /** Says goodbye properly: a retained "offline" status (no last will needed), then disconnect. */
  async stop(timeoutMs = 2000): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    const deadline = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    if (this.connected) {
      const goodbye = this.publish(this.topics.status, Buffer.from(statusPayload(this.options.deviceId, 'offline', 'stopped', this.options.software)), null, { retain: true });
      await Promise.race([goodbye.then(this.options.onSent, () => {}), deadline(timeoutMs)]);
      this.connected = false;
      this.client = null;
      await Promise.race([new Promise<void>((resolve) => client.end(false, {}, () => resolve())), deadline(timeoutMs)]);
    }
    this.client = null;
    this.connected = false;
    client.end(true);
    for (const pending of this.inFlight) pending.reject(new ConnectionLostError('stopping'));
    this.inFlight.clear();
  }
}

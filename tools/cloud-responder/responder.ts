/**
 * The cloud's side of the loop, small enough for tests and the demo: subscribes to every box, drops
 * duplicates by idempotency key, acknowledges results, reassembles second-opinion packages (whatever
 * order or repetition their chunks arrive in) and answers each with an expert's opinion.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import {
  decodeChunk, decodePackage, IDEMPOTENCY_PROPERTY, topics, type PackageFile, type SecondOpinionRequestPayload, type SecondOpinionResponse,
} from '../../src/sync/index.ts';
import type { TlsFiles } from './mosquitto.ts';

export interface CapturedMessage {
  topic: string;
  payload: Buffer;
  idempotencyKey: string | null;
  retained: boolean;
}

export interface ReceivedPackage {
  deviceId: string;
  request: SecondOpinionRequestPayload | null;
  chunks: Map<number, Buffer>;
  /** Chunk deliveries that repeated one already received (a resend after a lost connection). */
  repeatedChunks: number;
  files: PackageFile[] | null;
  answered: boolean;
}

export interface ResponderOptions {
  url: string;
  tls: TlsFiles;
  clientId?: string;
  /** Where reassembled packages are written (one folder per request); null keeps them in memory. */
  outDir?: string | null;
  /** Answer each package as soon as it is complete (default); false waits for answer(). */
  autoAnswer?: boolean;
  /** The expert's answer to a complete package. */
  answer?: (request: SecondOpinionRequestPayload, files: PackageFile[]) => Pick<SecondOpinionResponse, 'opinion' | 'expert' | 'diagnosis' | 'agreesWithFinding'>;
}

const BOX_TOPIC = /^pathbox\/v1\/([^/]+)\/(.+)$/;

export class CloudResponder {
  private readonly options: ResponderOptions;
  private client: MqttClient | null = null;
  private readonly seen = new Set<string>();
  /** Every message as it arrived, duplicates included (the de-identification test reads all of them). */
  readonly captured: CapturedMessage[] = [];
  /** Unique results and events in arrival order. */
  readonly results: { deviceId: string; idempotencyKey: string; body: Record<string, unknown> }[] = [];
  readonly events: { deviceId: string; kind: string; slideSha256: string | null }[] = [];
  readonly packages = new Map<string, ReceivedPackage>();
  readonly status = new Map<string, Record<string, unknown>>();
  readonly telemetry: Record<string, unknown>[] = [];
  duplicates = 0;

  constructor(options: ResponderOptions) {
    this.options = options;
  }

  /** Connects with a persistent session, so what boxes send while the responder is away waits for it. */
  async start(): Promise<void> {
    const { tls } = this.options;
    const client = connect(this.options.url, {
      protocolVersion: 5, clientId: this.options.clientId ?? 'cloud-responder', clean: false, properties: { sessionExpiryInterval: 3600 },
      ca: await readFile(tls.ca), cert: await readFile(tls.cert), key: await readFile(tls.key), reconnectPeriod: 250,
    });
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      const property = packet.properties?.userProperties?.[IDEMPOTENCY_PROPERTY];
      const key = typeof property === 'string' ? property : keyInPayload(payload);
      this.captured.push({ topic, payload, idempotencyKey: key, retained: packet.retain });
      void this.handle(topic, payload, key).catch((e: unknown) => {
        process.stderr.write(`cloud-responder: ${topic}: ${e instanceof Error ? e.message : String(e)}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync('pathbox/v1/+/#', { qos: 1, nl: true });
  }

  /** Publishes as the cloud, e.g. the fleet's retained update announcement after `pathbox ota publish`. */
  async announce(topic: string, payload: string, options: { retain?: boolean } = {}): Promise<void> {
    if (!this.client) throw new Error('the responder is not connected');
    await this.client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
  }

  /** Resolves when `condition` holds (checked as messages arrive), rejects after `timeoutMs`. */
  async waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`cloud responder: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async handle(topic: string, payload: Buffer, key: string | null): Promise<void> {
    const match = BOX_TOPIC.exec(topic);
    if (!match) return;
    const [, deviceId, kind] = match;
    if (kind === 'status') {
      this.status.set(deviceId, JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      return;
    }
    if (kind === 'telemetry') {
      this.telemetry.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      return;
    }
    if (key === null) return;
    if (this.seen.has(key)) {
      this.duplicates++;
      if (kind === 'second-opinion/request') this.repeatedChunk(payload);
      return;
    }
    this.seen.add(key);
    if (kind === 'results') {
      this.results.push({ deviceId, idempotencyKey: key, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
      await this.client?.publishAsync(topics(deviceId).resultsAck, JSON.stringify({ type: 'result.ack', idempotencyKey: key }), { qos: 1 });
    } else if (kind === 'events') {
      const event = JSON.parse(payload.toString('utf8')) as { kind: string; slideSha256: string | null };
      this.events.push({ deviceId, kind: event.kind, slideSha256: event.slideSha256 });
    } else if (kind === 'second-opinion/request') {
      await this.packagePart(deviceId, payload);
    }
  }

  private entry(requestId: string, deviceId = ''): ReceivedPackage {
    let entry = this.packages.get(requestId);
    if (!entry) {
      entry = { deviceId, request: null, chunks: new Map(), repeatedChunks: 0, files: null, answered: false };
      this.packages.set(requestId, entry);
    }
    return entry;
  }

  private repeatedChunk(payload: Buffer): void {
    if (payload[0] !== 0x7b || payload.indexOf(0x0a) < 0) return;
    const { header } = decodeChunk(payload);
    this.entry(header.requestId).repeatedChunks++;
  }

  private async packagePart(deviceId: string, payload: Buffer): Promise<void> {
    if (payload.indexOf(0x0a) >= 0) {
      const { header, data } = decodeChunk(payload);
      this.entry(header.requestId, deviceId).chunks.set(header.index, data);
      await this.completeIfReady(header.requestId);
    } else {
      const request = JSON.parse(payload.toString('utf8')) as SecondOpinionRequestPayload;
      this.entry(request.requestId, deviceId).request = request;
      await this.completeIfReady(request.requestId);
    }
  }

  private async completeIfReady(requestId: string): Promise<void> {
    const entry = this.entry(requestId);
    const request = entry.request;
    if (!request || entry.files || entry.chunks.size < request.package.chunks) return;
    const blob = Buffer.concat([...Array(request.package.chunks).keys()].map((i) => entry.chunks.get(i)!));
    entry.files = decodePackage(request.package, blob);
    if (this.options.outDir) {
      const dir = path.join(this.options.outDir, requestId);
      await mkdir(dir, { recursive: true });
      for (const file of entry.files) await writeFile(path.join(dir, file.name), file.data);
      await writeFile(path.join(dir, 'request.json'), JSON.stringify(request, null, 2));
    }
    if (this.options.autoAnswer ?? true) await this.answer(requestId);
  }

  /** Publishes the expert's answer to a complete package (to the box's persistent session, online or not). */
  async answer(requestId: string): Promise<void> {
    const entry = this.packages.get(requestId);
    const request = entry?.request;
    if (!entry?.files || !request) throw new Error(`cloud responder: package ${requestId} is not complete`);
    if (entry.answered) return;
    entry.answered = true;
    const answer = this.options.answer?.(request, entry.files) ?? {
      expert: 'Demo expert (cloud responder)',
      opinion: `Reviewed ${entry.files.filter((f) => f.region).length} regions of interest and the overview; no disagreement with "${(request.result as { finding?: { label?: string } }).finding?.label ?? 'the finding'}".`,
      agreesWithFinding: true,
    };
    const response: SecondOpinionResponse = {
      type: 'second-opinion.response', idempotencyKey: `response:${requestId}`, requestId, respondedAt: new Date().toISOString(), ...answer,
    };
    await this.client?.publishAsync(topics(entry.deviceId).secondOpinionResponse, JSON.stringify(response), { qos: 1 });
  }
}

/** The key is also in every payload: a JSON field, or the JSON header line of a chunk. */
function keyInPayload(payload: Buffer): string | null {
  const end = payload.indexOf(0x0a);
  try {
    const json = JSON.parse(payload.subarray(0, end < 0 ? payload.length : end).toString('utf8')) as { idempotencyKey?: unknown };
    return typeof json.idempotencyKey === 'string' ? json.idempotencyKey : null;
  } catch {
    return null;
  }
}

import type { Logger } from '../daemon/logger.ts';
import type { LaneOutboxRow, OutboxLane, SyncStore } from '../store/index.ts';
import type { BandwidthBudget } from './budget.ts';
import { PublishRefusedError, type MqttConnection } from './connection.ts';
import { publishPacketBytes, publishProperties } from './wire.ts';

export interface PublisherOptions {
  sync: SyncStore;
  connection: MqttConnection;
  budget: BandwidthBudget;
  logger: Logger;
  /** Messages published but not yet acknowledged, at most (MQTT receive maximum is usually 20 or more). */
  maxInFlight?: number;
  /** How often an idle publisher looks at the outbox (other processes add to it too). */
  pollMs?: number;
  /** Refusals by the broker before a message is set aside (outbox_refused), and the pause before each retry. */
  maxRefusals?: number;
  refusalPauseMs?: number;
}

const LANES: OutboxLane[] = ['normal', 'bulk'];

/**
 * Publishes the outbox: oldest first within each lane, the normal lane before the bulk lane, a few
 * messages in flight, each row deleted only when the broker's PUBACK arrives (in the transaction that
 * also counts its bytes). A lost connection leaves the unacknowledged rows where they are, and the next
 * connection starts again from the oldest: a message may reach the broker twice, never zero times;
 * the idempotency key lets the cloud drop the second copy.
 */
export class OutboxPublisher {
  private readonly options: Required<PublisherOptions>;
  /** Rows published and not yet settled; a lost connection settles them all (as failures). */
  private readonly inFlight = new Set<number>();
  /** Rows the broker refused, and when they may be tried again (the rest of the lane goes on meanwhile). */
  private readonly retryAt = new Map<number, number>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  lastError: string | null = null;

  constructor(options: PublisherOptions) {
    this.options = { maxInFlight: 8, pollMs: 500, maxRefusals: 5, refusalPauseMs: 10_000, ...options };
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** A new connection: everything not acknowledged goes again, from the oldest. */
  connected(): void {
    this.wake();
  }

  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.options.connection.connected || this.inFlight.size >= this.options.maxInFlight) {
        await this.sleep(this.options.pollMs);
        continue;
      }
      const next = this.pick();
      if (!next) {
        await this.sleep(this.options.pollMs);
        continue;
      }
      if (next.waitMs > 0) {
        await this.sleep(Math.min(next.waitMs, 5000));
        continue;
      }
      this.issue(next.row, next.bytes);
    }
  }

  /** The next message due: the normal lane's head if it has one, else the bulk lane's. */
  private pick(): { row: LaneOutboxRow; bytes: number; waitMs: number } | null {
    const now = Date.now();
    for (const lane of LANES) {
      const row = this.options.sync.headOfLane(lane, this.inFlight.size + this.retryAt.size + 1)
        .find((r) => !this.inFlight.has(r.id) && (this.retryAt.get(r.id) ?? 0) <= now);
      if (!row) continue;
      const bytes = publishPacketBytes(row.topic, row.payload, publishProperties(row.idempotencyKey, row.payload));
      return { row, bytes, waitMs: this.options.budget.waitMs(bytes, lane) };
    }
    return null;
  }

  private issue(row: LaneOutboxRow, bytes: number): void {
    const { sync, connection, budget, logger } = this.options;
    this.inFlight.add(row.id);
    budget.spent(bytes);
    connection.publish(row.topic, row.payload, row.idempotencyKey)
      .then((sent) => {
        this.retryAt.delete(row.id);
        sync.settleAcknowledged(row, sent);
        this.lastError = null;
      })
      .catch((e: unknown) => {
        if (!(e instanceof PublishRefusedError)) return; // connection lost: the row waits for the next connection
        this.lastError = `broker refused ${row.idempotencyKey}: ${e.message}`;
        const outcome = sync.recordRefusal(row, e.message, this.options.maxRefusals);
        logger.error({ idempotencyKey: row.idempotencyKey, reasonCode: e.reasonCode, outcome }, 'broker refused a message');
        if (outcome === 'retry') this.retryAt.set(row.id, Date.now() + this.options.refusalPauseMs);
        else this.retryAt.delete(row.id);
      })
      .catch((e: unknown) => {
        this.lastError = e instanceof Error ? e.message : String(e);
        logger.error({ err: e, idempotencyKey: row.idempotencyKey }, 'could not record an acknowledged message');
      })
      .finally(() => {
        this.inFlight.delete(row.id);
        this.wake();
      });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

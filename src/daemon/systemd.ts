import { execFile } from 'node:child_process';

/**
 * sd_notify for Type=notify units. Node cannot send unix datagrams, so this uses systemd's own
 * `systemd-notify` (the unit sets NotifyAccess=all for it). Without NOTIFY_SOCKET it does nothing.
 */
export class SystemdNotifier {
  private readonly enabled = !!process.env.NOTIFY_SOCKET;
  private watchdog: NodeJS.Timeout | null = null;

  /** Watchdog ping interval: half of WatchdogSec, as systemd recommends; null when no watchdog is set. */
  static watchdogIntervalMs(): number | null {
    const usec = Number(process.env.WATCHDOG_USEC);
    const pid = process.env.WATCHDOG_PID;
    if (!Number.isFinite(usec) || usec <= 0 || (pid && Number(pid) !== process.pid)) return null;
    return Math.max(1000, Math.floor(usec / 2000));
  }

  private send(...assignments: string[]): void {
    if (!this.enabled) return;
    execFile('systemd-notify', assignments, () => {
      // A failed notification must not stop the box; systemd restarts us if the watchdog starves.
    });
  }

  ready(status: string): void {
    this.send('--ready', `--status=${status}`);
  }

  status(status: string): void {
    this.send(`--status=${status}`);
  }

  stopping(): void {
    this.send('STOPPING=1');
  }

  /** Pings the watchdog while `healthy()` says the main loop is alive. */
  startWatchdog(healthy: () => boolean): void {
    const interval = SystemdNotifier.watchdogIntervalMs();
    if (!this.enabled || interval === null) return;
    this.watchdog = setInterval(() => {
      if (healthy()) this.send('WATCHDOG=1');
    }, interval);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }
}

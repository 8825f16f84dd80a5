import { statfs } from 'node:fs/promises';

export interface DiskState {
  path: string;
  freeBytes: number;
  totalBytes: number;
  paused: boolean;
  reason: string | null;
}

/**
 * Pauses ingest when free space in the data folder drops below a threshold and resumes above a
 * higher one (hysteresis, so it does not flap around one value).
 */
export class DiskGuard {
  private readonly path: string;
  private pauseBelow = 0;
  private resumeAbove = 0;
  state: DiskState;

  constructor(path: string, pauseBelowMB: number, resumeAboveMB: number) {
    this.path = path;
    this.configure(pauseBelowMB, resumeAboveMB);
    this.state = { path, freeBytes: 0, totalBytes: 0, paused: false, reason: null };
  }

  configure(pauseBelowMB: number, resumeAboveMB: number): void {
    this.pauseBelow = pauseBelowMB * 1024 * 1024;
    this.resumeAbove = resumeAboveMB * 1024 * 1024;
  }

  /** Measures and updates the state; returns true when it changed (the caller logs and audits). */
  async check(): Promise<boolean> {
    const { freeBytes, totalBytes } = await diskSpace(this.path);
    const wasPaused = this.state.paused;
    const paused = wasPaused ? freeBytes < this.resumeAbove : freeBytes < this.pauseBelow;
    const reason = paused
      ? `disk nearly full: ${mb(freeBytes)} MB free in ${this.path}, ingest paused until ${mb(this.resumeAbove)} MB are free`
      : null;
    this.state = { path: this.path, freeBytes, totalBytes, paused, reason };
    return paused !== wasPaused;
  }
}

export async function diskSpace(path: string): Promise<{ freeBytes: number; totalBytes: number }> {
  const s = await statfs(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

const mb = (bytes: number) => Math.floor(bytes / (1024 * 1024));

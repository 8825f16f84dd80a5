/** What a repository has live and when each role expires: the vendor's monitoring view (`pathbox ota status`). */
import type { Repository, RepositorySettings } from './repository.ts';

export interface RoleStatus {
  role: string;
  version: number;
  expires: string;
  /** Share of the role's signing period still ahead (1 right after signing, 0 at expiry, negative after). */
  remaining: number;
  /** Set when less than half the period is left: re-sign soon (pathbox ota sign). */
  warning: string | null;
}

export interface RepositoryStatus {
  roles: RoleStatus[];
  releases: { id: string; version: string; releaseCounter: number; arch: string[]; role: string }[];
}

const DAY_MS = 86_400_000;

export function repositoryStatus(repo: Repository, now = new Date()): RepositoryStatus {
  const days = repo.settings.expiryDays;
  const entry = (role: string, version: number, expires: string, periodDays: number): RoleStatus => {
    const remaining = (Date.parse(expires) - now.getTime()) / (periodDays * DAY_MS);
    const warning = remaining <= 0 ? `${role} expired at ${expires}` : remaining < 0.5 ? `${role} expires at ${expires}, less than half its period left` : null;
    return { role, version, expires, remaining: Math.round(remaining * 1000) / 1000, warning };
  };
  const period = (role: keyof RepositorySettings['expiryDays']) => days[role];
  return {
    roles: [
      entry('root', repo.root.signed.version, repo.root.signed.expires, period('root')),
      entry('targets', repo.targets.signed.version, repo.targets.signed.expires, period('targets')),
      entry('snapshot', repo.snapshot.signed.version, repo.snapshot.signed.expires, period('snapshot')),
      entry('timestamp', repo.timestamp.signed.version, repo.timestamp.signed.expires, period('timestamp')),
      ...[...repo.delegated].map(([name, md]) => entry(name, md.signed.version, md.signed.expires, period('delegated'))),
    ],
    releases: repo.releases().map((r) => ({ id: r.modelId, version: r.version, releaseCounter: r.releaseCounter, arch: r.hardware.arch, role: r.role })),
  };
}

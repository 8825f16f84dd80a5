/**
 * Which release, if any, this box should install from what the signed metadata offers. Only signed facts
 * count: for each model the box serves, the newest compatible release whose counter is above both the
 * installed one and the highest counter ever committed here. A request (CLI or MQTT command) can only ask
 * for the release this rule picks anyway; it never widens the choice.
 */
import { compareSemver } from '../models/index.ts';
import type { OtaReason } from './errors.ts';
import type { MetadataView, TrustedRelease } from './metadata-view.ts';

export interface SelectionContext {
  /** Model ids this box serves. */
  modelIds: readonly string[];
  /** The active release of each model id, when there is one. */
  active: ReadonlyMap<string, { version: string; releaseCounter: number }>;
  /** Highest release counter committed per model id (high-water mark). */
  committed: Readonly<Record<string, number>>;
  arch: string;
  daemonVersion: string;
  isBlocked(release: TrustedRelease): boolean;
  requested?: { id: string; version: string } | null;
}

export type Selection =
  | { kind: 'install'; release: TrustedRelease }
  | { kind: 'none'; state: 'ALREADY_INSTALLED' | 'REJECTED'; reason: OtaReason | null; detail: string };

function incompatibility(release: TrustedRelease, ctx: SelectionContext): string | null {
  const { hardware, minDaemonVersion } = release.facts;
  if (!hardware.arch.includes('any') && !hardware.arch.includes(ctx.arch)) return `built for ${hardware.arch.join(', ')}, this box is ${ctx.arch}`;
  if (compareSemver(ctx.daemonVersion, minDaemonVersion) < 0) return `needs daemon ${minDaemonVersion}, this box runs ${ctx.daemonVersion}`;
  return null;
}

function selectForModel(view: MetadataView, id: string, ctx: SelectionContext): Selection {
  const active = ctx.active.get(id);
  const floor = Math.max(active?.releaseCounter ?? -1, ctx.committed[id] ?? -1);
  const offered = view.releases.filter((r) => r.facts.modelId === id).sort((a, b) => b.facts.releaseCounter - a.facts.releaseCounter);
  const label = (r: TrustedRelease) => `${id} ${r.facts.version} (release ${r.facts.releaseCounter})`;
  const newer = offered.filter((r) => r.facts.releaseCounter > floor);
  const requested = ctx.requested?.id === id ? ctx.requested : null;
  const installable = newer.filter((r) => !incompatibility(r, ctx) && !ctx.isBlocked(r));
  const best = installable[0];

  if (requested) {
    const named = offered.find((r) => r.facts.version === requested.version);
    if (!named) return { kind: 'none', state: 'REJECTED', reason: 'NOT_AUTHORISED', detail: `${id} ${requested.version} is not in the signed metadata` };
    if (named.facts.releaseCounter <= floor && active?.version === named.facts.version) return { kind: 'none', state: 'ALREADY_INSTALLED', reason: null, detail: `${label(named)} is installed` };
    if (named.facts.releaseCounter <= floor) return { kind: 'none', state: 'REJECTED', reason: 'DOWNGRADE', detail: `${label(named)} is older than release ${floor} on this box` };
    if (named !== best) {
      const why = incompatibility(named, ctx);
      if (why) return { kind: 'none', state: 'REJECTED', reason: 'INCOMPATIBLE', detail: `${label(named)}: ${why}` };
      if (ctx.isBlocked(named)) return { kind: 'none', state: 'REJECTED', reason: 'RELEASE_BLOCKED', detail: `${label(named)} failed here before` };
      return { kind: 'none', state: 'REJECTED', reason: 'NOT_AUTHORISED', detail: `${label(named)} is not the latest release for this box (${best ? best.facts.version : 'none'})` };
    }
  }
  if (best) return { kind: 'install', release: best };

  const unusable = view.unusable.find((u) => u.modelId === id && (u.releaseCounter === null || u.releaseCounter > floor));
  if (unusable) return { kind: 'none', state: 'REJECTED', reason: unusable.reason, detail: `${unusable.path}: ${unusable.problem}` };
  const newest = newer[0];
  if (newest && incompatibility(newest, ctx)) return { kind: 'none', state: 'REJECTED', reason: 'INCOMPATIBLE', detail: `${label(newest)}: ${incompatibility(newest, ctx)}` };
  if (newest) return { kind: 'none', state: 'REJECTED', reason: 'RELEASE_BLOCKED', detail: `${label(newest)} failed here before; waiting for new metadata` };
  const top = offered[0];
  if (top && top.facts.releaseCounter < floor) {
    return { kind: 'none', state: 'REJECTED', reason: 'DOWNGRADE', detail: `the newest release offered, ${label(top)}, is older than release ${floor} on this box` };
  }
  return { kind: 'none', state: 'ALREADY_INSTALLED', reason: null, detail: active ? `${id} ${active.version} is the newest release for this box` : `no release of ${id} is offered` };
}

export function selectRelease(view: MetadataView, ctx: SelectionContext): Selection {
  const ids = ctx.requested ? [ctx.requested.id] : [...ctx.modelIds].sort();
  const outcomes = ids.map((id) => selectForModel(view, id, ctx));
  return outcomes.find((o) => o.kind === 'install') ?? outcomes.find((o) => o.kind === 'none' && o.state === 'REJECTED') ?? outcomes[0] ?? {
    kind: 'none', state: 'ALREADY_INSTALLED', reason: null, detail: 'this box serves no model',
  };
}


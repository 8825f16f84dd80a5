import type { SlideMetadata } from '../slide/index.ts';

export type MppSource = 'file' | 'objective-power' | 'configured-default';

/** The usual microns per pixel of a scan at a given objective (20x ~ 0.5, 40x ~ 0.25). */
const MICRONS_AT_1X = 10;

export class ResolutionError extends Error {
  override name = 'ResolutionError';
}

/**
 * The slide's resolution for analysis: the file's MPP; else estimated from the objective power; else a
 * configured default. Either fallback is noted in the result, because measurements inherit the guess.
 */
export function resolveMpp(meta: SlideMetadata, defaultMpp: number | null): { value: [number, number]; source: MppSource; note: string } {
  if (meta.mpp) return { value: meta.mpp, source: 'file', note: '' };
  if (meta.objectivePower) {
    const mpp = MICRONS_AT_1X / meta.objectivePower;
    return { value: [mpp, mpp], source: 'objective-power', note: `the slide states no MPP: ${mpp} um/px assumed from its ${meta.objectivePower}x objective` };
  }
  if (defaultMpp) {
    return { value: [defaultMpp, defaultMpp], source: 'configured-default', note: `the slide states neither MPP nor objective power: the configured default ${defaultMpp} um/px was used` };
  }
  throw new ResolutionError('the slide states neither its resolution (MPP) nor its objective power; set analysis.defaultMpp (or --mpp) to analyse it');
}

import type { GridTile } from './grid.ts';

export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

/**
 * The K highest-scoring tiles, skipping tiles that touch one already chosen, so the list spreads over
 * distinct places a pathologist should look at first.
 */
export function topRegions(tiles: GridTile[], scores: Float32Array, tileSize: number, slide: { width: number; height: number }, k: number): Roi[] {
  const order = tiles.map((tile, i) => ({ tile, score: scores[i] })).filter((t) => Number.isFinite(t.score)).sort((a, b) => b.score - a.score);
  const chosen: { col: number; row: number }[] = [];
  const out: Roi[] = [];
  for (const { tile, score } of order) {
    if (out.length >= k) break;
    if (chosen.some((c) => Math.abs(c.col - tile.col) <= 1 && Math.abs(c.row - tile.row) <= 1)) continue;
    chosen.push(tile);
    out.push({
      x: tile.x,
      y: tile.y,
      width: Math.min(tileSize, slide.width - tile.x),
      height: Math.min(tileSize, slide.height - tile.y),
      score: Math.round(score * 1e4) / 1e4,
    });
  }
  return out;
}

/** QuPath-compatible GeoJSON (level-0 pixel coordinates): one annotation per region, classified and scored. */
export function roisGeoJson(rois: Roi[], className: string, modelLabel: string): object {
  return {
    type: 'FeatureCollection',
    features: rois.map((roi, i) => ({
      type: 'Feature',
      id: `roi-${i + 1}`,
      geometry: {
        type: 'Polygon',
        coordinates: [[[roi.x, roi.y], [roi.x + roi.width, roi.y], [roi.x + roi.width, roi.y + roi.height], [roi.x, roi.y + roi.height], [roi.x, roi.y]]],
      },
      properties: {
        objectType: 'annotation',
        name: `ROI ${i + 1} (${modelLabel})`,
        classification: { name: className, color: [215, 48, 39] },
        isLocked: true,
        measurements: { score: roi.score, rank: i + 1 },
      },
    })),
  };
}

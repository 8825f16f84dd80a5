/** The analysis stage's public surface: one slide in, a finding, heatmap and regions out. */
export { analyzeSlide, planAnalysis } from './pipeline.ts';
export { patchBatches } from './patches.ts';
export type { AnalysisResult, AnalyzeOptions } from './pipeline.ts';
export { ResolutionError } from './resolution.ts';
export { renderHeatmapPng, rampColour } from './heatmap.ts';
export type { HeatmapGrid } from './heatmap.ts';
export type { Roi } from './rois.ts';
export { heatmapPng, REGENERABLE_FILES } from './derived-files.ts';

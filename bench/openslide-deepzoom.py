"""OpenSlide's Deep Zoom generator (Debian's python3-openslide) on the same tiles as pathbox's server.

stdin: {"file": path, "tileSize": n, "tiles": [[level, col, row], ...], "mode": "stats" | "time", "inFlight": n}
stdout:
  stats: {"levelCount": n, "levelDimensions": [[w, h], ...], "tiles": [{"size": [w, h], "mean": [r, g, b]}, ...]}
  time:  {"seconds": wall clock for all tiles, "latenciesMs": [per tile, in request order]}
Each timed tile is made and encoded as JPEG (quality 80, like pathbox), as a Deep Zoom server must.
"""
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import ImageStat

job = json.load(sys.stdin)
slide = openslide.OpenSlide(job["file"])
dz = DeepZoomGenerator(slide, tile_size=job["tileSize"], overlap=0, limit_bounds=False)
tiles = job["tiles"]

if job["mode"] == "stats":
    out = []
    for level, col, row in tiles:
        tile = dz.get_tile(level, (col, row)).convert("RGB")
        out.append({"size": list(tile.size), "mean": ImageStat.Stat(tile).mean})
    json.dump({"levelCount": dz.level_count, "levelDimensions": [list(d) for d in dz.level_dimensions], "tiles": out}, sys.stdout)
else:
    def make(spec):
        started = time.perf_counter()
        level, col, row = spec
        buffer = io.BytesIO()
        dz.get_tile(level, (col, row)).save(buffer, "jpeg", quality=80)
        return (time.perf_counter() - started) * 1000

    start = time.perf_counter()
    # ctypes releases the GIL inside OpenSlide, so threads decode in parallel (PIL's encoder does too).
    with ThreadPoolExecutor(max_workers=job["inFlight"]) as pool:
        latencies = list(pool.map(make, tiles))
    json.dump({"seconds": time.perf_counter() - start, "latenciesMs": latencies}, sys.stdout)
slide.close()

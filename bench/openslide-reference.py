"""Reads the same regions with OpenSlide (Debian's python3-openslide), for bench/read.ts.

stdin: {"file": path, "regions": [[x, y, w, h], ...], "warmup": [[x, y, w, h], ...], "inFlight": n}
stdout: {"seconds": wall-clock seconds for all regions}
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openslide

job = json.load(sys.stdin)
regions = job["regions"]


def read(region):
    x, y, w, h = region
    # .convert('RGB') makes OpenSlide's output the same kind as ours (RGB pixels, not premultiplied RGBA).
    return slide.read_region((x, y), 0, (w, h)).convert("RGB")


# Warm up on other regions through a handle of its own, as the pathbox rows do, so that the timed
# handle starts with an empty tile cache.
slide = openslide.OpenSlide(job["file"])
for region in job.get("warmup", []):
    read(region)
slide.close()

slide = openslide.OpenSlide(job["file"])
start = time.perf_counter()
# ctypes releases the GIL during OpenSlide calls, so threads give real parallel reads.
with ThreadPoolExecutor(max_workers=job["inFlight"]) as pool:
    for _ in pool.map(read, regions):
        pass
seconds = time.perf_counter() - start
slide.close()
json.dump({"seconds": seconds}, sys.stdout)

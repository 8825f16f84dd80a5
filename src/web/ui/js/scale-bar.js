// A scale bar from the slide's microns per pixel: the longest "nice" length (1, 2 or 5 × 10^n µm)
// that fits in about 150 screen pixels at the current zoom.

const TARGET_PX = 150;

function niceLength(maxMicrons) {
  const power = 10 ** Math.floor(Math.log10(maxMicrons));
  for (const step of [5, 2, 1]) if (step * power <= maxMicrons) return step * power;
  return power;
}

function label(microns) {
  return microns >= 1000 ? `${microns / 1000} mm` : `${microns} µm`;
}

export function attachScaleBar(viewer, mppMicrons, element) {
  const line = element.querySelector('.scale-bar-line');
  const text = element.querySelector('.scale-bar-label');
  const update = () => {
    const image = viewer.world.getItemAt(0);
    if (!image) return;
    const screenPxPerImagePx = image.viewportToImageZoom(viewer.viewport.getZoom(true));
    const micronsPerScreenPx = mppMicrons / screenPxPerImagePx;
    const microns = niceLength(TARGET_PX * micronsPerScreenPx);
    line.style.width = `${Math.round(microns / micronsPerScreenPx)}px`;
    text.textContent = label(microns);
    element.hidden = false;
  };
  viewer.addHandler('animation', update);
  viewer.addHandler('resize', update);
  update();
}

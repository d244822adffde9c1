// Work done at most once a frame, however often it is asked for: the stream may bring
// tens of lane changes between two frames, and the page need only be changed once for
// all of them, just before it is drawn.

/** A hidden tab gets no animation frames; its work still runs, this long after asked
 * (or when the browser's throttling of hidden tabs lets a timer run). */
const WITHOUT_FRAMES_MS = 250;

/** `work` once, at the next frame, however many times `request()` is called before. */
export function oncePerFrame(work) {
  let frame = null;
  let timer = null;
  const cancel = () => {
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    frame = timer = null;
  };
  const run = () => {
    cancel();
    work();
  };
  return {
    request() {
      if (frame !== null) return;
      frame = requestAnimationFrame(run);
      timer = setTimeout(run, WITHOUT_FRAMES_MS);
    },
    cancel,
  };
}

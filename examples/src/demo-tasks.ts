/**
 * Tasks of the demo's image pipeline; they run on the nodes' worker threads (each node
 * imports this module by URL). No top-level side effects: sharp is configured on the first
 * call, in the worker that makes it. The sharp set-up, the PRNG and the normalisation are
 * those of `image-tasks.ts`; the images and the crop are the demo's own.
 */
import sharp from 'sharp';
import { configure, normalise, rng } from './image-tasks.js';

/** Side of the generated JPEGs, in pixels. */
export const IMAGE_SIDE = 256;
/** Side of the random crop taken from each image. */
export const CROP_SIDE = 224;
/** Side of the preprocessed sample (the crop is resized to this). */
export const SAMPLE_SIDE = 64;
/** Channels of a sample (RGB). */
export const CHANNELS = 3;

/**
 * Makes image number `seed`: a colour gradient with a few bright blocks and some noise,
 * encoded as a `IMAGE_SIDE` x `IMAGE_SIDE` JPEG (about 20-30 KB).
 */
export async function generateImage(seed: number): Promise<Uint8Array> {
  configure();
  const r = rng(seed + 1);
  const n = IMAGE_SIDE;
  const px = new Uint8Array(n * n * CHANNELS);
  const t0 = r() * 255;
  const t1 = r() * 255;
  const t2 = r() * 255;
  // The per-pixel noise is an inline xorshift32: a call to `r` per pixel would add about
  // 1.5 ms (a third) to each image.
  let s = (seed * 747796405) | 1;
  for (let y = 0, o = 0; y < n; y++) {
    for (let x = 0; x < n; x++, o += CHANNELS) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const noise = (s & 31) - 16;
      px[o] = (x + t0 + noise) & 255;
      px[o + 1] = (y + t1 + noise) & 255;
      px[o + 2] = ((x + y) / 2 + t2 + noise) & 255;
    }
  }
  // A few flat blocks, so that crops differ in content.
  for (let b = 0; b < 4; b++) {
    const size = 16 + Math.floor(r() * 48);
    const bx = Math.floor(r() * (n - size));
    const by = Math.floor(r() * (n - size));
    const level = Math.floor(r() * 255);
    for (let y = by; y < by + size; y++) px.fill(level, (y * n + bx) * CHANNELS, (y * n + bx + size) * CHANNELS);
  }
  const jpeg = await sharp(px, { raw: { width: n, height: n, channels: CHANNELS } }).jpeg({ quality: 85 }).toBuffer();
  // A copy that owns its ArrayBuffer, so it is moved (not cloned) back from the worker.
  return new Uint8Array(jpeg);
}

/**
 * Preprocesses one JPEG as a training pipeline would: decode, random `CROP_SIDE` crop,
 * resize to `SAMPLE_SIDE`, random horizontal flip, then normalise each channel with the
 * ImageNet mean and deviation into a channel-major (CHW) Float32Array. The crop and flip
 * follow from the image's position, so a run is reproducible.
 */
export async function preprocess(jpeg: Uint8Array, position: number): Promise<Float32Array> {
  configure();
  const r = rng(position + 7919);
  const left = Math.floor(r() * (IMAGE_SIDE - CROP_SIDE + 1));
  const top = Math.floor(r() * (IMAGE_SIDE - CROP_SIDE + 1));
  let img = sharp(jpeg).extract({ left, top, width: CROP_SIDE, height: CROP_SIDE }).resize(SAMPLE_SIDE, SAMPLE_SIDE);
  if (r() < 0.5) img = img.flop();
  return normalise(await img.removeAlpha().raw().toBuffer({ resolveWithObject: true }));
}

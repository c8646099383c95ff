/** Tasks of the demo; they run on worker threads. */

/** A stand-in for image preprocessing: a checksum of every byte. */
export function checksum(img: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < img.length; i++) s = (s + img[i]!) & 0xffff;
  return s;
}

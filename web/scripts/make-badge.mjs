// make-badge.mjs — draws the employee app's notification badge, public/m/badge-96.png.
//
// Android shows a notification's `badge` in the status bar and uses only its alpha channel:
// a coloured square icon becomes a white blob. So the badge is the silhouette of icon.svg's
// speech bubble, white on transparent, with the "H" cut out. Drawn here from the same
// geometry as icon.svg (a 512 × 512 box) with 8 × 8 supersampling for smooth edges, and
// written as an RGBA PNG with node:zlib — no image library needed. 96 px is Android's
// xxxhdpi size of a 24 dp status-bar icon.
//
//   node web/scripts/make-badge.mjs        (from the repository root; the PNG is committed)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const SIZE = 96;
const SS = 8; // samples per pixel and axis
// The part of icon.svg's box the badge shows: the bubble (x 88…424, y 104…416) with a margin.
const VIEW = { x: 64, y: 68, size: 384 };

// icon.svg: the bubble is an ellipse around (256, 244) with a tail to (152, 416); the "H"
// is three strokes 34 wide with round caps.
function inBubble(x, y) {
  const e = ((x - 256) / 168) ** 2 + ((y - 244) / 140) ** 2 <= 1;
  return e || inTriangle(x, y, [152, 354], [152, 416], [214.5, 378.5]);
}
function inTriangle(x, y, a, b, c) {
  const s = (p, q) => (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1]);
  const d1 = s(a, b);
  const d2 = s(b, c);
  const d3 = s(c, a);
  return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
}
function nearSegment(x, y, [ax, ay], [bx, by], r) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= r * r;
}
const STROKES = [
  [[200, 176], [200, 312]],
  [[312, 176], [312, 312]],
  [[200, 244], [312, 244]],
];
function inH(x, y) {
  return STROKES.some(([a, b]) => nearSegment(x, y, a, b, 17));
}

function coverage(px, py) {
  let hits = 0;
  for (let i = 0; i < SS; i++)
    for (let j = 0; j < SS; j++) {
      const x = VIEW.x + ((px + (i + 0.5) / SS) * VIEW.size) / SIZE;
      const y = VIEW.y + ((py + (j + 0.5) / SS) * VIEW.size) / SIZE;
      if (inBubble(x, y) && !inH(x, y)) hits++;
    }
  return hits / (SS * SS);
}

function png(w, h, rgba) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bits per channel
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) rgba.copy(raw, y * (w * 4 + 1) + 1, y * w * 4, (y + 1) * w * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const rgba = Buffer.alloc(SIZE * SIZE * 4);
for (let y = 0; y < SIZE; y++)
  for (let x = 0; x < SIZE; x++) {
    const i = (y * SIZE + x) * 4;
    rgba[i] = rgba[i + 1] = rgba[i + 2] = 255; // white everywhere; the shape is in alpha
    rgba[i + 3] = Math.round(coverage(x, y) * 255);
  }
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'public', 'm', 'badge-96.png');
fs.writeFileSync(out, png(SIZE, SIZE, rgba));
console.log(`wrote ${path.relative(process.cwd(), out)}`);

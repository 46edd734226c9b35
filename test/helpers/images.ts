/** Reading the pictures the tests compare: PNG (any filter, 8-bit grey or RGB) and binary PNM. */
import { inflateSync } from 'node:zlib';

/** An 8-bit picture: channels 1 (grey) or 3 (RGB), rows top to bottom, channels interleaved. */
export interface Picture {
  width: number;
  height: number;
  channels: number;
  data: Buffer;
}

/** Decodes an 8-bit greyscale or RGB, non-interlaced PNG (PNG spec 9.2 filters). */
export function decodePng(png: Buffer): Picture {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const body = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('only 8-bit, non-interlaced PNG');
      channels = body[9] === 0 ? 1 : body[9] === 2 ? 3 : 0;
      if (channels === 0) throw new Error(`PNG colour type ${body[9]} not read here`);
    } else if (type === 'IDAT') idat.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? data[y * stride + x - channels]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? data[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      if (predictor === undefined) throw new Error(`PNG filter ${filter}`);
      data[y * stride + x] = (row[x]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, data };
}

/** Reads a binary PGM (P5) or PPM (P6) with maxval 255, as DCMTK's dcm2pnm writes them. */
export function decodePnm(pnm: Buffer): Picture {
  const tokens: string[] = [];
  let at = 0;
  while (tokens.length < 4) {
    while (/\s/.test(String.fromCharCode(pnm[at]!))) at++;
    if (pnm[at] === 0x23) {
      while (pnm[at] !== 0x0a) at++;
      continue;
    }
    const start = at;
    while (!/\s/.test(String.fromCharCode(pnm[at]!))) at++;
    tokens.push(pnm.toString('latin1', start, at));
  }
  at++; // the single whitespace after maxval
  const [magic, w, h, max] = tokens;
  if ((magic !== 'P5' && magic !== 'P6') || max !== '255') throw new Error('not an 8-bit P5/P6');
  const width = Number(w);
  const height = Number(h);
  const channels = magic === 'P5' ? 1 : 3;
  return { width, height, channels, data: pnm.subarray(at, at + width * height * channels) };
}

import { generateSample } from './samples/generate';
import { parsePart10 } from './src/dicom';
import { renderFrame } from './src/api/rendered';
const bytes = generateSample('dx-12bit', { rows: 3000, columns: 2500, seed: 1 } as never) as Buffer;
const p = parsePart10(bytes);
for (let i = 0; i < 3; i++) {
  const t = process.hrtime.bigint();
  const png = renderFrame(p.dataset, p.transferSyntaxUID, 1, {});
  const t2 = process.hrtime.bigint();
  const thumb = renderFrame(p.dataset, p.transferSyntaxUID, 1, { viewport: { width: 128, height: 128 } });
  console.log('full', Number(t2 - t) / 1e6, 'ms', png.length, 'thumb', Number(process.hrtime.bigint() - t2) / 1e6, 'ms', thumb.length);
}

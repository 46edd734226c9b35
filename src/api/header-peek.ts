/**
 * Reads the identifying UIDs of a spooled upload from its first bytes, without loading the whole
 * file: STOW-RS needs the Study Instance UID before it hands an instance to the intake.
 */
import fs from 'node:fs/promises';
import * as dicomParser from 'dicom-parser';
import { isUid } from '../archive/archive';
import { parsePart10 } from '../dicom/parse';
import { Tags } from '../dicom/tags';

/** The UIDs of one instance that a STOW-RS response and the study check need. */
export interface PeekedUids {
  sopClassUID?: string;
  sopInstanceUID?: string;
  studyInstanceUID?: string;
  seriesInstanceUID?: string;
}

/** Identifying elements sit in groups 0008 and 0020, far before Pixel Data. */
const PREFIX_BYTES = 1024 * 1024;

function uidOf(text: string | undefined): string | undefined {
  const uid = text?.replace(/[\0 ]+$/, '');
  return uid !== undefined && isUid(uid) ? uid : undefined;
}

function fromParser(ds: dicomParser.DataSet): PeekedUids {
  return {
    sopClassUID: uidOf(ds.string('x00080016')),
    sopInstanceUID: uidOf(ds.string('x00080018')),
    studyInstanceUID: uidOf(ds.string('x0020000d')),
    seriesInstanceUID: uidOf(ds.string('x0020000e')),
  };
}

/**
 * The SOP Class, SOP Instance, Study and Series Instance UIDs of a Part 10 file, read from its first MiB
 * (the whole file only when the prefix does not reach them). Missing ones stay undefined: the
 * intake's own validation then decides.
 */
export async function peekUids(file: string): Promise<PeekedUids> {
  const handle = await fs.open(file, 'r');
  let prefix: Buffer;
  let size: number;
  try {
    size = (await handle.stat()).size;
    prefix = Buffer.alloc(Math.min(size, PREFIX_BYTES));
    await handle.read(prefix, 0, prefix.length, 0);
  } finally {
    await handle.close();
  }
  let found: PeekedUids = {};
  try {
    found = fromParser(dicomParser.parseDicom(prefix, { untilTag: 'x0020000e' }));
  } catch (err) {
    // dicom-parser reports a cut-off parse with the part it read: the prefix usually suffices.
    const partial = (err as { dataSet?: dicomParser.DataSet }).dataSet;
    if (partial) found = fromParser(partial);
  }
  if (found.studyInstanceUID !== undefined || size <= PREFIX_BYTES) return found;
  try {
    const { dataset } = parsePart10(await fs.readFile(file));
    return {
      sopClassUID: uidOf(dataset.string(Tags.SOPClassUID)),
      sopInstanceUID: uidOf(dataset.string(Tags.SOPInstanceUID)),
      studyInstanceUID: uidOf(dataset.string(Tags.StudyInstanceUID)),
      seriesInstanceUID: uidOf(dataset.string(Tags.SeriesInstanceUID)),
    };
  } catch {
    return found;
  }
}

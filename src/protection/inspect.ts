/**
 * inspect(): what protection an object carries, in data (the CLI puts it in words). Reads only
 * clear metadata: never unwraps a key, never decrypts, never shows patient values.
 */
import { Tags, parsePart10, readGeometry, transferSyntaxName } from '../dicom';
import { type EnvelopedDataInfo, inspectEnvelopedData } from '../crypto';
import { isVeilError } from '../errors';
import { PrivateElement, findVeilBlock, veilTag } from './private-block';
import { type ProtectionRecord, decodeRecord } from './record';

export interface InspectReport {
  protection: 'veil' | 'attributes-only' | 'none';
  transferSyntax: string;
  sopClassUID?: string;
  patientIdentityRemoved?: string;
  deidentificationMethod?: string;
  geometry?: string;
  record?: Omit<ProtectionRecord, 'recipients' | 'mac' | 'pixelTags' | 'salt' | 'stego'> & {
    keyIds: string[];
    stego: Omit<ProtectionRecord['stego'], 'restoration'>;
  };
  encryptedAttributes?: EnvelopedDataInfo[];
  /** Problems met while reading, e.g. a malformed record (codes only). */
  problems: string[];
}

/** Describes one object's protection. */
export function inspect(input: Buffer): InspectReport {
  const { dataset, transferSyntaxUID } = parsePart10(input);
  const report: InspectReport = {
    protection: 'none',
    transferSyntax: `${transferSyntaxName(transferSyntaxUID)} (${transferSyntaxUID})`,
    problems: [],
  };
  const sopClassUID = dataset.string(Tags.SOPClassUID);
  if (sopClassUID) report.sopClassUID = sopClassUID;
  const removed = dataset.string(Tags.PatientIdentityRemoved);
  if (removed) report.patientIdentityRemoved = removed;
  const method = dataset.string(Tags.DeidentificationMethod);
  if (method) report.deidentificationMethod = method;
  if (dataset.has(Tags.PixelData)) {
    try {
      const g = readGeometry(dataset);
      report.geometry = `${g.columns}x${g.rows}, ${g.frames} frame(s), ${g.samplesPerPixel} sample(s)/pixel ${g.photometricInterpretation}, ${g.bitsStored} of ${g.bitsAllocated} bits (high bit ${g.highBit}), ${g.pixelRepresentation ? 'signed' : 'unsigned'}`;
    } catch (err) {
      if (!isVeilError(err)) throw err;
      report.problems.push(err.code);
    }
  }
  const items = dataset.get(Tags.EncryptedAttributesSequence)?.items ?? [];
  if (items.length > 0) {
    report.protection = 'attributes-only';
    report.encryptedAttributes = [];
    for (const item of items) {
      const der = item.get(Tags.EncryptedContent)?.value;
      if (!der) continue;
      try {
        report.encryptedAttributes.push(inspectEnvelopedData(der));
      } catch (err) {
        if (!isVeilError(err)) throw err;
        report.problems.push(err.code);
      }
    }
  }
  const block = findVeilBlock(dataset);
  if (block !== undefined) {
    report.protection = 'veil';
    const value = dataset.get(veilTag(block, PrivateElement.ProtectionRecord))?.value;
    try {
      if (!value) throw Object.assign(new Error('missing'), { code: 'VEIL_E_REVEAL_FORMAT' });
      const {
        recipients,
        mac: _mac,
        pixelTags: _tags,
        salt: _salt,
        stego,
        ...rest
      } = decodeRecord(value);
      const { restoration: _restoration, ...stegoInfo } = stego;
      report.record = { ...rest, keyIds: recipients.map((r) => r.keyId), stego: stegoInfo };
    } catch (err) {
      report.problems.push((err as { code?: string }).code ?? 'VEIL_E_REVEAL_FORMAT');
    }
  }
  return report;
}

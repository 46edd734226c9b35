/**
 * protect(): one DICOM instance in, its protected form out (protection format v1, DESIGN.md).
 * Stego payload into the native pixels, PS3.15 attribute confidentiality of the header, AES-256-GCM
 * over the pixels under a per-instance subkey of an RSA-OAEP wrapped data key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type DataSet, Tags, parsePart10, tagOfKeyword, textElement, writePart10 } from '../dicom';
import { encryptInto, randomDataKey, sealBytes, wrapDataKey } from '../crypto';
import { VeilError } from '../errors';
import { type StegoReport, embedPayload, restorePayloadBits, sampleLayout } from '../stego';
import { assemble, patchOnce } from './assemble';
import { protectHeader } from './header';
import { instanceKeys, pixelAad } from './keys';
import type { ProtectOptions, ProtectReport } from './options';
import { type PixelPlan, planPixels } from './pixel-plan';
import { headerMac } from './record-keys';
import { PrivateElement, findVeilBlock, reserveVeilBlock, veilTag } from './private-block';
import {
  CIPHER_SUITE,
  FORMAT_VERSION,
  type ProtectionRecord,
  type RecordCore,
  encodeRecord,
} from './record';

export interface ProtectResult {
  /** The protected Part 10 object (Explicit VR Little Endian, or the original compressed syntax). */
  bytes: Buffer;
  report: ProtectReport;
}

const TAG_PLACEHOLDER = Buffer.alloc(16).toString('base64');

/** Protects one Part 10 instance. The input buffer is left as it was. */
export function protect(input: Buffer, options: ProtectOptions): ProtectResult {
  if (!options.dataKey && options.recipients.length === 0) {
    throw new VeilError(
      'VEIL_E_KEY_NOT_FOUND',
      'No recipient key is configured: generate one with `veil keys generate`.',
    );
  }
  if (options.headerConfidentiality && !options.pseudonymKey) {
    throw new VeilError('VEIL_E_CONFIG_INVALID', 'Header confidentiality needs a pseudonym key.');
  }
  const parsed = parsePart10(input);
  const { meta, dataset } = parsed;
  const sopInstanceUID = dataset.string(Tags.SOPInstanceUID);
  if (sopInstanceUID === undefined) {
    throw new VeilError(
      'VEIL_E_DICOM_MISSING_ATTRIBUTE',
      'SOP Instance UID (0008,0018) is missing.',
    );
  }
  if (findVeilBlock(dataset) !== undefined) {
    throw new VeilError(
      'VEIL_E_PROTECT_ALREADY_PROTECTED',
      'The instance is already protected by Veil.',
    );
  }
  const sopClassUID = dataset.string(Tags.SOPClassUID) ?? '';
  const plan = planPixels(parsed, options.compressed);

  const shared =
    options.dataKey ??
    options.dataKeyFor?.({
      studyInstanceUID: dataset.string(Tags.StudyInstanceUID),
      seriesInstanceUID: dataset.string(Tags.SeriesInstanceUID),
    });
  const dataKey = shared?.key ?? randomDataKey();
  const recipients =
    shared?.recipients ??
    options.recipients.map((r) => ({
      keyId: r.keyId,
      wrappedKey: wrapDataKey(dataKey, r).toString('base64'),
    }));
  const salt = randomBytes(12);
  const keys = instanceKeys(dataKey, salt);

  let undoStego: (() => void) | undefined;
  try {
    // Stego is embedded into the input's pixels in place (no copy), encrypted from there into the
    // output, and undone afterwards (or in `finally`) so the caller's buffer comes back unchanged.
    const stego = embedStego(plan, dataset, options, keys, sopInstanceUID);
    undoStego = stego.undo;

    const header = options.headerConfidentiality
      ? protectHeader(dataset, {
          pseudonymKey: options.pseudonymKey!,
          recipients: options.recipients,
          keyTransport: options.cmsKeyTransport ?? 'rsa-pkcs1v15',
          ...(shared?.cms ? { sharedKey: shared.cms } : {}),
        })
      : { profile: 'none' as const, added: [], replaced: 0, emptied: 0, removed: 0 };

    const block = reserveVeilBlock(dataset);
    dataset.set(
      textElement(veilTag(block, PrivateElement.FormatVersion), 'CS', String(FORMAT_VERSION)),
    );
    dataset.set(
      textElement(veilTag(block, PrivateElement.CipherSuite), 'LO', 'AES-256-GCM RSA-OAEP-SHA-256'),
    );
    const recordTag = veilTag(block, PrivateElement.ProtectionRecord);
    const pixelLength = plan.regions.reduce((n, r) => n + r.length, 0);

    const core: RecordCore = {
      version: FORMAT_VERSION,
      suite: CIPHER_SUITE,
      sopInstanceUID,
      salt: salt.toString('base64'),
      recipients,
      pixels: {
        mode: plan.mode,
        originalTransferSyntaxUID: parsed.transferSyntaxUID,
        length: pixelLength,
      },
      stego: {
        outcome: stego.report.outcome,
        ...(stego.report.reason !== undefined ? { reason: stego.report.reason } : {}),
        capacityBits: stego.report.capacityBits,
        bitsUsed: stego.report.bitsUsed,
        samplesChanged: stego.report.samplesChanged,
        psnr: Number.isFinite(stego.report.psnr) ? stego.report.psnr : null,
        ...(stego.sealedRestoration
          ? { restoration: stego.sealedRestoration.toString('base64') }
          : {}),
      },
      header: {
        profile: header.profile,
        added: header.added,
        replaced: header.replaced,
        emptied: header.emptied,
        removed: header.removed,
      },
    };
    const mac = headerMac(keys.headerMac, dataset, recordTag, core);
    const placeholderTags = plan.regions.map(() => TAG_PLACEHOLDER);
    const record: ProtectionRecord = {
      ...core,
      mac: mac.toString('base64'),
      pixelTags: placeholderTags,
    };
    dataset.set(textElement(recordTag, 'UT', encodeRecord(record).toString('latin1')));

    // The header is copied; the pixels are encrypted straight from the (stego-marked) input
    // into their place in the output, then the input's stego bits are undone.
    const { bytes, offsets } = assemble(
      writePart10(meta, dataset, { transferSyntaxUID: plan.transferSyntaxUID }),
      plan.regions,
      { fillRegions: false },
    );
    const aadBase = pixelAad(sopInstanceUID, plan.geometryKey, pixelLength);
    const tags = plan.regions.map((region, i) => {
      const target = bytes.subarray(offsets[i]!, offsets[i]! + region.length);
      return encryptInto(keys.pixels, ivOf(i), aadBase, region, target).toString('base64');
    });
    undoStego?.();
    undoStego = undefined;
    if (tags.length > 0) {
      patchOnce(
        bytes,
        offsets[0]!,
        Buffer.from(JSON.stringify({ pixelTags: placeholderTags }).slice(1, -1), 'latin1'),
        Buffer.from(JSON.stringify({ pixelTags: tags }).slice(1, -1), 'latin1'),
      );
    }
    return {
      bytes,
      report: {
        sopClassUID,
        formatVersion: FORMAT_VERSION,
        originalTransferSyntaxUID: parsed.transferSyntaxUID,
        pixelMode: plan.mode,
        pixelBytes: pixelLength,
        keyIds: recipients.map((r) => r.keyId),
        protectionMac: record.mac,
        stego: stego.report,
        header: {
          profile: header.profile,
          replaced: header.replaced,
          emptied: header.emptied,
          removed: header.removed,
        },
      },
    };
  } finally {
    undoStego?.();
  }
}

/** GCM IV of region i: its index, big endian. Unique per region under a per-instance subkey. */
export function ivOf(index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(index, 8);
  return iv;
}

interface StegoOutcome {
  report: StegoReport;
  sealedRestoration?: Buffer;
  undo?: () => void;
}

function embedStego(
  plan: PixelPlan,
  dataset: DataSet,
  options: ProtectOptions,
  keys: ReturnType<typeof instanceKeys>,
  sopInstanceUID: string,
): StegoOutcome {
  const skipped = (reason: string, capacityBits = 0): StegoOutcome => ({
    report: {
      outcome: 'skipped',
      reason,
      capacityBits,
      bitsUsed: 0,
      samplesChanged: 0,
      psnr: Infinity,
    },
  });
  if (!options.stego.enabled) return skipped('stego disabled by configuration');
  if (!plan.stegoCapable || plan.geometry === undefined)
    return skipped(plan.stegoUnavailableReason ?? 'not applicable');

  const pixels = plan.regions[0]!;
  const layout = sampleLayout(plan.geometry);
  const payload = {
    kind: 'full' as const,
    fields: collectFields(dataset, options.stego.fields),
    pixelDigest: createHash('sha256').update(pixels).digest(),
  };
  const stegoKeys = { positionKey: keys.stegoPositions, macKey: keys.stegoMac };
  const { restoration, report } = embedPayload(
    pixels,
    layout,
    stegoKeys,
    payload,
    options.stego.whenTooSmall,
  );
  if (restoration === undefined) return { report };
  return {
    report,
    sealedRestoration: sealBytes(
      keys.restoration,
      Buffer.from(sopInstanceUID, 'latin1'),
      restoration,
    ),
    undo: () =>
      restorePayloadBits(pixels, layout, keys.stegoPositions, restoration, report.bitsUsed),
  };
}

/** The configured patient details, by keyword, as raw value bytes without trailing padding. */
export function collectFields(dataset: DataSet, keywords: readonly string[]): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  for (const keyword of keywords) {
    const tag = tagOfKeyword(keyword);
    if (tag === undefined) {
      throw new VeilError(
        'VEIL_E_CONFIG_INVALID',
        `Unknown DICOM keyword in stego fields: ${keyword}.`,
      );
    }
    const value = dataset.get(tag)?.value;
    if (value !== undefined) fields.set(keyword, trimPadding(value));
  }
  return fields;
}

/** Value bytes without trailing spaces and NULs (DICOM padding), so padding never decides a match. */
export function trimPadding(value: Buffer): Buffer {
  let end = value.length;
  while (end > 0 && (value[end - 1] === 0x20 || value[end - 1] === 0x00)) end--;
  return value.subarray(0, end);
}

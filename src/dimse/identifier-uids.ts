/**
 * UID keys of C-FIND / C-MOVE / C-GET identifiers checked as the peer sent them. dcmjs reads UI
 * values keeping only digits and dots, so `abc` arrives as an empty key (universal matching: every
 * study) and `/tmp/x12` as `12`. Veil keeps the identifier's received bytes and checks each UI
 * element there: a value that is not a UID (or a backslash list of UIDs, PS3.4 C.2.2.2.2) is
 * refused with VEIL_E_UID_INVALID instead of being matched in its stripped form.
 */
import { Dataset } from 'dcmjs-dimse';
import { isUid } from '../archive/archive';
import { type DataSet, TransferSyntax } from '../dicom';
import { readDataSet } from '../dicom/read-data-set';
import { VeilError, isVeilError } from '../errors';

/** The bytes each dcmjs-dimse Dataset was read from, for data sets received from a peer. */
const received = new WeakMap<object, { bytes: Buffer; transferSyntaxUID: string }>();

interface DatasetInternals {
  _fromElementsBuffer(bytes: Buffer, transferSyntaxUID: string, ...rest: unknown[]): unknown;
}

// dcmjs-dimse builds every received data set through this method; wrap it once to keep the bytes.
const proto = Dataset.prototype as unknown as DatasetInternals;
const original = proto._fromElementsBuffer;
if (typeof original === 'function' && !(original as { veilWrapped?: boolean }).veilWrapped) {
  const wrapped = function (
    this: object,
    bytes: Buffer,
    transferSyntaxUID: string,
    ...rest: unknown[]
  ): unknown {
    received.set(this, { bytes, transferSyntaxUID });
    return original.call(this, bytes, transferSyntaxUID, ...rest);
  };
  (wrapped as { veilWrapped?: boolean }).veilWrapped = true;
  proto._fromElementsBuffer = wrapped;
}

/** The data set as the peer sent it, parsed by Veil; undefined when not received from a peer. */
function receivedDataSet(dataset: object | undefined): DataSet | undefined {
  const raw = dataset === undefined ? undefined : received.get(dataset);
  if (raw === undefined) return undefined;
  try {
    return readDataSet(raw.bytes, 0, {
      implicit: raw.transferSyntaxUID === TransferSyntax.ImplicitVRLittleEndian,
      bigEndian: raw.transferSyntaxUID === TransferSyntax.ExplicitVRBigEndian,
      maxSequenceDepth: 32,
      dropGroupLengths: true,
    });
  } catch (err) {
    if (isVeilError(err)) throw err;
    throw new VeilError(
      'VEIL_E_DICOM_MALFORMED',
      'The identifier cannot be read.',
      {},
      { cause: err },
    );
  }
}

/** A UI value as received, trailing padding removed (NUL or space). */
function uiText(parsed: DataSet, tag: number): string | undefined {
  const text = parsed.string(tag);
  return text === undefined ? undefined : text.replace(/[\0 ]+$/, '');
}

/**
 * Throws VEIL_E_UID_INVALID when a top-level UI element of the received identifier holds anything
 * but empty, a UID, or a backslash list of UIDs. A data set not received from a peer passes.
 */
export function assertIdentifierUids(dataset: object | undefined): void {
  const parsed = receivedDataSet(dataset);
  if (parsed === undefined) return;
  for (const tag of parsed.tags()) {
    if (parsed.get(tag)?.vr !== 'UI') continue;
    const text = uiText(parsed, tag) ?? '';
    if (text === '') continue;
    if (!text.split('\\').every(isUid)) {
      throw new VeilError(
        'VEIL_E_UID_INVALID',
        'An identifier key holds a value that is not a UID.',
      );
    }
  }
}

/**
 * The values of UI elements of a received command exactly as the peer sent them (dcmjs keeps only
 * digits and dots), in the order of `tags`, for the responses that must echo them (PS3.7 9.3.1.2:
 * the C-STORE-RSP's Affected SOP Instance UID equals the request's). The command is read once; an
 * element is undefined when absent, and every one is when the command is unknown or unreadable.
 */
export function receivedUids(command: object | undefined, tags: number[]): (string | undefined)[] {
  let parsed: DataSet | undefined;
  try {
    parsed = receivedDataSet(command);
  } catch {
    parsed = undefined;
  }
  return tags.map((tag) => (parsed === undefined ? undefined : uiText(parsed, tag)));
}

/**
 * Archive in a PACS over DIMSE (PS3.7): C-STORE SCU to store, C-GET SCU to retrieve, C-FIND at
 * IMAGE level to look up. dcmjs-dimse re-encodes data sets through dcmjs naturalization, which
 * drops private tags (Veil's protection record), so this backend sends and receives raw bytes.
 */
import { Client, Dataset, constants, log as dimseLog, requests, responses } from 'dcmjs-dimse';
import { Writable } from 'node:stream';
import { VeilError } from '../errors';
import { type Archive, type ArchiveHealth, type InstanceRef, assertInstanceRef } from './archive';
import { DicomWebArchive } from './dicomweb-archive';
import { fileMetaHeader, readFileMeta } from '../dicom/file-meta';
import { RawDataset } from '../dimse/raw-dataset';
// Each command parsed on its own (dcmjs-dimse re-parsed every earlier dataset-less one).
import '../dimse/command-stream';

/** Where the DIMSE archive is and how Veil calls it. */
export interface DimseArchiveOptions {
  /** Called AE title of the archive. */
  aeTitle: string;
  host: string;
  port: number;
  /** Veil's AE title towards the archive (the archive must know it for C-GET). */
  callingAeTitle: string;
  /** Only 'cget' is implemented (C-MOVE needs a listening Veil SCP). */
  retrieve: 'cget';
  /** Connect, association and PDU timeout in ms; default 30000. */
  timeoutMs?: number;
  /** Orthanc REST root (http://host:8042): enables delete, which DIMSE itself lacks. */
  orthancUrl?: string;
}

/** Collects a received C-STORE data set in memory (the Archive interface returns a Buffer). */
class CollectingWritable extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
}

type Request = InstanceType<typeof requests.Request>;
type Response = InstanceType<typeof responses.Response>;

const { Status } = constants;
const isSuccess = (status: number) => status === Status.Success || (status & 0xf000) === 0xb000;

/** The Archive backend that speaks DIMSE (tested against Orthanc's DICOM port). */
export class DimseArchive implements Archive {
  readonly kind = 'dimse';
  private readonly timeoutMs: number;
  private readonly rest: DicomWebArchive | undefined;

  constructor(private readonly options: DimseArchiveOptions) {
    // dcmjs-dimse logs every PDU at info level to stdout, past log.level; in worker processes
    // nothing else silences it (startDimseServer does so only in the gateway's own process).
    dimseLog.setLevel('silent');
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.rest = options.orthancUrl
      ? new DicomWebArchive({
          url: `${options.orthancUrl}/dicom-web`,
          orthancUrl: options.orthancUrl,
        })
      : undefined;
  }

  /** C-STORE of the exact data set bytes, in the transfer syntax they are encoded in. */
  async put(ref: InstanceRef, bytes: Buffer): Promise<void> {
    assertInstanceRef(ref);
    const meta = readFileMeta(bytes);
    if (meta.sopInstanceUID !== ref.sopInstanceUID) {
      throw new VeilError('VEIL_E_UID_INVALID', 'The object is not the instance it is stored as.');
    }
    const dataset = new RawDataset(
      bytes.subarray(meta.datasetOffset),
      meta.transferSyntaxUID,
      meta.sopClassUID,
      meta.sopInstanceUID,
    );
    const request = new requests.CStoreRequest(dataset);
    let status: number | undefined;
    request.on('response', (response: Response) => {
      status = response.getStatus();
    });
    await this.associate([request], {});
    if (status === undefined || !isSuccess(status)) {
      throw new VeilError('VEIL_E_ARCHIVE_UNAVAILABLE', 'The DIMSE archive refused the C-STORE.', {
        status: status === undefined ? 'none' : `0x${status.toString(16)}`,
      });
    }
  }

  /** C-GET at IMAGE level; the C-STORE sub-operation's data set arrives as raw bytes. */
  async get(ref: InstanceRef): Promise<Buffer> {
    assertInstanceRef(ref);
    const request = requests.CGetRequest.createImageGetRequest(
      ref.studyInstanceUID,
      ref.seriesInstanceUID,
      ref.sopInstanceUID,
    );
    let received: Buffer | undefined;
    let final: number | undefined;
    request.on('response', (response: Response) => {
      if (response.getStatus() !== Status.Pending) final = response.getStatus();
    });
    await this.associate([request], {
      onStore: (store, dataset, transferSyntaxUID) => {
        if (store.getAffectedSopInstanceUid() === ref.sopInstanceUID) {
          received = Buffer.concat([
            fileMetaHeader(
              store.getAffectedSopClassUid(),
              store.getAffectedSopInstanceUid(),
              transferSyntaxUID,
            ),
            dataset,
          ]);
        }
      },
    });
    if (received) return received;
    // Archives answer an unknown instance with success and no sub-operation, or with a failure.
    if (final === undefined || isSuccess(final) || !(await this.has(ref))) {
      throw new VeilError('VEIL_E_ARCHIVE_NOT_FOUND', 'The DIMSE archive holds no such instance.', {
        sopInstanceUID: ref.sopInstanceUID,
      });
    }
    throw new VeilError('VEIL_E_ARCHIVE_UNAVAILABLE', 'The DIMSE archive failed the C-GET.', {
      status: `0x${final.toString(16)}`,
    });
  }

  /** C-FIND at IMAGE level by study, series and SOP Instance UID. */
  async has(ref: InstanceRef): Promise<boolean> {
    assertInstanceRef(ref);
    const request = requests.CFindRequest.createImageFindRequest({
      StudyInstanceUID: ref.studyInstanceUID,
      SeriesInstanceUID: ref.seriesInstanceUID,
      SOPInstanceUID: ref.sopInstanceUID,
    });
    let matches = 0;
    let final: number | undefined;
    request.on('response', (response: Response) => {
      if (response.getStatus() === Status.Pending && response.hasDataset()) matches++;
      else final = response.getStatus();
    });
    await this.associate([request], {});
    if (final !== undefined && !isSuccess(final)) {
      throw new VeilError('VEIL_E_ARCHIVE_UNAVAILABLE', 'The DIMSE archive failed the C-FIND.', {
        status: `0x${final.toString(16)}`,
      });
    }
    return matches > 0;
  }

  /** DIMSE has no delete: Orthanc's REST API does it when orthancUrl is configured. */
  async delete(ref: InstanceRef): Promise<void> {
    assertInstanceRef(ref);
    if (!this.rest) {
      throw new VeilError(
        'VEIL_E_ARCHIVE_UNSUPPORTED',
        'DIMSE has no delete; configure the archive Orthanc REST URL or delete in the PACS.',
      );
    }
    await this.rest.delete(ref);
  }

  /** Ok when the archive accepts an association and answers C-ECHO. */
  async health(): Promise<ArchiveHealth> {
    const echo = new requests.CEchoRequest();
    let status: number | undefined;
    echo.on('response', (response: Response) => {
      status = response.getStatus();
    });
    try {
      await this.associate([echo], {});
    } catch (err) {
      return {
        ok: false,
        detail:
          err instanceof VeilError ? String(err.details.reason ?? err.message) : 'unreachable',
      };
    }
    return status === Status.Success ? { ok: true } : { ok: false, detail: 'C-ECHO failed' };
  }

  async close(): Promise<void> {
    // One association per call: nothing stays open.
  }

  /** Runs one association for the requests; resolves after release, rejects on any network failure. */
  private associate(
    reqs: Request[],
    how: {
      onStore?: (
        request: InstanceType<typeof requests.CStoreRequest>,
        dataset: Buffer,
        ts: string,
      ) => void;
    },
  ): Promise<void> {
    const { host, port, callingAeTitle, aeTitle } = this.options;
    return new Promise<void>((resolve, reject) => {
      const client = new Client();
      for (const r of reqs) client.addRequest(r);
      let failure: VeilError | undefined;
      const fail = (reason: string, cause?: unknown) => {
        failure ??= new VeilError(
          'VEIL_E_ARCHIVE_UNAVAILABLE',
          `The DIMSE archive cannot be reached (${reason}).`,
          { reason },
          cause === undefined ? undefined : { cause },
        );
      };
      client.on('associationRejected', (rej: { result: number; reason: number }) =>
        fail(`association rejected, reason ${rej.reason}`),
      );
      client.on('networkError', (err: Error & { code?: string }) =>
        fail(err.code ?? err.message, err),
      );
      client.on(
        'cStoreRequest',
        (request: InstanceType<typeof requests.CStoreRequest>, callback: (r: Response) => void) => {
          const dataset = request.getDataset() as RawDataset | undefined;
          const response = responses.CStoreResponse.fromRequest(request);
          if (dataset instanceof RawDataset) {
            how.onStore?.(request, dataset.rawBytes(), dataset.getTransferSyntaxUid());
            response.setStatus(Status.Success);
          }
          callback(response);
        },
      );
      client.on('closed', () => (failure ? reject(failure) : resolve()));
      client.send(host, port, callingAeTitle, aeTitle, {
        connectTimeout: this.timeoutMs,
        associationTimeout: this.timeoutMs,
        pduTimeout: this.timeoutMs,
      });
      const network = (client as unknown as { network?: NetworkInternals }).network;
      if (!network) return reject(new Error('dcmjs-dimse did not create a network'));
      // Nagle plus delayed ACKs cost ~45 ms per instance on loopback (LIBRARY-NOTES).
      network.socket.setNoDelay(true);
      // C-GET sub-operations: keep the received bytes as they are (dcmjs would drop private tags).
      network.createStoreWritableStream = () => new CollectingWritable();
      network.createDatasetFromStoreWritableStream = (stream, context, callback) => {
        callback(
          new RawDataset(
            Buffer.concat((stream as CollectingWritable).chunks),
            context.getAcceptedTransferSyntaxUid(),
          ),
        );
      };
    });
  }
}

/** The parts of dcmjs-dimse's Network this backend overrides (LIBRARY-NOTES: the documented hooks). */
interface NetworkInternals {
  socket: import('node:net').Socket;
  createStoreWritableStream: (context: unknown, request: unknown) => Writable;
  createDatasetFromStoreWritableStream: (
    stream: Writable,
    context: { getAcceptedTransferSyntaxUid(): string },
    callback: (dataset: Dataset) => void,
  ) => void;
}

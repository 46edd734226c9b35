/**
 * QIDO-RS (PS3.18 10.6): searches for studies, series and instances in the catalogue, answered as
 * application/dicom+json. No pixels and no archive are touched. No match is 200 with [].
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { isUid } from '../archive/archive';
import { tagOfKeyword } from '../dicom/dictionary';
import { VeilError } from '../errors';
import type { CatalogueRow, QueryLevel } from '../index/catalogue';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { principalOf } from './auth';
import { keywordAttribute, type DicomJsonObject } from './dicom-json';
import { covers, parseAccept } from './media-type';
import { parseQidoParams } from './qido-params';
import type { Role } from './tokens';
import { dicomWebRoot, retrieveUrl } from './urls';

/** Attributes returned by default per level (PS3.18 Tables 10.6.3-3 to -5), plus the UIDs above. */
const DEFAULTS: Record<QueryLevel, readonly string[]> = {
  PATIENT: ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex'],
  STUDY: [
    'SpecificCharacterSet',
    'StudyDate',
    'StudyTime',
    'AccessionNumber',
    'InstanceAvailability',
    'ModalitiesInStudy',
    'ReferringPhysicianName',
    'TimezoneOffsetFromUTC',
    'RetrieveURL',
    'PatientName',
    'PatientID',
    'PatientBirthDate',
    'PatientSex',
    'StudyInstanceUID',
    'StudyID',
    'NumberOfStudyRelatedSeries',
    'NumberOfStudyRelatedInstances',
  ],
  SERIES: [
    'SpecificCharacterSet',
    'Modality',
    'TimezoneOffsetFromUTC',
    'SeriesDescription',
    'RetrieveURL',
    'SeriesInstanceUID',
    'SeriesNumber',
    'NumberOfSeriesRelatedInstances',
    'PerformedProcedureStepStartDate',
    'PerformedProcedureStepStartTime',
    'StudyInstanceUID',
  ],
  IMAGE: [
    'SpecificCharacterSet',
    'SOPClassUID',
    'SOPInstanceUID',
    'InstanceAvailability',
    'TimezoneOffsetFromUTC',
    'RetrieveURL',
    'InstanceNumber',
    'Rows',
    'Columns',
    'BitsAllocated',
    'NumberOfFrames',
    'StudyInstanceUID',
    'SeriesInstanceUID',
  ],
};

/** What one search route asks: its level, the levels whose defaults it adds, and its path UIDs. */
interface Search {
  level: QueryLevel;
  /** Searches across studies (/series, /instances) also return the parent levels' attributes. */
  also: QueryLevel[];
  path: (req: Request) => Record<string, string>;
}

function pathUids(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  const { study, series } = req.params as { study?: string; series?: string };
  for (const [keyword, uid] of [
    ['StudyInstanceUID', study],
    ['SeriesInstanceUID', series],
  ] as const) {
    if (uid === undefined) continue;
    if (!isUid(uid))
      throw new VeilError('VEIL_E_UID_INVALID', `The ${keyword} in the path is not a valid UID`);
    out[keyword] = uid;
  }
  return out;
}

/** One catalogue row as a DICOM JSON object, keeping the selected attributes, in tag order. */
function rowToJson(
  row: CatalogueRow,
  level: QueryLevel,
  selected: Set<string> | undefined,
  root: string,
): DicomJsonObject {
  const values: Record<string, string | number> = { ...row };
  const study = row.StudyInstanceUID as string | undefined;
  const series = row.SeriesInstanceUID as string | undefined;
  if (study !== undefined) {
    if (level === 'STUDY') values.RetrieveURL = retrieveUrl(root, study);
    else if (series !== undefined && level === 'SERIES')
      values.RetrieveURL = retrieveUrl(root, study, series);
    else if (series !== undefined && row.SOPInstanceUID !== undefined) {
      values.RetrieveURL = retrieveUrl(root, study, series, String(row.SOPInstanceUID));
    }
  }
  // Everything Veil lists is archived: stored and retrievable now (PS3.4 C.4.23.1.1).
  values.InstanceAvailability = 'ONLINE';
  const entries = Object.entries(values)
    .filter(([k]) => selected === undefined || selected.has(k))
    .map(([k, v]) => keywordAttribute(k, v))
    .filter((e): e is NonNullable<typeof e> => e !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return Object.fromEntries(entries);
}

/** Router for the QIDO-RS searches, mounted under /dicom-web. */
export function qidoRouter(
  deps: GatewayDeps,
  requireRole: (...roles: Role[]) => RequestHandler,
): Router {
  const router = Router();

  const search =
    (s: Search) =>
    async (req: Request, res: Response): Promise<void> => {
      const accept = parseAccept(req.get('accept'));
      if (
        !accept.some((m) => covers(m, 'application/dicom+json') || covers(m, 'application/json'))
      ) {
        throw new VeilError(
          'VEIL_E_HTTP_NOT_ACCEPTABLE',
          'QIDO-RS answers application/dicom+json only',
        );
      }
      const params = new URL(req.originalUrl, 'http://veil.invalid').searchParams;
      const { query, include } = parseQidoParams(params, s.level, s.path(req));
      const rows = deps.catalogue.query(query);
      let selected: Set<string> | undefined;
      if (include !== undefined) {
        selected = new Set([
          ...[s.level, ...s.also].flatMap((l) => DEFAULTS[l]),
          ...Object.keys(query.match),
          ...include,
        ]);
      }
      const principal = principalOf(res);
      deps.audit.record({
        type: 'Query',
        action: 'E',
        outcome: 'success',
        user: principal.name,
        address: req.socket.remoteAddress,
        query: {
          level: s.level,
          keys: Object.keys(query.match).filter((k) => tagOfKeyword(k) !== undefined),
        },
      });
      const root = dicomWebRoot(req);
      res
        .status(200)
        .type('application/dicom+json')
        .send(JSON.stringify(rows.map((row) => rowToJson(row, s.level, selected, root))));
    };

  const guard = requireRole('workstation');
  router.get('/studies', guard, search({ level: 'STUDY', also: [], path: pathUids }));
  router.get('/series', guard, search({ level: 'SERIES', also: ['STUDY'], path: pathUids }));
  router.get(
    '/instances',
    guard,
    search({ level: 'IMAGE', also: ['STUDY', 'SERIES'], path: pathUids }),
  );
  router.get(
    '/studies/:study/series',
    guard,
    search({ level: 'SERIES', also: [], path: pathUids }),
  );
  router.get(
    '/studies/:study/instances',
    guard,
    search({ level: 'IMAGE', also: ['SERIES'], path: pathUids }),
  );
  router.get(
    '/studies/:study/series/:series/instances',
    guard,
    search({ level: 'IMAGE', also: [], path: pathUids }),
  );
  return router;
}

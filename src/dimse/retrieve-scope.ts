/**
 * Which archived instances a C-MOVE / C-GET identifier names (PS3.4 C.4.2.2.1, C.4.3.2.1): the
 * unique keys of the retrieve level and the levels above it, UID lists allowed at the level.
 */
import { isUid } from '../archive/archive';
import { VeilError } from '../errors';
import type { Catalogue, InstanceRecord } from '../index/catalogue';
import { queryLevelOf, textOf, type NaturalizedElements } from './query-identifier';
import type { InformationModel } from './sop-classes';

/** UIDs of a key (a UID list is backslash separated), each checked (PS3.5 9.1). */
function uidList(elements: NaturalizedElements, keyword: string, required: boolean): string[] {
  const uids = textOf(elements[keyword])
    .split('\\')
    .map((uid) => uid.trim())
    .filter((uid) => uid !== '');
  if (required && uids.length === 0)
    throw new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', `The identifier lacks ${keyword}`);
  for (const uid of uids) {
    if (!isUid(uid)) throw new VeilError('VEIL_E_UID_INVALID', `${keyword} is not a valid UID`);
  }
  return uids;
}

/** The single UID of a higher level's unique key. */
function singleUid(elements: NaturalizedElements, keyword: string): string {
  const uids = uidList(elements, keyword, true);
  if (uids.length > 1)
    throw new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', `${keyword} must be a single UID here`);
  return uids[0];
}

/** The archived instances named by a retrieve identifier, each once, in catalogue order. */
export function instancesToRetrieve(
  catalogue: Catalogue,
  elements: NaturalizedElements,
  model: InformationModel,
): InstanceRecord[] {
  const level = queryLevelOf(elements, model);
  const found: InstanceRecord[] = [];
  const studies = (studyUIDs: string[]) => {
    for (const studyInstanceUID of studyUIDs)
      found.push(...catalogue.instancesOf({ studyInstanceUID }));
  };
  switch (level) {
    case 'PATIENT': {
      const patientID = textOf(elements.PatientID);
      if (patientID === '')
        throw new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', 'The identifier lacks PatientID');
      // A wildcard here would retrieve other patients: PatientID is a unique key, matched exactly.
      if (/[*?\\]/.test(patientID))
        throw new VeilError('VEIL_E_DICOM_MISSING_ATTRIBUTE', 'PatientID must be a single value');
      const rows = catalogue.query({
        level: 'STUDY',
        match: { PatientID: patientID, StudyInstanceUID: '' },
      });
      studies(rows.map((row) => String(row.StudyInstanceUID)).filter(isUid));
      break;
    }
    case 'STUDY':
      studies(uidList(elements, 'StudyInstanceUID', true));
      break;
    case 'SERIES': {
      const studyInstanceUID = singleUid(elements, 'StudyInstanceUID');
      for (const seriesInstanceUID of uidList(elements, 'SeriesInstanceUID', true))
        found.push(...catalogue.instancesOf({ studyInstanceUID, seriesInstanceUID }));
      break;
    }
    case 'IMAGE': {
      const studyInstanceUID = singleUid(elements, 'StudyInstanceUID');
      const seriesInstanceUID = singleUid(elements, 'SeriesInstanceUID');
      for (const sopInstanceUID of uidList(elements, 'SOPInstanceUID', true))
        found.push(
          ...catalogue.instancesOf({ studyInstanceUID, seriesInstanceUID, sopInstanceUID }),
        );
      break;
    }
  }
  const seen = new Set<string>();
  return found.filter(
    (r) => !seen.has(r.sopInstanceUID) && seen.add(r.sopInstanceUID) !== undefined,
  );
}

/** One configured C-MOVE destination (config dimse.destinations, AE@host:port). */
export interface MoveDestination {
  aeTitle: string;
  host: string;
  port: number;
}

/** Looks up a Move Destination AE; VEIL_E_MOVE_DESTINATION_UNKNOWN (0xA801) when not configured. */
export function resolveMoveDestination(
  destinations: readonly string[],
  aeTitle: string,
): MoveDestination {
  const wanted = aeTitle.trim();
  for (const entry of destinations) {
    const at = entry.lastIndexOf('@');
    const colon = entry.lastIndexOf(':');
    if (at < 0 || colon < at) continue;
    if (entry.slice(0, at).trim() !== wanted) continue;
    // IPv6 hosts may be written in brackets: [::1]:104.
    const host = entry.slice(at + 1, colon).replace(/^\[(.*)\]$/, '$1');
    return { aeTitle: wanted, host, port: Number(entry.slice(colon + 1)) };
  }
  throw new VeilError(
    'VEIL_E_MOVE_DESTINATION_UNKNOWN',
    'The C-MOVE destination AE is not configured in dimse.destinations',
  );
}

/**
 * RetrieveURL values (PS3.18 10.4.1.2): absolute WADO-RS URLs of a study, series or instance,
 * built from the request's own origin so they work behind the address the client used.
 */
import type { Request } from 'express';

/** The DICOMweb root, e.g. http://host:8080/dicom-web. */
export function dicomWebRoot(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}/dicom-web`;
}

/** WADO-RS URL of a study, a series in it, or an instance in that series. */
export function retrieveUrl(root: string, study: string, series?: string, sop?: string): string {
  let url = `${root}/studies/${study}`;
  if (series !== undefined) url += `/series/${series}`;
  if (series !== undefined && sop !== undefined) url += `/instances/${sop}`;
  return url;
}

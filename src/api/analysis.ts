/**
 * The security analysis of `veil analyze` for one archived instance, for administrators:
 * GET /admin/api/analysis/studies/{study}/series/{series}/instances/{sop}[?maxFrames=N].
 * The instance is revealed by a worker (verified, as for WADO-RS) and analysed in this process
 * with ephemeral keys; the answer is the metrics table as JSON, never pixels or patient values.
 */
import { promises as fs } from 'node:fs';
import { Router, type RequestHandler } from 'express';
import { analyzeInstance } from '../analysis/analyze-instance';
import { assertInstanceRef } from '../archive/archive';
import { ERROR_CODES, type ErrorCode, VeilError } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { principalOf } from './auth';

/** Router mounted under /admin/api (behind the admin guard). */
export function analysisRouter(deps: GatewayDeps): Router {
  const router = Router();
  const handler: RequestHandler = async (req, res) => {
    const ref = {
      studyInstanceUID: String(req.params.study),
      seriesInstanceUID: String(req.params.series),
      sopInstanceUID: String(req.params.sop),
    };
    assertInstanceRef(ref);
    const maxFramesText = typeof req.query.maxFrames === 'string' ? req.query.maxFrames : '1';
    if (!/^[0-9]{1,3}$/.test(maxFramesText) || Number(maxFramesText) < 1) {
      throw new VeilError('VEIL_E_QUERY_INVALID', 'maxFrames must be an integer from 1 to 999');
    }
    const known = deps.catalogue.instancesOf(ref);
    if (known.length === 0) throw new VeilError('VEIL_E_NOT_FOUND', 'No such archived instance');
    const user = principalOf(res).name;
    let bytes: Buffer | undefined;
    for await (const item of deps.retriever.retrieve([ref], user)) {
      if (!item.ok) {
        const code = (
          item.code in ERROR_CODES ? item.code : 'VEIL_E_ARCHIVE_UNAVAILABLE'
        ) as ErrorCode;
        throw new VeilError(code, item.message);
      }
      try {
        bytes = await fs.readFile(item.path);
      } finally {
        await item.release();
      }
    }
    if (bytes === undefined)
      throw new VeilError('VEIL_E_NOT_FOUND', 'The instance was not revealed');
    const result = await analyzeInstance(bytes, { maxFrames: Number(maxFramesText) });
    deps.audit.record({
      type: 'DICOMInstancesTransferred',
      action: 'R',
      outcome: 'success',
      user,
      address: req.socket.remoteAddress,
      studyInstanceUIDs: [ref.studyInstanceUID],
      sopInstanceUIDs: [ref.sopInstanceUID],
    });
    const { planes: _planes, ...body } = result;
    res.json(body);
  };
  router.get('/analysis/studies/:study/series/:series/instances/:sop', handler);
  return router;
}

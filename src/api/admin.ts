/**
 * Administration: Bull Board at /admin/queues and a small JSON API at /admin/api to list failed
 * jobs with their error codes, retry them, and count instances by state. Admin role only.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Job, JobType, Queue } from 'bullmq';
import { Router, type Express, type RequestHandler } from 'express';
import { VeilError } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { analysisRouter } from './analysis';
import { principalOf } from './auth';
import type { Role } from './tokens';

const STATES: readonly JobType[] = [
  'failed',
  'completed',
  'active',
  'waiting',
  'delayed',
  'prioritized',
  'waiting-children',
];
const CODE = /VEIL_E_[A-Z0-9_]+/;

/** What the admin API shows of a job: identifiers, UIDs and the error code, never other job data. */
export interface JobSummary {
  id: string;
  queue: string;
  name: string;
  /** The VEIL_E_* code the processor failed with ('internal-error' for anything else). */
  failedReason?: string;
  attemptsMade: number;
  timestamp: number;
  processedOn?: number;
  finishedOn?: number;
  sopInstanceUID?: string;
  studyInstanceUID?: string;
  seriesInstanceUID?: string;
}

function summary(job: Job): JobSummary {
  const data = (job.data ?? {}) as { sopInstanceUID?: unknown; ref?: Record<string, unknown> };
  const uid = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const out: JobSummary = {
    id: String(job.id),
    queue: job.queueName,
    name: job.name,
    attemptsMade: job.attemptsMade,
    timestamp: job.timestamp,
  };
  if (job.failedReason) out.failedReason = CODE.exec(job.failedReason)?.[0] ?? 'internal-error';
  if (job.processedOn) out.processedOn = job.processedOn;
  if (job.finishedOn) out.finishedOn = job.finishedOn;
  const sop = uid(data.sopInstanceUID) ?? uid(data.ref?.sopInstanceUID);
  if (sop) out.sopInstanceUID = sop;
  if (uid(data.ref?.studyInstanceUID)) out.studyInstanceUID = uid(data.ref?.studyInstanceUID);
  if (uid(data.ref?.seriesInstanceUID)) out.seriesInstanceUID = uid(data.ref?.seriesInstanceUID);
  return out;
}

/** Redis errors surface as the documented 503 rather than a 500. */
async function queueCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof VeilError) throw err;
    throw new VeilError(
      'VEIL_E_QUEUE_UNAVAILABLE',
      'The job queue (Redis) did not answer',
      {},
      { cause: err },
    );
  }
}

/** Mounts Bull Board and /admin/api on `app`, each behind the admin-only guard. */
export function mountAdmin(
  app: Express,
  deps: GatewayDeps,
  requireRole: (...roles: Role[]) => RequestHandler,
): void {
  const adminOnly = requireRole('admin');
  const queues: Record<string, Queue> = {
    protect: deps.queues.protect,
    reveal: deps.queues.reveal,
  };
  const queueOf = (name: string): Queue => {
    const q = queues[name] ?? Object.values(queues).find((x) => x.name === name);
    if (!q) throw new VeilError('VEIL_E_NOT_FOUND', 'No such queue (use protect or reveal)');
    return q;
  };

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({
    queues: Object.values(queues).map((q) => new BullMQAdapter(q)),
    serverAdapter,
  });
  // Bull Board has no login of its own: the guard runs before its router (LIBRARY-NOTES).
  app.use('/admin/queues', adminOnly, serverAdapter.getRouter() as RequestHandler);

  const api = Router();
  api.use(adminOnly);
  api.get('/jobs', async (req, res) => {
    const state = (typeof req.query.state === 'string' ? req.query.state : 'failed') as JobType;
    if (!STATES.includes(state))
      throw new VeilError('VEIL_E_HTTP_BAD_REQUEST', `state must be one of ${STATES.join(', ')}`);
    const limitText = typeof req.query.limit === 'string' ? req.query.limit : '100';
    if (!/^[0-9]{1,4}$/.test(limitText) || Number(limitText) < 1) {
      throw new VeilError('VEIL_E_QUERY_INVALID', 'limit must be an integer from 1 to 9999');
    }
    const limit = Number(limitText);
    const selected =
      typeof req.query.queue === 'string' ? [queueOf(req.query.queue)] : Object.values(queues);
    const jobs: JobSummary[] = [];
    for (const q of selected) {
      const list = await queueCall(() => q.getJobs([state], 0, limit - 1));
      jobs.push(...list.filter((j): j is Job => j !== undefined).map(summary));
    }
    res.json({ state, jobs: jobs.slice(0, limit) });
  });
  api.post('/jobs/:queue/:id/retry', async (req, res) => {
    const q = queueOf(req.params.queue as string);
    const id = req.params.id as string;
    const job = await queueCall(() => q.getJob(id));
    if (!job) throw new VeilError('VEIL_E_NOT_FOUND', 'No such job');
    const state = await queueCall(() => job.getState());
    if (state !== 'failed')
      throw new VeilError('VEIL_E_JOB_NOT_FAILED', `The job is ${state}, not failed`);
    await queueCall(() => job.retry('failed'));
    deps.log.info({ queue: q.name, jobId: id, by: principalOf(res).name }, 'job retried by admin');
    res.status(202).json({ id, queue: q.name, state: 'waiting' });
  });
  api.get('/instances/counts', (_req, res) => {
    res.json(deps.catalogue.counts());
  });
  // Storage commitment transactions still waiting for their report: UIDs and counts, no patient data.
  api.get('/storage-commitments', (_req, res) => {
    res.json({
      pending: deps.catalogue.pendingCommitments().map((c) => ({
        callingAeTitle: c.callingAeTitle,
        transactionUID: c.transactionUID,
        instances: c.items.length,
        deadline: new Date(c.deadline).toISOString(),
      })),
    });
  });
  api.use(analysisRouter(deps));
  app.use('/admin/api', api);
}

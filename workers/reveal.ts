/**
 * BullMQ sandboxed processor of reveal jobs: decrypts and verifies a batch of archived instances
 * in its own child process and writes each original for the requester as soon as it is revealed.
 */
import type { SandboxedJob } from 'bullmq';
import type { RevealJobData, RevealJobResult } from '../src/pipeline/jobs';
import { processRevealBatch } from '../src/pipeline/processors';
import { exitWithParent, prepareWorker, workerContextFromEnv } from '../src/pipeline/worker-env';

// A sandbox child must never outlive its worker: orphans spin at ~80% CPU (LIBRARY-NOTES).
exitWithParent();
prepareWorker('reveal');

/** Reveals the job's instances into their outPaths, reporting each as progress. */
export default async function revealProcessor(
  job: SandboxedJob<RevealJobData, RevealJobResult>,
): Promise<RevealJobResult> {
  return processRevealBatch(await workerContextFromEnv(), job);
}

/**
 * BullMQ sandboxed processor of reveal jobs: decrypts and verifies one archived instance in its
 * own child process and writes the original for the requester.
 */
import type { SandboxedJob } from 'bullmq';
import type { RevealJobData, RevealJobResult } from '../src/pipeline/jobs';
import { processReveal } from '../src/pipeline/processors';
import { exitWithParent, workerContextFromEnv } from '../src/pipeline/worker-env';

// A sandbox child must never outlive its worker: orphans spin at ~80% CPU (LIBRARY-NOTES).
exitWithParent();

/** Reveals one archived instance into the job's outPath. */
export default async function revealProcessor(
  job: SandboxedJob<RevealJobData, RevealJobResult>,
): Promise<RevealJobResult> {
  return processReveal(await workerContextFromEnv(), job);
}

/**
 * BullMQ sandboxed processor of protect jobs: runs in its own child process (CPU work never blocks
 * the listeners) and reuses one WorkerContext for every job the child runs.
 */
import os from 'node:os';
import type { SandboxedJob } from 'bullmq';
import type { ProtectJobData, ProtectJobResult } from '../src/pipeline/jobs';
import { processProtect } from '../src/pipeline/processors';
import { exitWithParent, prepareWorker, workerContextFromEnv } from '../src/pipeline/worker-env';

// A sandbox child must never outlive its worker: orphans spin at ~80% CPU (LIBRARY-NOTES).
exitWithParent();

// Protecting is background work: the listeners acknowledging new instances and the reveal
// children serving workstations go first when the cores are busy (niceness 10).
try {
  os.setPriority(10);
} catch {
  // Not permitted on this platform: run at normal priority.
}

prepareWorker('protect');

/** Protects the newest spooled copy of the job's instance. */
export default async function protectProcessor(
  job: SandboxedJob<ProtectJobData, ProtectJobResult>,
): Promise<ProtectJobResult> {
  return processProtect(await workerContextFromEnv(), job);
}

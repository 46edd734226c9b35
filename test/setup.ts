/**
 * Test-run setup: fast-check properties use a fixed seed when FC_SEED is set (CI sets it, so a
 * run is reproducible and a red build can be replayed); unset, every run explores new inputs.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED;
if (seed !== undefined && seed !== '') {
  fc.configureGlobal({ seed: Number(seed) });
}

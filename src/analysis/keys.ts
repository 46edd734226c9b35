/**
 * Ephemeral keys of one analysis run: Veil's RSA recipient key (3072 bits by default, as `veil
 * keys generate` makes), an impostor key for the wrong-key test, and the paper's real-size textbook
 * RSA key. Generated in memory, never written, discarded after the run.
 */
import {
  type RsaBits,
  generateRsaKey,
  privateKeyFromPem,
  recipientFromCertificate,
} from '../crypto';
import { type LargeRsaKey, largeRsaKey } from '../crypto/research/textbook-rsa';
import type { EphemeralKeys } from './veil-run';

/** All keys one run needs. */
export interface AnalysisKeys {
  veil: EphemeralKeys;
  veilBits: RsaBits;
  textbook: LargeRsaKey;
}

/** Generates the keys (in parallel: RSA key generation is the slow part of a small analysis). */
export async function generateAnalysisKeys(
  veilBits: RsaBits = 3072,
  textbookBits = 2048,
): Promise<AnalysisKeys> {
  const [real, other, textbook] = await Promise.all([
    generateRsaKey({ bits: veilBits, commonName: 'Veil analyze (ephemeral)' }),
    generateRsaKey({ bits: veilBits, commonName: 'Veil analyze impostor (ephemeral)' }),
    largeRsaKey(textbookBits),
  ]);
  const privateKey = privateKeyFromPem(real.privateKeyPem, real.certificatePem);
  const impostor = privateKeyFromPem(other.privateKeyPem, other.certificatePem);
  return {
    veil: {
      recipient: recipientFromCertificate(real.certificatePem),
      privateKey,
      // The right key id and certificate with another key pair's private key.
      impostor: { ...privateKey, privateKey: impostor.privateKey },
    },
    veilBits,
    textbook,
  };
}

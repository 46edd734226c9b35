/**
 * Key space and security level in bits. RSA moduli map to their strength by NIST SP 800-57
 * Part 1 Rev. 5, Table 2 (1024: 80, 2048: 112, 3072: 128, 7680: 192, 15360: 256).
 */

/** Security strength in bits of an RSA modulus of `bits` (the table's row at or below it). */
export function rsaSecurityBits(bits: number): number {
  const table: [number, number][] = [
    [15360, 256],
    [7680, 192],
    [3072, 128],
    [2048, 112],
    [1024, 80],
  ];
  for (const [modulus, strength] of table) if (bits >= modulus) return strength;
  // Below 1024 bits SP 800-57 gives no strength: such moduli factor in practice (0 bits).
  return 0;
}

/** AES key space and strength are the key length (SP 800-57 Table 2: AES-256 gives 256). */
export function aesSecurityBits(keyBits: number): number {
  return keyBits;
}

/** LSB steganography: keyed positions, bit embedding with restoration, the authenticated payload. */
export * from './layout';
export * from './positions';
export * from './lsb';
export * from './payload';
export * from './embed';

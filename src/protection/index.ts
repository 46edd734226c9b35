/** The protection core: protect(), reveal() and inspect() of one instance (format v1). */
export * from './options';
export { protect, type ProtectResult } from './protect';
export { reveal, type RevealResult } from './reveal';
export { inspect, type InspectReport } from './inspect';
export { FORMAT_VERSION, CIPHER_SUITE, type ProtectionRecord, type PixelMode } from './record';
export { PRIVATE_CREATOR, PRIVATE_GROUP } from './private-block';
export { wrappedKeyId } from './keys';
export { rewrap, type RewrapOptions, type RewrapResult } from './rewrap';

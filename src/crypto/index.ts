/** The crypto core: RSA keys and key ids, the AES-256-GCM pixel envelope and CMS EnvelopedData. */
export * from './rsa-keys';
export * from './key-ring';
export * from './envelope';
export * from './cms';

/**
 * The one typed, validated configuration. A schema names every key (type, default, allowed
 * values, doc); files and `VEIL_*` environment variables are layered over it, checked at
 * start-up, and the result is deep-frozen. See docs/configuration.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VeilError } from './errors';

interface LeafBase<K extends string, T> {
  readonly kind: K;
  readonly default: T;
  readonly doc: string;
}
/** Text, optionally restricted to `pattern` (described by `patternDoc`). */
export interface StringLeaf extends LeafBase<'string', string> {
  readonly pattern?: RegExp;
  readonly patternDoc?: string;
}
/** A filesystem path, resolved against the working directory when loaded. */
export type PathLeaf = LeafBase<'path', string>;
/** true or false (from the environment: true/false/1/0). */
export type BooleanLeaf = LeafBase<'boolean', boolean>;
/** An integer in [min, max]. */
export interface IntegerLeaf extends LeafBase<'integer', number> {
  readonly min: number;
  readonly max: number;
}
/** One of a fixed set of strings or numbers. */
export interface EnumLeaf<V extends string | number> extends LeafBase<'enum', V> {
  readonly values: readonly V[];
}
/** A list of strings, each matching `item`. */
export interface ListLeaf extends LeafBase<'list', readonly string[]> {
  readonly item: RegExp;
  readonly itemDoc: string;
}
/** A map from keys matching `key` to one of `values`; a later layer replaces the whole map. */
export interface MapLeaf<V extends string> extends LeafBase<'map', Readonly<Record<string, V>>> {
  readonly key: RegExp;
  readonly keyDoc: string;
  readonly values: readonly V[];
}
/** One described configuration key. */
export type ConfigLeaf =
  | StringLeaf
  | PathLeaf
  | BooleanLeaf
  | IntegerLeaf
  | EnumLeaf<string | number>
  | ListLeaf
  | MapLeaf<string>;
/** A level of the schema: named keys or nested levels. */
export interface ConfigNode {
  readonly [name: string]: ConfigLeaf | ConfigNode;
}

const str = (def: string, doc: string, pattern?: RegExp, patternDoc?: string): StringLeaf => ({
  kind: 'string',
  default: def,
  doc,
  pattern,
  patternDoc,
});
const file = (def: string, doc: string): PathLeaf => ({ kind: 'path', default: def, doc });
const bool = (def: boolean, doc: string): BooleanLeaf => ({ kind: 'boolean', default: def, doc });
const int = (def: number, min: number, max: number, doc: string): IntegerLeaf => ({
  kind: 'integer',
  default: def,
  min,
  max,
  doc,
});
const oneOf = <const V extends string | number>(
  values: readonly V[],
  def: NoInfer<V>,
  doc: string,
): EnumLeaf<V> => ({ kind: 'enum', values, default: def, doc });

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const COMPRESSED_POLICIES = ['encrypt', 'decode', 'reject'] as const;
/** DICOM keywords (PS3.6) are letters and digits; the protection core decides which it supports. */
const KEYWORD = /^[A-Za-z][A-Za-z0-9]*$/;
/** AE titles per PS3.5 6.2: up to 16 characters of the default repertoire, no backslash. */
const AE_TITLE = /^(?! *$)[\x20-\x5b\x5d-\x7e]{1,16}$/;
/** Bearer token entries: name:role:SHA-256 hex of the token. */
const TOKEN_ENTRY =
  /^[A-Za-z0-9_.-]{1,64}:(modality|workstation|admin):[0-9a-f]{64}(:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
/** C-MOVE destinations: AE@host:port. */
const AE_DESTINATION = /^[\x20-\x5b\x5d-\x7e]{1,16}@[A-Za-z0-9_.:-]+:[0-9]{1,5}$/;
/** UIDs per PS3.5 9.1: digits and dots, no empty component, at most 64 characters. */
const UID = /^(?=.{1,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** Every configuration key Veil reads, with its default and the text of docs/configuration.md. */
export const CONFIG_SCHEMA = {
  dataDir: file('./data', 'Root folder for Veil state (spool, index, filesystem archive).'),
  log: {
    level: oneOf(LOG_LEVELS, 'info', 'Lowest pino level written to the log.'),
  },
  http: {
    host: str('0.0.0.0', 'Interface the DICOMweb / admin HTTP server binds.'),
    port: int(8080, 0, 65535, 'TCP port of the HTTP server (0 picks a free port).'),

    authRequired: bool(
      true,
      'Require a bearer token on every DICOMweb and admin route (health and metrics excepted).',
    ),
    tokens: {
      kind: 'list',
      default: [],
      item: TOKEN_ENTRY,
      itemDoc:
        'name:role:sha256hex[:expiresAt] with role modality, workstation or admin and an ISO 8601 expiry',
      doc: 'Bearer tokens as name:role:SHA-256 of the token (hex), optionally :expiry time; `veil token create` makes one.',
    } satisfies ListLeaf,
    tokensFile: file(
      './data/tokens.json',
      'Hashed tokens generated on first start when http.tokens is empty (printed once).',
    ),
    tls: {
      certFile: str('', 'PEM certificate chain for HTTPS; empty serves plain HTTP.'),
      keyFile: str('', 'PEM private key for HTTPS.'),
    },
    corsOrigins: {
      kind: 'list',
      default: [],
      item: /^(\*|https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?)$/,
      itemDoc: 'an origin (scheme://host[:port]) or *',
      doc: 'Web origins whose pages may call the DICOMweb routes and /wado from a browser (CORS), e.g. a web viewer such as OHIF served elsewhere; empty allows none.',
    } satisfies ListLeaf,
    maxUploadBytes: int(
      4294967295,
      1024,
      1099511627776,
      'Largest STOW-RS request body accepted (bytes).',
    ),
    maxInstanceBytes: int(
      4294967295,
      1024,
      1099511627776,
      'Largest single instance (multipart part) of a STOW-RS request (bytes); a larger part fails alone (413 when nothing else was stored).',
    ),
    maxConcurrentStow: int(
      16,
      1,
      10000,
      'STOW-RS requests read at once; more are answered 503 VEIL_E_BUSY with Retry-After before their body is read.',
    ),
    idleTimeoutSeconds: int(
      60,
      1,
      86400,
      'A STOW-RS request whose body stays silent this long is dropped and its slot freed (slow-loris guard).',
    ),
  },
  dimse: {
    host: str('0.0.0.0', 'Interface the DIMSE listener binds.'),
    port: int(11112, 0, 65535, 'TCP port of the DIMSE listener (0 picks a free port).'),
    aeTitle: str(
      'VEIL',
      'Application Entity title of the DIMSE listener.',
      AE_TITLE,
      '1 to 16 printable characters, not all spaces, no backslash (PS3.5 6.2 AE)',
    ),

    maxAssociations: int(
      16,
      1,
      1000,
      'Concurrent DIMSE associations; more are rejected (A-ASSOCIATE-RJ, transient).',
    ),
    allowedCallingAETitles: {
      kind: 'list',
      default: [],
      item: AE_TITLE,
      itemDoc: 'an AE title',
      doc: 'Calling AE titles allowed to associate; empty allows any.',
    } satisfies ListLeaf,
    allowedHosts: {
      kind: 'list',
      default: [],
      item: /^[0-9a-fA-F:.]+$/,
      itemDoc: 'an IP address',
      doc: 'Peer IP addresses allowed to associate; empty allows any.',
    } satisfies ListLeaf,
    destinations: {
      kind: 'list',
      default: [],
      item: AE_DESTINATION,
      itemDoc: 'AE@host:port',
      doc: 'C-MOVE destinations, and where storage commitment reports go, as AE@host:port.',
    } satisfies ListLeaf,
    timeoutSeconds: int(
      60,
      1,
      3600,
      'DIMSE idle timeout: a silent peer is released after it (slow-loris guard).',
    ),
    storageCommitmentTimeoutSeconds: int(
      3600,
      1,
      604800,
      'How long a storage commitment request waits for its instances to be archived; those still not archived are then reported failed.',
    ),
    tls: {
      certFile: str('', 'PEM certificate for DICOM TLS; empty listens in plain TCP.'),
      keyFile: str('', 'PEM private key for DICOM TLS.'),
    },
  },
  redis: {
    url: str(
      '',
      'Redis for the BullMQ queues, e.g. redis://redis:6379; empty starts an embedded one.',
      /^(rediss?:\/\/\S+)?$/,
      'empty or a redis:// or rediss:// URL',
    ),

    embeddedBinary: str('redis-server', 'redis-server binary started when redis.url is empty.'),
  },
  spool: {
    dir: file(
      './data/spool',
      'Where received instances wait (fsynced) until a worker protected and archived them; shared by gateways and workers.',
    ),
    minFreeBytes: int(
      1073741824,
      0,
      1099511627776,
      'Refuse new instances (0xA700 / HTTP 507) when the spool volume has less free space.',
    ),
  },
  index: {
    file: file(
      './data/index.sqlite',
      'SQLite catalogue of patients, studies, series and instances for C-FIND and QIDO-RS.',
    ),
  },
  archive: {
    kind: oneOf(
      ['filesystem', 'dicomweb', 'dimse'],
      'filesystem',
      'Where protected objects are stored.',
    ),
    filesystem: {
      dir: file('./data/archive', 'Folder of the filesystem archive.'),
    },
    dicomweb: {
      url: str(
        '',
        'DICOMweb root of the archive PACS, e.g. http://orthanc:8042/dicom-web.',
        /^(https?:\/\/\S+)?$/,
        'empty or an http(s) URL',
      ),
      username: str('', 'HTTP basic user for the DICOMweb archive; empty sends no credentials.'),
      passwordFile: str('', 'File holding the HTTP basic password of the DICOMweb archive.'),
    },
    dimse: {
      aeTitle: str(
        'ORTHANC',
        'Called AE title of the archive PACS.',
        AE_TITLE,
        '1 to 16 printable characters, not all spaces, no backslash (PS3.5 6.2 AE)',
      ),
      host: str('127.0.0.1', 'Host of the archive PACS DIMSE port.'),
      port: int(4242, 1, 65535, 'DIMSE port of the archive PACS.'),
      callingAeTitle: str(
        'VEIL',
        'Calling AE title Veil uses towards the archive.',
        AE_TITLE,
        '1 to 16 printable characters, not all spaces, no backslash (PS3.5 6.2 AE)',
      ),
      retrieve: oneOf(
        ['cget'],
        'cget',
        'How objects come back from the archive: C-GET on the same association (no inbound port needed; C-MOVE is not offered).',
      ),
    },
  },
  workers: {
    processes: int(
      1,
      0,
      64,
      'Worker processes `veil serve` starts (0: run `veil worker` separately).',
    ),
    concurrency: int(
      2,
      1,
      64,
      'Jobs one worker process runs at once (each in its own sandboxed child).',
    ),
    prewarm: bool(
      true,
      'Start every sandboxed child at start-up, before the first job: the first study after a start is not slowed by children loading (~1 s of CPU each) beside the listeners. Costs their memory (~150–250 MiB each, 2 x concurrency per worker process) from the start.',
    ),
  },
  jobs: {
    attempts: int(
      8,
      1,
      100,
      'Attempts of a job with transient failures before it is failed; also how often it may stall (its worker process died) and be taken up again.',
    ),
    backoffMs: int(
      1000,
      10,
      3600000,
      'First retry delay; doubles on each attempt (exponential backoff).',
    ),
  },
  audit: {
    file: file(
      './data/audit.jsonl',
      'Audit trail: one JSON line per event (IHE ATNA event types), no patient values.',
    ),
  },
  keys: {
    dir: file('./data/keys', 'Folder of the RSA key store (private keys stay on this host).'),
    bits: oneOf([2048, 3072, 4096], 3072, 'RSA modulus size of newly generated keys.'),
    generateOnFirstStart: bool(
      true,
      'Generate a current key when the key store has none, instead of refusing to start.',
    ),
  },
  protection: {
    headerConfidentiality: bool(
      true,
      'Apply the PS3.15 Basic Application Level Confidentiality Profile and keep the originals in Encrypted Attributes.',
    ),
    pseudonymSecretFile: file(
      './data/keys/pseudonym.secret',
      'File of 32 random bytes keying the pseudonyms; created on first use.',
    ),
    keyTransport: oneOf(
      ['rsa-oaep'],
      'rsa-oaep',
      'Wrap algorithm of the pixel data key (RSA-OAEP with SHA-256; the only choice).',
    ),
    cmsKeyTransport: oneOf(
      ['rsa-pkcs1v15', 'rsa-oaep'],
      'rsa-pkcs1v15',
      'Key transport of the CMS Encrypted Attributes; PKCS#1 v1.5 is what PS3.15 E.1.1 and gdcmanon use.',
    ),
    dataKeyScope: oneOf(
      ['instance', 'series', 'study'],
      'series',
      'How many instances share one wrapped data key: series (default) and study make one RSA operation serve many instances, each still with its own HKDF subkey and salt.',
    ),
    stego: {
      enabled: bool(true, 'Hide the patient details and a pixel digest in the lowest stored bit.'),
      fields: {
        kind: 'list',
        default: [
          'PatientID',
          'PatientName',
          'PatientBirthDate',
          'AccessionNumber',
          'StudyInstanceUID',
          'SOPInstanceUID',
        ],
        item: KEYWORD,
        itemDoc: 'a DICOM keyword',
        doc: 'DICOM keywords whose values are hidden in the pixels.',
      } satisfies ListLeaf,
      whenTooSmall: oneOf(
        ['minimal', 'skip'],
        'minimal',
        'When the image cannot hold the full payload: embed only the digest, or skip stego.',
      ),
    },
    compressed: {
      default: oneOf(
        COMPRESSED_POLICIES,
        'encrypt',
        'Policy for compressed transfer syntaxes: encrypt the frames, decode first, or reject.',
      ),
      byTransferSyntax: {
        kind: 'map',
        default: { '1.2.840.10008.1.2.5': 'decode' },
        key: UID,
        keyDoc: 'a transfer syntax UID',
        values: COMPRESSED_POLICIES,
        doc: 'Per transfer syntax UID overrides of compressed.default (RLE Lossless decodes by default).',
      } satisfies MapLeaf<(typeof COMPRESSED_POLICIES)[number]>,
    },
  },
} as const satisfies ConfigNode;

type ValueOf<L> =
  L extends EnumLeaf<infer V>
    ? V
    : L extends MapLeaf<infer V>
      ? Readonly<Record<string, V>>
      : L extends ListLeaf
        ? readonly string[]
        : L extends LeafBase<string, infer T>
          ? T
          : never;
type ConfigOf<S> = {
  readonly [K in keyof S]: S[K] extends { readonly kind: string; readonly doc: string }
    ? ValueOf<S[K]>
    : ConfigOf<S[K]>;
};

/** The validated, frozen configuration, typed from CONFIG_SCHEMA. */
export type VeilConfig = ConfigOf<typeof CONFIG_SCHEMA>;

/** One key of the schema: dotted path, its environment variable, and its description. */
export interface ConfigKey {
  readonly path: string;
  readonly env: string;
  readonly leaf: ConfigLeaf;
}

/** Environment variables starting with VEIL_ that are not keys. */
const RESERVED_ENV = new Set(['VEIL_CONFIG']);

function isLeaf(node: ConfigLeaf | ConfigNode): node is ConfigLeaf {
  return (
    typeof (node as ConfigLeaf).kind === 'string' && typeof (node as ConfigLeaf).doc === 'string'
  );
}

/** Every leaf key of CONFIG_SCHEMA, in schema order; `env` is VEIL_<PATH> in UPPER_SNAKE with __ between levels. */
export function listConfigKeys(): ConfigKey[] {
  const out: ConfigKey[] = [];
  const walk = (node: ConfigNode, prefix: string[]): void => {
    for (const [name, child] of Object.entries(node)) {
      const parts = [...prefix, name];
      if (isLeaf(child)) out.push({ path: parts.join('.'), env: envNameOf(parts), leaf: child });
      else walk(child, parts);
    }
  };
  walk(CONFIG_SCHEMA, []);
  return out;
}

function envNameOf(parts: string[]): string {
  const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  return `VEIL_${parts.map(snake).join('__')}`;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Layer = { [k: string]: Json };

function invalid(message: string, source: string): VeilError {
  return new VeilError('VEIL_E_CONFIG_INVALID', `${message} (from ${source})`, { source });
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Checks one leaf value, returning it (resolved for paths) or throwing a message naming the key. */
function checkLeaf(leaf: ConfigLeaf, key: string, value: unknown, source: string): unknown {
  const fail = (expected: string) =>
    invalid(`config key ${key} must be ${expected} (got ${show(value)})`, source);
  switch (leaf.kind) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string');
      if (leaf.pattern && !leaf.pattern.test(value)) throw fail(leaf.patternDoc ?? 'a valid value');
      return value;
    case 'path':
      if (typeof value !== 'string' || value === '') throw fail('a non-empty path');
      return path.resolve(value);
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'integer':
      if (
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < leaf.min ||
        value > leaf.max
      ) {
        throw fail(`an integer from ${leaf.min} to ${leaf.max}`);
      }
      return value;
    case 'enum':
      if (!(leaf.values as readonly unknown[]).includes(value)) {
        throw fail(`one of ${leaf.values.join(', ')}`);
      }
      return value;
    case 'list':
      if (
        !Array.isArray(value) ||
        !value.every((v) => typeof v === 'string' && leaf.item.test(v))
      ) {
        throw fail(`an array of strings, each ${leaf.itemDoc}`);
      }
      return [...value];
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw fail(`an object mapping ${leaf.keyDoc} to one of ${leaf.values.join(', ')}`);
      }
      for (const [k, v] of Object.entries(value)) {
        if (!leaf.key.test(k))
          throw invalid(
            `config key ${key} has a key ${show(k)} that is not ${leaf.keyDoc}`,
            source,
          );
        if (!(leaf.values as readonly unknown[]).includes(v)) {
          throw invalid(
            `config key ${key}.${k} must be one of ${leaf.values.join(', ')} (got ${show(v)})`,
            source,
          );
        }
      }
      return { ...value };
    }
  }
}

/** Validates one layer against the schema and merges it into `target` (leaves replace). */
function applyLayer(
  target: Record<string, unknown>,
  node: ConfigNode,
  layer: Layer,
  source: string,
  prefix = '',
): void {
  for (const [name, value] of Object.entries(layer)) {
    const key = prefix + name;
    const child = Object.prototype.hasOwnProperty.call(node, name) ? node[name] : undefined;
    if (child === undefined) throw invalid(`config key ${key} is not a known key`, source);
    if (isLeaf(child)) {
      target[name] = checkLeaf(child, key, value, source);
    } else {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalid(`config key ${key} must be an object of keys (got ${show(value)})`, source);
      }
      applyLayer(target[name] as Record<string, unknown>, child, value, source, `${key}.`);
    }
  }
}

function defaultsOf(node: ConfigNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(node)) {
    if (!isLeaf(child)) out[name] = defaultsOf(child);
    else if (child.kind === 'path') out[name] = path.resolve(child.default);
    else if (child.kind === 'list') out[name] = [...child.default];
    else if (child.kind === 'map') out[name] = { ...child.default };
    else out[name] = child.default;
  }
  return out;
}

function readLayer(file: string, required: boolean): Layer | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalid(
      `config file cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      file,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`config file is not valid JSON: ${(err as Error).message}`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('config file must hold a JSON object', file);
  }
  return parsed as Layer;
}

/** Parses an environment string by the leaf's type: booleans, integers, JSON arrays / objects. */
function parseEnv(leaf: ConfigLeaf, raw: string): Json {
  switch (leaf.kind) {
    case 'boolean':
      if (/^(true|1)$/i.test(raw)) return true;
      if (/^(false|0)$/i.test(raw)) return false;
      return raw;
    case 'integer':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'enum':
      return leaf.values.some((v) => typeof v === 'number') && /^\d+$/.test(raw)
        ? Number(raw)
        : raw;
    case 'list':
      if (raw.trim().startsWith('[')) return parseJson(raw);
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'map':
      return parseJson(raw);
    default:
      return raw;
  }
}

function parseJson(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw; // validation then reports the key and what it expected
  }
}

function envLayer(env: NodeJS.ProcessEnv): Array<{ layer: Layer; source: string }> {
  const byEnv = new Map(listConfigKeys().map((k) => [k.env, k]));
  const out: Array<{ layer: Layer; source: string }> = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('VEIL_') || RESERVED_ENV.has(name) || raw === undefined) continue;
    const key = byEnv.get(name);
    const source = `environment variable ${name}`;
    if (!key) throw invalid(`environment variable ${name} names no config key`, source);
    const layer: Layer = {};
    const parts = key.path.split('.');
    let level = layer;
    for (const part of parts.slice(0, -1)) level = (level[part] = {}) as Layer;
    level[parts[parts.length - 1]] = parseEnv(key.leaf, raw);
    out.push({ layer, source });
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Where loadConfig looks; every field defaults to the running process's. */
export interface LoadConfigOptions {
  /** Environment for NODE_ENV, VEIL_CONFIG and VEIL_* overrides. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder of default.json and <NODE_ENV>.json. Default ./config (working directory). */
  configDir?: string;
  /** Selects config/<nodeEnv>.json. Default env.NODE_ENV, else 'development'. */
  nodeEnv?: string;
}

/**
 * Loads schema defaults ← config/default.json ← config/<NODE_ENV>.json ← $VEIL_CONFIG ← VEIL_*
 * variables, validates every layer (VEIL_E_CONFIG_INVALID names the key) and deep-freezes the result.
 */
export function loadConfig(options: LoadConfigOptions = {}): VeilConfig {
  const env = options.env ?? process.env;
  const configDir = path.resolve(options.configDir ?? 'config');
  const nodeEnv = options.nodeEnv ?? env.NODE_ENV ?? 'development';
  const config = defaultsOf(CONFIG_SCHEMA);
  const layers: Array<{ layer: Layer | undefined; source: string }> = [];
  const defaultFile = path.join(configDir, 'default.json');
  layers.push({ layer: readLayer(defaultFile, false), source: defaultFile });
  if (!/^[A-Za-z0-9_-]+$/.test(nodeEnv))
    throw invalid(`NODE_ENV ${show(nodeEnv)} is not a plain name`, 'NODE_ENV');
  const envFile = path.join(configDir, `${nodeEnv}.json`);
  layers.push({ layer: readLayer(envFile, false), source: envFile });
  if (env.VEIL_CONFIG) {
    const extra = path.resolve(env.VEIL_CONFIG);
    layers.push({ layer: readLayer(extra, true), source: extra });
  }
  layers.push(...envLayer(env));
  for (const { layer, source } of layers) {
    if (layer) applyLayer(config, CONFIG_SCHEMA, layer, source);
  }
  return deepFreeze(config) as unknown as VeilConfig;
}

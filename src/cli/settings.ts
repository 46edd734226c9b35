/** Loads the configuration for a CLI run, applying --config and --data-dir. */
import path from 'node:path';
import type { Command } from 'commander';
import { type VeilConfig, loadConfig } from '../config';

/** The package's own config folder, whatever the working directory. */
export const CONFIG_DIR = path.resolve(__dirname, '..', '..', 'config');

/** Configuration for this command, from the global options of the root program. */
export function settingsOf(command: Command): VeilConfig {
  const root = rootOf(command);
  const opts = root.opts<{ config?: string; dataDir?: string }>();
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.config) env.VEIL_CONFIG = path.resolve(opts.config);
  if (opts.dataDir) {
    const dir = path.resolve(opts.dataDir);
    env.VEIL_DATA_DIR = dir;
    env.VEIL_KEYS__DIR = path.join(dir, 'keys');
    env.VEIL_PROTECTION__PSEUDONYM_SECRET_FILE = path.join(dir, 'keys', 'pseudonym.secret');
  }
  return loadConfig({ env, configDir: CONFIG_DIR });
}

function rootOf(command: Command): Command {
  let c = command;
  while (c.parent) c = c.parent;
  return c;
}

/** Records the exit code on the root program (commander actions cannot return one). */
export function setExitCode(command: Command, code: number): void {
  (rootOf(command) as Command & { veilExitCode?: number }).veilExitCode = code;
}

/** A one-line progress bar on stderr for folder runs; silent when stderr is not a terminal. */
export class ProgressBar {
  private done = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true && total > 1;
    this.stream = stream;
  }

  private readonly stream: NodeJS.WriteStream;

  /** Advances by one and redraws. */
  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    this.stream.write(`\r${this.label} [${bar}] ${this.done}/${this.total}`);
    if (this.done === this.total) this.stream.write('\n');
  }

  /** Prints a line above the bar (failures), keeping the bar intact. */
  note(line: string): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
    this.stream.write(`${line}\n`);
  }
}

/**
 * A one-line progress display rewritten in place on a terminal; silent otherwise (the caller logs plain
 * lines instead). The trainer shows its steps on stdout, the avatars generator its images on stderr.
 */
export class Progress {
  private shown = false;
  private lastShown = -Infinity;

  constructor(
    readonly tty: boolean,
    private readonly stream: NodeJS.WritableStream = process.stdout,
    /** Lines asked for sooner than this after the last one shown are dropped (a fast loop would flood the terminal). */
    private readonly minIntervalMs = 0,
  ) {}

  /** Replaces the line; `final` shows it even inside the interval. */
  show(line: string, final = false): void {
    if (!this.tty) return;
    const now = performance.now();
    if (!final && now - this.lastShown < this.minIntervalMs) return;
    this.lastShown = now;
    this.stream.write(`\r${line}`);
    this.shown = true;
  }

  /** Ends the line, if one is shown, so that what is written next starts on a line of its own. */
  clear(): void {
    if (this.shown) this.stream.write('\n');
    this.shown = false;
  }
}

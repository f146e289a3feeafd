/** A one-line progress bar on a terminal; silent otherwise (the caller logs plain lines). */
export class Progress {
  private shown = false;
  constructor(readonly tty: boolean) {}

  update(s: { step: number; epoch: number; bpd: number; imagesPerSecond: number; etaSeconds: number }): void {
    if (!this.tty) return;
    const eta = Number.isFinite(s.etaSeconds) ? formatSeconds(s.etaSeconds) : '?';
    process.stdout.write(`\rstep ${s.step}  epoch ${s.epoch.toFixed(2)}  bpd ${s.bpd.toFixed(3)}  ${s.imagesPerSecond.toFixed(1)} img/s  ETA ${eta}   `);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) process.stdout.write('\n');
    this.shown = false;
  }
}

function formatSeconds(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}
